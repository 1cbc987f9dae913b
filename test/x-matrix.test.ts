import t from 'tap';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import {
  buildXMatrixHeader,
  parseXMatrixHeader,
  requestSigningObject,
  requestSignedBytes,
  signedBytes,
  verifyJsonSignature,
  XMatrixParseError,
} from '../src/matrix/signing.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { pyVerify } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';

const key = generateSigningKey('k1');

t.test('build then parse; the signature verifies over the request object', async (t) => {
  const req = { method: 'GET', uri: '/_matrix/federation/v1/query/profile?user_id=%40a%3Ab', origin: 'a.test', destination: 'b.test:8448' };
  const header = buildXMatrixHeader(req, key);
  t.match(header, /^X-Matrix origin="a\.test",destination="b\.test:8448",key="ed25519:k1",sig="[A-Za-z0-9+/]{86}"$/);
  const parsed = parseXMatrixHeader(header)!;
  t.same({ ...parsed, sig: undefined }, { origin: 'a.test', destination: 'b.test:8448', key: 'ed25519:k1', sig: undefined });
  const obj = { ...requestSigningObject(req), signatures: { [parsed.origin]: { [parsed.key]: parsed.sig } } };
  t.same(verifyJsonSignature(obj, 'a.test', 'ed25519:k1', key.publicKey), { ok: true });
  const withBody = { ...req, method: 'PUT', content: { x: [1, 'é'] } };
  const p2 = parseXMatrixHeader(buildXMatrixHeader(withBody, key))!;
  const obj2 = { ...requestSigningObject(withBody), signatures: { 'a.test': { 'ed25519:k1': p2.sig } } };
  t.same(verifyJsonSignature(obj2, 'a.test', 'ed25519:k1', key.publicKey), { ok: true });
  t.notOk('content' in requestSigningObject(req), 'no content key for bodiless requests');
  if (requireTool(t, 'python-oracle')) {
    t.same(pyVerify([obj, obj2], { keyId: 'ed25519:k1', publicKey: key.publicKeyBase64, serverName: 'a.test' }), [true, true], 'python3-signedjson agrees');
  }
});

t.test('the parser takes what servers send in the wild', async (t) => {
  const cases: Array<[string, object | null]> = [
    ['X-Matrix origin="o",destination="d",key="ed25519:1",sig="s"', { origin: 'o', destination: 'd', key: 'ed25519:1', sig: 's' }],
    ['x-matrix ORIGIN="o", Key="ed25519:1" ,  SIG="s"', { origin: 'o', key: 'ed25519:1', sig: 's' }],
    ['X-Matrix origin=o.test:8448,key="ed25519:1",sig=abc+/d', { origin: 'o.test:8448', key: 'ed25519:1', sig: 'abc+/d' }],
    ['X-Matrix origin = "[::1]:8448" , key = "ed25519:1", sig = "s", extra="ignored", other=tok', { origin: '[::1]:8448', key: 'ed25519:1', sig: 's' }],
    ['X-Matrix origin="a\\"b\\\\c",key="k",sig="s"', { origin: 'a"b\\c', key: 'k', sig: 's' }],
    ['X-Matrix origin="a,b",key="k",sig="s",', { origin: 'a,b', key: 'k', sig: 's' }],
    ['Bearer abc', null],
    ['X-Matrixfoo origin="o"', null],
    ['', null],
  ];
  for (const [header, expected] of cases) t.same(parseXMatrixHeader(header), expected, header);
});

t.test('malformed headers are refused with the reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['X-Matrix', /missing origin/],
    ['X-Matrix origin="o",sig="s"', /missing key/],
    ['X-Matrix origin="o",key="k"', /missing sig/],
    ['X-Matrix origin="o', /unterminated quoted value for origin/],
    ['X-Matrix origin="o\\', /unterminated/],
    ['X-Matrix origin=', /missing value for origin/],
    ['X-Matrix origin="o" key="k"', /expected "," after origin/],
    ['X-Matrix ="o"', /malformed parameter/],
    ['X-Matrix origin="o",origin="p",key="k",sig="s"', /origin given twice/],
  ];
  for (const [header, reason] of cases) {
    t.throws(() => parseXMatrixHeader(header), XMatrixParseError);
    t.throws(() => parseXMatrixHeader(header), reason, header);
  }
});

t.test('fuzz: the parser never throws anything but XMatrixParseError, and round-trips any values', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('X-Matrix ', 'x-matrix ').chain((p) => fc.string().map((s) => p + s))), (s) => {
      runs++;
      try {
        const r = parseXMatrixHeader(s);
        return r === null || (typeof r.origin === 'string' && r.origin.length > 0);
      } catch (e) {
        return e instanceof XMatrixParseError;
      }
    }),
    { numRuns: 5000 },
  );
  fc.assert(
    fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (origin, destination, uri) => {
      runs++;
      const h = buildXMatrixHeader({ method: 'GET', uri, origin, destination }, key);
      const p = parseXMatrixHeader(h);
      return p !== null && p.origin === origin && p.destination === destination && p.key === 'ed25519:k1';
    }),
    { numRuns: 2000 },
  );
  t.equal(runs, 7000);
});

// The parser before it was rewritten to walk the header by index (kept as
// the oracle): both must agree on every input, results and error messages.
function referenceParse(header: string): object | null {
  const m = /^\s*([A-Za-z0-9!#$%&'*+\-.^_`|~]+)(?:\s+|$)/.exec(header);
  if (!m || m[1]!.toLowerCase() !== 'x-matrix') return null;
  let rest = header.slice(m[0].length);
  const params = new Map<string, string>();
  while (true) {
    rest = rest.replace(/^[\s,]+/, '');
    if (rest === '') break;
    const name = /^([A-Za-z0-9!#$%&'*+\-.^_`|~]+)\s*=\s*/.exec(rest);
    if (!name) throw new XMatrixParseError(`malformed parameter near ${JSON.stringify(rest.slice(0, 20))}`);
    rest = rest.slice(name[0].length);
    let value: string;
    if (rest.startsWith('"')) {
      let i = 1;
      value = '';
      for (; i < rest.length; i++) {
        const c = rest[i]!;
        if (c === '\\') {
          if (i + 1 >= rest.length) {
            i = rest.length;
            break;
          }
          value += rest[++i];
        } else if (c === '"') break;
        else value += c;
      }
      if (i >= rest.length) throw new XMatrixParseError(`unterminated quoted value for ${name[1]}`);
      rest = rest.slice(i + 1);
    } else {
      const tok = /^[!#$%&'*+\-.^_`|~0-9A-Za-z:/[\]@]+/.exec(rest);
      if (!tok) throw new XMatrixParseError(`missing value for ${name[1]}`);
      value = tok[0];
      rest = rest.slice(value.length);
    }
    const key = name[1]!.toLowerCase();
    if (params.has(key)) throw new XMatrixParseError(`parameter ${key} given twice`);
    params.set(key, value);
    rest = rest.replace(/^\s*/, '');
    if (rest !== '' && !rest.startsWith(',')) throw new XMatrixParseError(`expected "," after ${key}`);
  }
  const origin = params.get('origin');
  const key = params.get('key');
  const sig = params.get('sig');
  if (!origin) throw new XMatrixParseError('missing origin');
  if (!key) throw new XMatrixParseError('missing key');
  if (!sig) throw new XMatrixParseError('missing sig');
  const destination = params.get('destination');
  return destination === undefined ? { origin, key, sig } : { origin, destination, key, sig };
}

t.test('differential: the parser agrees with the reference on any header, errors included', async (t) => {
  const outcome = (f: () => object | null) => {
    try {
      return { ok: f() };
    } catch (e) {
      return { error: (e as Error).message, type: (e as Error).name };
    }
  };
  // Headers built from the pieces that matter: schemes, names, separators, quotes, escapes, odd whitespace.
  const piece = fc.constantFrom('X-Matrix', 'x-matrix', 'X-MATRIX', 'Bearer', ' ', '\t', '\u00a0', '\u2028', '\ufeff', ',', '=', '"', '\\', 'origin', 'ORIGIN', 'destination', 'key', 'sig', 'Key', 'extra', 'a.test:8448', '[::1]', 'ed25519:k', 'abc+/=', '@', 'é', '\ud83d', '\n');
  let runs = 0;
  fc.assert(
    fc.property(fc.oneof(fc.array(piece, { maxLength: 30 }).map((a) => a.join('')), fc.string({ unit: 'binary' }), fc.array(piece, { maxLength: 30 }).map((a) => `X-Matrix ${a.join('')}`)), (h) => {
      runs++;
      return isDeepStrictEqual(outcome(() => parseXMatrixHeader(h)), outcome(() => referenceParse(h)));
    }),
    { numRuns: 10_000 },
  );
  const real = buildXMatrixHeader({ method: 'GET', uri: '/x', origin: 'o.test', destination: 'd.test' }, key);
  for (const h of [real, real.replace('X-Matrix ', 'X-Matrix\t'), `${real},`, real.replace(',', ' , '), 'X-Matrix origin="a\\"b",key=k,sig=s', 'X-Matrix origin="a\\', 'X-Matrix   ']) {
    t.same(outcome(() => parseXMatrixHeader(h)), outcome(() => referenceParse(h)), h);
  }
  t.equal(runs, 10_000);
});

t.test('the request signing bytes written directly equal the canonical JSON of the signing object', async (t) => {
  const outcome = (f: () => Buffer) => {
    try {
      return { ok: f().toString('hex') };
    } catch (e) {
      return { error: (e as Error).message };
    }
  };
  let runs = 0;
  const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('\ud800', 'a"b\\c', '\u2028', 'é'));
  fc.assert(
    fc.property(text, text, text, text, fc.option(fc.jsonValue(), { nil: undefined }), (method, uri, origin, destination, content) => {
      runs++;
      const req = { method, uri, origin, destination, ...(content === undefined ? {} : { content }) };
      return isDeepStrictEqual(outcome(() => requestSignedBytes(req)), outcome(() => signedBytes(requestSigningObject(req))));
    }),
    { numRuns: 3000 },
  );
  t.equal(runs, 3000);
  t.throws(() => requestSignedBytes({ method: 'GET', uri: '/\ud800', origin: 'o', destination: 'd' }), /lone surrogate|cannot encode|surrogate/i);
});

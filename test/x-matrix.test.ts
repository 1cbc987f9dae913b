import t from 'tap';
import fc from 'fast-check';
import {
  buildXMatrixHeader,
  parseXMatrixHeader,
  requestSigningObject,
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

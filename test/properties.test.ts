// Property tests (fast-check): thousands of generated cases per run, no crash,
// no uncaught exception, and the stated laws hold.
import t from 'tap';
import fc from 'fast-check';
import { canonicalJson, CanonicalJsonError } from '../src/matrix/canonical-json.js';
import { parseServerName, formatServerName, ServerNameError } from '../src/matrix/server-name.js';
import { pyCanonical } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';

const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
const params = (numRuns: number) => ({ numRuns, seed });
t.comment(`fast-check seed ${seed} (FEDPEER_SEED replays)`);

// JSON values with canonical forms: integers in range, any strings (well-formed UTF-16).
const jsonKey = fc.oneof(fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.nat(1000).map(String));
const canonicalValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.maxSafeInteger(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(jsonKey, tie('value'), { maxKeys: 6 }),
  ),
})).value;

function shuffleKeys(v: unknown, rand: () => number): unknown {
  if (Array.isArray(v)) return v.map((x) => shuffleKeys(x, rand));
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).sort(() => rand() - 0.5);
    const out: Record<string, unknown> = {};
    for (const [k, x] of entries) out[k] = shuffleKeys(x, rand);
    return out;
  }
  return v;
}

t.test('canonical JSON: parses back to the same value, is stable under key order, and is a fixed point', async (t) => {
  fc.assert(
    fc.property(canonicalValue, fc.integer(), (v, s) => {
      const text = canonicalJson(v);
      const back = JSON.parse(text);
      let x = s;
      const rand = () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
      return canonicalJson(back) === text && canonicalJson(shuffleKeys(v, rand)) === text && !/\n| /.test(text.replace(/"(?:[^"\\]|\\.)*"/g, ''));
    }),
    params(3000),
  );
  t.pass('3000 cases');
});

t.test('canonical JSON: anything else is refused with CanonicalJsonError, never another exception', async (t) => {
  fc.assert(
    fc.property(fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true }), (v) => {
      try {
        canonicalJson(v);
        return true;
      } catch (e) {
        return e instanceof CanonicalJsonError;
      }
    }),
    params(3000),
  );
  fc.assert(fc.property(fc.double({ noInteger: true }), (d) => {
    try {
      canonicalJson({ d });
      return false;
    } catch (e) {
      return e instanceof CanonicalJsonError;
    }
  }), params(1000));
  t.pass('4000 cases');
});

t.test('canonical JSON: byte-identical to python3-canonicaljson on 2,000 generated values', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const values = fc.sample(fc.dictionary(jsonKey, canonicalValue, { maxKeys: 8 }), { numRuns: 2000, seed });
  const expected = pyCanonical(values);
  const bad = values.filter((v, i) => !Buffer.from(canonicalJson(v), 'utf8').equals(expected[i]!));
  t.same(bad.slice(0, 3), [], `${values.length} values identical`);
});

t.test('server names: parse never throws anything but ServerNameError, and valid names round-trip', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.domain(), fc.ipV4(), fc.ipV6().map((a) => `[${a}]`)), fc.option(fc.integer({ min: -5, max: 70000 })), (host, port) => {
      const name = port === null ? host : `${host}:${port}`;
      try {
        const parsed = parseServerName(name);
        return formatServerName(parsed) === name && (parsed.port === undefined || (parsed.port >= 1 && parsed.port <= 65535));
      } catch (e) {
        return e instanceof ServerNameError;
      }
    }),
    params(5000),
  );
  fc.assert(
    fc.property(fc.domain(), fc.integer({ min: 1, max: 65535 }), (d, p) => parseServerName(`${d}:${p}`).port === p),
    params(2000),
  );
  t.pass('7000 cases');
});

t.test('well-known body parser: any bytes give a verdict, never an exception; valid bodies give their m.server', async (t) => {
  const { parseWellKnownBody } = await import('../src/federation/well-known.js');
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)), fc.json().map((j) => Buffer.from(j)), fc.anything().map((v) => Buffer.from(JSON.stringify({ 'm.server': v }) ?? ''))), (body) => {
      const r = parseWellKnownBody(body);
      return r.ok ? typeof r.server === 'string' && r.server.length > 0 : r.check === 'json' || r.check === 'm.server';
    }),
    params(5000),
  );
  fc.assert(
    fc.property(fc.domain(), fc.option(fc.integer({ min: 1, max: 65535 })), fc.dictionary(fc.string(), fc.jsonValue(), { maxKeys: 3 }), (d, p, extra) => {
      const server = p === null ? d : `${d}:${p}`;
      const r = parseWellKnownBody(Buffer.from(JSON.stringify({ ...extra, 'm.server': server })));
      return r.ok && r.server === server;
    }),
    params(2000),
  );
  t.pass('7000 cases');
});

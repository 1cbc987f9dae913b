import t from 'tap';
import { vectors, sharedVectorsText, vectorsText } from './harness/vectors.js';
import { canonicalJson, canonicalJsonBytes, compareCodePoints, CanonicalJsonError } from '../src/matrix/canonical-json.js';
import { pyCanonical } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';
import { prng, randomJson } from './harness/random-json.js';
import stringify from 'canonical-json';


t.test('the vectors copy matches ../shared/vectors when it is there', async (t) => {
  if (sharedVectorsText === undefined) t.comment('no ../shared/vectors beside this clone; using test/fixtures/spec-vectors.json');
  else t.equal(vectorsText, sharedVectorsText);
});

t.test('spec canonical JSON examples reproduce byte for byte', async (t) => {
  t.ok(vectors.canonical.length >= 10);
  for (const v of vectors.canonical) {
    t.equal(canonicalJson(JSON.parse(v.input_json_text)), v.expected_canonical_text, v.input_json_text.slice(0, 60));
  }
});

t.test('derived canonical vectors (code point order, integer-like keys, escapes)', async (t) => {
  for (const v of vectors.derived_canonical) {
    t.equal(canonicalJson(JSON.parse(v.input_json_text)), v.expected_canonical_text, v.name);
  }
});

t.test('integer-like keys sort as strings, where canonical-json default export does not', async (t) => {
  const value = { '10': 1, '9': 2, b: 3, '1': 4 };
  t.equal(canonicalJson(value), '{"1":4,"10":1,"9":2,"b":3}');
  // The reason the default export is not used (see src/matrix/canonical-json.ts).
  t.equal(stringify(value), '{"1":4,"9":2,"10":1,"b":3}');
});

t.test('keys order by code point, not UTF-16 unit', async (t) => {
  const astral = '\u{1F600}';
  const privateUse = '\uE000';
  t.equal(canonicalJson({ [astral]: 1, [privateUse]: 2 }), `{"${privateUse}":2,"${astral}":1}`);
  t.ok(compareCodePoints(privateUse, astral) < 0);
  t.ok(compareCodePoints('a', 'ab') < 0);
  t.ok(compareCodePoints('b', 'a') > 0);
  t.equal(compareCodePoints('x', 'x'), 0);
  t.ok(compareCodePoints('\ud800\udc00', '\ud800\udc01') < 0);
});

t.test('escapes and UTF-8', async (t) => {
  t.equal(canonicalJson({ a: '\u0000\u0001\b\t\n\f\r\u001f"\\/' }), '{"a":"\\u0000\\u0001\\b\\t\\n\\f\\r\\u001f\\"\\\\/"}');
  t.equal(canonicalJson(['\u007f\u2028é日本\u{1F600}']), '["\u007f\u2028é日本\u{1F600}"]');
  t.same(canonicalJsonBytes('é'), Buffer.from([0x22, 0xc3, 0xa9, 0x22]));
  t.equal(canonicalJson({ b: [1, { d: null, c: true }], a: false }), '{"a":false,"b":[1,{"c":true,"d":null}]}');
  t.equal(canonicalJson(-0), '0');
});

t.test('values without a canonical form are rejected with a clear error', async (t) => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const cases: Array<[unknown, RegExp]> = [
    [{ a: 1.5 }, /not an integer: 1.5 at \.a/],
    [{ a: NaN }, /not an integer: NaN/],
    [[Infinity], /not an integer: Infinity at \[0\]/],
    [{ a: 2 ** 53 }, /out of range/],
    [{ a: -(2 ** 53) }, /out of range/],
    [{ a: 10n }, /cannot encode bigint/],
    [{ a: undefined }, /cannot encode undefined/],
    [{ a: () => 1 }, /cannot encode function/],
    [{ a: Symbol('x') }, /cannot encode symbol/],
    [cyclic, /cyclic structure at \.self/],
    [{ a: new Date(0) }, /not a plain object: Date/],
    [{ a: '\ud800' }, /lone surrogate/],
    [{ ['\udc00']: 1 }, /key contains a lone surrogate/],
    // eslint-disable-next-line no-sparse-arrays
    [[1, , 3], /sparse array at \[1\]/],
  ];
  for (const [value, message] of cases) {
    t.throws(() => canonicalJson(value), CanonicalJsonError);
    t.throws(() => canonicalJson(value), message);
  }
  // A shared (not cyclic) sub-object is fine.
  const shared = { x: 1 };
  t.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
  t.equal(canonicalJson(Object.assign(Object.create(null), { z: 1 })), '{"z":1}');
});

t.test('differential: 2,000+ generated objects byte-identical to python3-canonicaljson', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
  t.comment(`seed ${seed} (set FEDPEER_SEED to replay)`);
  const gen = randomJson(prng(seed));
  const values = Array.from({ length: 2500 }, () => gen.top());
  const expected = pyCanonical(values);
  let mismatches = 0;
  values.forEach((v, i) => {
    const ours = canonicalJsonBytes(v);
    if (!ours.equals(expected[i]!)) {
      mismatches++;
      if (mismatches <= 3) t.fail(`mismatch for ${JSON.stringify(v)}\n ours:   ${ours}\n python: ${expected[i]}`);
    }
  });
  t.equal(mismatches, 0, `${values.length} objects identical`);
  t.ok(values.some((v) => Object.keys(v).some((k) => /^\d+$/.test(k))), 'generator made integer-like keys');
});

t.test('the one-pass serialiser writes what the reference walk writes', async (t) => {
  const { canonicalJsonByWalk, canonicalJsonBytesWithout } = await import('../src/matrix/canonical-json.js');
  const gen = randomJson(prng(Number(process.env.FEDPEER_SEED ?? 23)));
  let differ = 0;
  for (let i = 0; i < 3000; i++) {
    const v = gen.top();
    if (canonicalJson(v) !== canonicalJsonByWalk(v)) differ++;
  }
  t.equal(differ, 0, '3,000 generated values, byte for byte');
  const signed = { b: 1, signatures: { x: 1 }, unsigned: { f: 1.5 }, a: [2] };
  t.equal(canonicalJsonBytesWithout(signed, new Set(['signatures', 'unsigned'])).toString(), '{"a":[2],"b":1}', 'omitted keys are not written (nor checked)');
  t.throws(() => canonicalJsonBytesWithout({ a: 1.5, unsigned: { f: NaN } }, new Set(['unsigned'])), /not an integer: 1.5 at \.a/, 'errors name the signed part');
  t.throws(() => canonicalJson({ ['\ud800']: 1 }), /lone surrogate/);
  t.throws(() => canonicalJson([1, , 3]), /sparse array/); // eslint-disable-line no-sparse-arrays
  t.throws(() => canonicalJson(new Date(0)), /not a plain object/);
  t.throws(() => canonicalJson({ a: undefined }), /cannot encode undefined/);
});

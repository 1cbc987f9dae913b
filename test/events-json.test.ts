// Event JSON per room version: the lenient numbers of room versions 1 to 5
// as python3-canonicaljson writes them, parseEventJson against JSON.parse,
// and the strict rules (v6+) matching canonicalJson.
import t from 'tap';
import fc from 'fast-check';
import { canonicalJson, CanonicalJsonError } from '../src/matrix/canonical-json.js';
import {
  eventCanonicalJson,
  EventJsonSyntaxError,
  JsonNumberLiteral,
  jsonNumberValue,
  MAX_NESTING,
  parseEventJson,
  pythonFloatRepr,
} from '../src/matrix/events/index.js';
import { pyCanonicalOfText } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';
import { prng, randomJson } from './harness/random-json.js';

const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
const params = (numRuns: number) => ({ numRuns, seed });
t.comment(`seed ${seed} (FEDPEER_SEED replays)`);

t.test('pythonFloatRepr: Python repr of doubles, by example', async (t) => {
  const cases: Array<[number, string]> = [
    [1, '1.0'], [-0, '-0.0'], [0, '0.0'], [0.1, '0.1'], [1e16, '1e+16'], [1e15, '1000000000000000.0'], [9999999999999998, '9999999999999998.0'],
    [1e-4, '0.0001'], [1e-5, '1e-05'], [1.5e-7, '1.5e-07'], [123.456, '123.456'], [-2.5e300, '-2.5e+300'], [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'], [1e22, '1e+22'], [123456789012345680000, '1.2345678901234568e+20'],
  ];
  for (const [x, repr] of cases) t.equal(pythonFloatRepr(x), repr, repr);
  t.throws(() => pythonFloatRepr(Infinity), CanonicalJsonError);
  t.throws(() => pythonFloatRepr(NaN), /out of range float/);
});

/** A double's JSON text that Python reads as a float (a fraction or exponent is added to integral values). */
const floatText = (x: number) => (Object.is(x, -0) ? '-0.0' : /[.e]/.test(String(x)) ? String(x) : `${x}.0`);

t.test('pythonFloatRepr against python3-canonicaljson on 3000 random doubles', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const rand = prng(seed);
  const buf = new DataView(new ArrayBuffer(8));
  const doubles: number[] = [];
  while (doubles.length < 3000) {
    // Random bit patterns cover every exponent; also plain decimals and integral values.
    buf.setUint32(0, Math.floor(rand() * 2 ** 32));
    buf.setUint32(4, Math.floor(rand() * 2 ** 32));
    const bits = buf.getFloat64(0);
    const choice = doubles.length % 3;
    const x = choice === 0 ? bits : choice === 1 ? Math.round((rand() - 0.5) * 10 ** Math.floor(rand() * 25)) : (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
    if (Number.isFinite(x)) doubles.push(x);
  }
  const py = pyCanonicalOfText(doubles.map(floatText));
  const wrong = doubles.filter((x, i) => pythonFloatRepr(x) !== py[i]);
  t.same(wrong.slice(0, 5).map((x) => [x, pythonFloatRepr(x), py[doubles.indexOf(x)]]), [], `${doubles.length - wrong.length}/${doubles.length} identical`);
});

t.test('parseEventJson keeps what JS numbers cannot carry, and nothing else', async (t) => {
  const v = parseEventJson('{"a":1.0,"b":12345678901234567890,"c":-0.0,"d":0.5,"e":2e3,"f":9007199254740991,"g":-9007199254740993,"h":1e400,"i":"1.0"}') as Record<string, unknown>;
  t.ok(v.a instanceof JsonNumberLiteral && v.a.isFloat && v.a.value === 1, '1.0 is a float literal');
  t.ok(v.b instanceof JsonNumberLiteral && !v.b.isFloat, 'a big integer is an integer literal');
  t.ok(v.c instanceof JsonNumberLiteral && Object.is(v.c.value, -0));
  t.equal(v.d, 0.5, 'a non-integral float is a plain number');
  t.ok(v.e instanceof JsonNumberLiteral);
  t.equal(v.f, Number.MAX_SAFE_INTEGER);
  t.ok(v.g instanceof JsonNumberLiteral);
  t.ok(v.h instanceof JsonNumberLiteral && v.h.value === Infinity);
  t.equal(v.i, '1.0', 'strings stay strings');
  t.equal(jsonNumberValue(v.a), 1);
  t.equal(jsonNumberValue(v.d), 0.5);
  t.equal(jsonNumberValue('1'), undefined);
  t.ok(Object.isFrozen(v.a), 'literals are immutable');
  t.equal(eventCanonicalJson({ ...v, h: 0 }, false), '{"a":1.0,"b":12345678901234567890,"c":-0.0,"d":0.5,"e":2000.0,"f":9007199254740991,"g":-9007199254740993,"h":0,"i":"1.0"}');
  t.throws(() => eventCanonicalJson(v, false), /out of range float: Infinity at h/, 'Python refuses to encode infinity');
  t.throws(() => eventCanonicalJson({ a: v.a }, true), /not an integer: 1\.0 at a/);
  t.throws(() => eventCanonicalJson({ b: [v.b] }, true), /integer out of range \[-\(2\^53\)\+1, 2\^53-1\]: 12345678901234567890 at b\[0\]/);
  const proto = parseEventJson('{"__proto__":{"x":1.0},"y":[]}') as Record<string, unknown>;
  t.equal(Object.getPrototypeOf(proto), Object.prototype, '__proto__ is a key, as JSON.parse makes it');
  t.same(Object.keys(proto), ['__proto__', 'y']);
  t.equal(eventCanonicalJson(proto, false), '{"__proto__":{"x":1.0},"y":[]}');
});

const plain = (_k: string, x: unknown) => (x instanceof JsonNumberLiteral ? x.value : x);

t.test('parseEventJson agrees with JSON.parse on what is JSON, value for value', async (t) => {
  const texts = ['{"a":[1,2,{"b":null}],"c":true,"d":false}', ' [ 1.5 , "x\\u00e9\\n" , -2e-3 ] ', '"\\ud83d\\ude00 1.0"', '0', '[]', '{}', '[1.25e2]', '{"k":"\\"\\\\\\/\\b\\f\\n\\r\\t"}'];
  for (const text of texts) {
    const expected = JSON.parse(text);
    const got = parseEventJson(text);
    t.same(JSON.parse(JSON.stringify(got, plain)), expected, text);
  }
  const bad = ['', '{', '[1,]', '{"a" 1}', '{"a":1,}', '01.0', '1.', '.5', '"\\x"', '"a\u0001"', '[1.0 2]', 'nul', '{1.0:2}', '"abc', '[1.0] x', '\ufeff1.0', 'NaN', '-', '{"a":1.0', '[1.0'];
  for (const text of bad) {
    // Each bad text alone (JSON.parse's path) and after a float (the literal-keeping parser's path).
    for (const variant of [text, `[1.0,${text}]`]) {
      t.throws(() => JSON.parse(variant), SyntaxError, `JSON.parse refuses ${JSON.stringify(variant)}`);
      t.throws(() => parseEventJson(variant), SyntaxError, `so does parseEventJson: ${JSON.stringify(variant)}`);
    }
  }
  t.throws(() => parseEventJson('[1.0,' + '['.repeat(3000)), EventJsonSyntaxError);
  t.match(String((() => { try { parseEventJson('{"a":1.0,"b":x}'); } catch (e) { return e; } })()), /unexpected character "x" at position 13/);
  fc.assert(
    fc.property(fc.jsonValue(), fc.boolean(), (value, spaced) => {
      const text = JSON.stringify(value, null, spaced ? 1 : undefined) ?? 'null';
      const withFloat = `[1.0,${text}]`; // forces the literal-keeping parser
      const got = parseEventJson(withFloat) as unknown[];
      return JSON.stringify(got[1], plain) === JSON.stringify(JSON.parse(text));
    }),
    params(500),
  );
});

t.test('the fast path (JSON.parse) is taken only when no number outside strings could change', async (t) => {
  const marked = (_k: string, x: unknown) => (x instanceof JsonNumberLiteral ? { literal: x.source } : x);
  const viaSlowParser = (text: string) => (parseEventJson(`[1.0,${text}]`) as unknown[])[1];
  // Strings full of what looks like numbers, escaped quotes and backslashes before the closing quote.
  const tricky = ['"1.0"', '"a\\"1.0"', '"\\\\"', '"x\\\\\\"2e5\\\\"', '"$Ab3E9.x"', '"12345678901234567890"'];
  for (const str of tricky) {
    for (const text of [`{"k":${str},"n":1}`, `{"k":${str},"n":1.0}`, `[${str},12345678901234567890]`, `[${str}]`]) {
      t.equal(JSON.stringify(parseEventJson(text), marked), JSON.stringify(viaSlowParser(text), marked), text);
    }
  }
  const numberText = fc.oneof(fc.constantFrom('1.0', '-0.0', '1e5', '2E-3', '0.5', '9007199254740993', '123456789012345678', '7', '-12'), fc.integer().map(String));
  const stringy = fc.string({ unit: fc.constantFrom('1', '.', 'e', 'E', '"', '\\', 'a', '0') });
  fc.assert(
    fc.property(fc.array(fc.tuple(stringy, numberText), { maxLength: 6 }), (pairs) => {
      const text = `{${pairs.map(([k, n], i) => `${JSON.stringify(k + i)}:[${n},${JSON.stringify(k)}]`).join(',')}}`;
      return JSON.stringify(parseEventJson(text), marked) === JSON.stringify(viaSlowParser(text), marked);
    }),
    params(1000),
  );
});

t.test('lenient canonical JSON of random texts with floats and big integers equals python3-canonicaljson', async (t) => {
  if (!requireTool(t, 'python-oracle')) return;
  const rand = prng(seed + 1);
  const gen = randomJson(rand);
  const numbers = ['1.0', '-0.0', '1e16', '123456789012345678901234567890', '0.1', '2.5E-8', '-9007199254740993', '7', '1e-400'];
  const texts = Array.from({ length: 400 }, () => {
    let i = 0;
    const value = gen.top();
    return JSON.stringify(value, (_k, x) => (typeof x === 'number' && i++ % 2 === 0 ? `\u0000${numbers[Math.floor(rand() * numbers.length)]}\u0000` : x)).replace(
      /"\\u0000([^"\\]+)\\u0000"/g,
      (_m, n: string) => n,
    );
  });
  const py = pyCanonicalOfText(texts);
  let same = 0;
  texts.forEach((text, i) => {
    const ours = eventCanonicalJson(parseEventJson(text), false);
    if (ours === py[i]) same++;
    else t.fail(`${text.slice(0, 200)}: ours ${ours.slice(0, 200)} python ${py[i]!.slice(0, 200)}`);
  });
  t.equal(same, texts.length, `${same} texts identical`);
});

t.test('strict rules: the same bytes as canonicalJson, and what they refuse', async (t) => {
  const rand = prng(seed + 2);
  const gen = randomJson(rand);
  for (let i = 0; i < 300; i++) {
    const v = gen.top();
    if (eventCanonicalJson(v, true) !== canonicalJson(v)) t.fail(`differs: ${JSON.stringify(v).slice(0, 200)}`);
  }
  t.equal(eventCanonicalJson({ '\u{1F600}': 1, '\uffff': 2, a: [-0, 'é'] }, true), canonicalJson({ '\u{1F600}': 1, '\uffff': 2, a: [-0, 'é'] }), 'code point order, -0 as 0');
  t.throws(() => eventCanonicalJson({ a: 1.5 }, true), /not an integer: 1\.5 at a/);
  t.throws(() => eventCanonicalJson({ a: 2 ** 53 }, true), /integer out of range/);
  t.equal(eventCanonicalJson({ a: 2 ** 60, b: 1.5 }, false), '{"a":1152921504606846976,"b":1.5}', 'lenient: Python writes both');
  const refused: Array<[unknown, RegExp]> = [
    [{ a: '\ud800' }, /lone surrogate at a/],
    [{ '\udc00': 1 }, /lone surrogate/],
    [{ a: NaN }, /cannot encode NaN at a/],
    [{ a: [undefined] }, /cannot encode undefined at a\[0\]/],
    [{ a: new Date(0) }, /not a plain object: Date at a/],
    [{ a: () => 1 }, /cannot encode function/],
    [{ a: 1n }, /cannot encode bigint/],
  ];
  for (const [value, reason] of refused) {
    t.throws(() => eventCanonicalJson(value, false), reason);
    t.throws(() => eventCanonicalJson(value, true), CanonicalJsonError);
  }
  let deep: unknown = 1;
  for (let i = 0; i < MAX_NESTING; i++) deep = [deep];
  t.equal(eventCanonicalJson(deep, false).length, 2 * MAX_NESTING + 1, `${MAX_NESTING} levels encode`);
  t.throws(() => eventCanonicalJson([deep], false), new RegExp(`nested deeper than ${MAX_NESTING} levels`));
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  t.throws(() => eventCanonicalJson(cyclic, false), /nested deeper/, 'a cycle ends at the nesting limit');
  t.equal(eventCanonicalJson(Object.assign(Object.create(null), { b: 1, a: 2 }), true), '{"a":2,"b":1}', 'null-prototype objects are plain');
});

// JSON values of events as each room version reads them.
//
// Room versions 6 and later hold events to the spec's canonical JSON:
// integers within ±(2^53-1) and nothing else. Versions 1 to 5 take what
// Synapse's Python JSON takes: floats and integers of any size, hashed and
// signed as python3-canonicaljson writes them (a float as Python's repr:
// 1.0, 1e+16, 5e-05; an integer digit for digit). A JS number cannot carry
// every such value as Python reads it (1.0 is a float to Python and 1 to JS;
// 2^64+1 loses digits), so `parseEventJson` keeps those two cases as
// `JsonNumberLiteral`, and `encodeEventValue` prints every number the way the
// reference implementation does. For a value valid under the strict rules the
// output is byte for byte `canonicalJson`'s; the lenient rules only add
// output for values the strict rules reject.
import { CanonicalJsonError, compareCodePoints, type JsonValue } from '../canonical-json.js';

/**
 * A number from event JSON that a JS number cannot carry as Python reads it:
 * an integer beyond ±(2^53-1), or a float whose value is integral (`1.0`,
 * `2e3`, `-0.0`). Only room versions 1 to 5 accept one; it sits in the parsed
 * value where the number was, so code reading such events must use
 * `jsonNumberValue` rather than `typeof x === 'number'`.
 */
export class JsonNumberLiteral {
  /** The nearest double (Infinity for a float literal beyond the double range). */
  readonly value: number;
  /** True for a literal with a fraction or exponent (a Python float). */
  readonly isFloat: boolean;
  constructor(readonly source: string) {
    this.isFloat = /[.eE]/.test(source);
    this.value = Number(source);
    Object.freeze(this);
  }
}

/** A JSON object (not an array, not null, not a number literal). */
export function isJsonObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof JsonNumberLiteral);
}

/** The numeric value of a JSON number, whether a JS number or a JsonNumberLiteral; undefined for anything else. */
export function jsonNumberValue(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof JsonNumberLiteral) return v.value;
  return undefined;
}

/** Python's repr() of a float, which python3-canonicaljson writes: shortest round-trip digits, exponent from 1e16 up and below 1e-4. */
export function pythonFloatRepr(x: number): string {
  if (!Number.isFinite(x)) throw new CanonicalJsonError(`out of range float: ${x}`, '');
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // toExponential() without an argument gives the shortest digits that round-trip, as Python's repr does.
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const negative = mantissa.startsWith('-');
  const digits = (negative ? mantissa.slice(1) : mantissa).replace('.', '');
  const exp = Number(expText);
  let out: string;
  if (exp < -4 || exp >= 16) {
    out = `${digits[0]}${digits.length > 1 ? `.${digits.slice(1)}` : ''}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  } else if (exp >= 0) {
    const whole = exp + 1;
    out = digits.length <= whole ? `${digits}${'0'.repeat(whole - digits.length)}.0` : `${digits.slice(0, whole)}.${digits.slice(whole)}`;
  } else {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  }
  return negative ? `-${out}` : out;
}

/** Python's canonical text of a literal; throws for a float beyond the double range (Python's encoder refuses infinity). */
function literalText(n: JsonNumberLiteral): string {
  if (n.isFloat) return pythonFloatRepr(n.value);
  return BigInt(n.source).toString();
}

/** Nesting deeper than this is refused (Python's JSON, and so Synapse, stops near 1000 too). */
export const MAX_NESTING = 1000;

/** Where the walk found a number the strict rules (v6+) refuse, if it did. */
export interface EncodeState {
  strictViolation?: { path: string; message: string };
  /** Deep-freeze every object and array encoded (a parsed PDU must not change under its cached hashes). */
  freeze: boolean;
}

function pathOf(stack: readonly (string | number)[]): string {
  let p = '';
  for (const k of stack) p += typeof k === 'number' ? `[${k}]` : p === '' ? k : `.${k}`;
  return p;
}

function noteStrict(state: EncodeState, stack: readonly (string | number)[], message: string): void {
  if (!state.strictViolation) state.strictViolation = { path: pathOf(stack), message };
}

/** JSON text of a string; throws CanonicalJsonError (at `stack`) for a lone surrogate, which has no UTF-8 form. */
export function quote(s: string, stack: readonly (string | number)[]): string {
  if (!(s as unknown as { isWellFormed(): boolean }).isWellFormed()) throw new CanonicalJsonError('string contains a lone surrogate', pathOf(stack));
  // JSON.stringify escapes exactly what Python's json does with ensure_ascii=False (", \, and C0 controls, \u00xx in lower case).
  return JSON.stringify(s);
}

const NEEDS_CODE_POINT_SORT = /[\ud800-\udfff]/;

/** Object keys in Unicode code point order (UTF-16 order differs only when a surrogate meets U+E000..U+FFFF). */
export function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj).sort();
  for (const k of keys) if (NEEDS_CODE_POINT_SORT.test(k)) return keys.sort(compareCodePoints);
  return keys;
}

/**
 * Canonical JSON of one value with the lenient (v1-5) number rules, noting in
 * `state` the first number the strict rules refuse. Throws CanonicalJsonError
 * for what no version can encode: lone surrogates, non-finite numbers,
 * undefined, functions, non-plain objects, nesting beyond MAX_NESTING.
 */
export function encodeEventValue(value: unknown, state: EncodeState, stack: (string | number)[] = []): string {
  switch (typeof value) {
    case 'string':
      return quote(value, stack);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (Number.isSafeInteger(value)) return String(value);
      if (!Number.isFinite(value)) throw new CanonicalJsonError(`cannot encode ${value}`, pathOf(stack));
      if (Number.isInteger(value)) {
        noteStrict(state, stack, `integer out of range [-(2^53)+1, 2^53-1]: ${value}`);
        return BigInt(value).toString();
      }
      noteStrict(state, stack, `not an integer: ${value}`);
      return pythonFloatRepr(value);
    case 'object': {
      if (value === null) return 'null';
      if (stack.length >= MAX_NESTING) throw new CanonicalJsonError(`nested deeper than ${MAX_NESTING} levels`, pathOf(stack));
      if (value instanceof JsonNumberLiteral) {
        noteStrict(state, stack, value.isFloat ? `not an integer: ${value.source}` : `integer out of range [-(2^53)+1, 2^53-1]: ${value.source}`);
        try {
          return literalText(value);
        } catch (e) {
          throw new CanonicalJsonError((e as Error).message, pathOf(stack));
        }
      }
      let out: string;
      if (Array.isArray(value)) {
        out = '[';
        for (let i = 0; i < value.length; i++) {
          stack.push(i);
          out += (i === 0 ? '' : ',') + encodeEventValue(value[i], state, stack);
          stack.pop();
        }
        out += ']';
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError(`not a plain object: ${proto?.constructor?.name ?? 'object'}`, pathOf(stack));
        out = '{';
        let first = true;
        for (const k of sortedKeys(value)) {
          stack.push(k);
          out += `${first ? '' : ','}${quote(k, stack)}:${encodeEventValue((value as Record<string, unknown>)[k], state, stack)}`;
          stack.pop();
          first = false;
        }
        out += '}';
      }
      if (state.freeze) Object.freeze(value);
      return out;
    }
    default:
      throw new CanonicalJsonError(`cannot encode ${typeof value}`, pathOf(stack));
  }
}

/**
 * Canonical JSON of a value under a room version's rules: `strict` (v6+)
 * refuses floats and integers beyond ±(2^53-1), lenient (v1-5) writes them as
 * Python does. Throws CanonicalJsonError.
 */
export function eventCanonicalJson(value: unknown, strict: boolean): string {
  const state: EncodeState = { freeze: false };
  const out = encodeEventValue(value, state);
  if (strict && state.strictViolation) throw new CanonicalJsonError(state.strictViolation.message, state.strictViolation.path);
  return out;
}

// ---- parsing ----

/**
 * Whether a number outside the strings of a JSON text has a fraction, an
 * exponent, or 16 digits or more: only such a number can change under
 * JSON.parse. Strings are skipped with indexOf (event texts are mostly
 * strings: bodies, IDs, base64), so the loop only walks the rest. Not a
 * validator: text that is not JSON goes to the parser that says so.
 */
function hasInexactNumber(text: string): boolean {
  const n = text.length;
  let run = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // Find the closing quote: one not preceded by an odd number of backslashes.
      let j = i;
      for (;;) {
        j = text.indexOf('"', j + 1);
        if (j < 0) return true;
        let k = j - 1;
        while (text.charCodeAt(k) === 0x5c) k--;
        if ((j - 1 - k) % 2 === 0) break;
      }
      i = j;
      run = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (++run >= 16) return true;
    } else {
      if (run > 0 && (c === 0x2e || c === 0x65 || c === 0x45)) return true;
      run = 0;
    }
  }
  return false;
}
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WHITESPACE = /[ \t\n\r]*/y;
const PARSER_NESTING = 2 * MAX_NESTING;

export class EventJsonSyntaxError extends SyntaxError {
  constructor(message: string, readonly position: number) {
    super(`${message} at position ${position}`);
    this.name = 'EventJsonSyntaxError';
  }
}

class LiteralParser {
  private i = 0;
  constructor(private readonly text: string) {}

  parse(): JsonValue {
    const v = this.value(0);
    this.skip();
    if (this.i !== this.text.length) this.fail('unexpected text after the JSON value');
    return v;
  }

  private fail(message: string): never {
    throw new EventJsonSyntaxError(message, this.i);
  }

  private skip(): void {
    WHITESPACE.lastIndex = this.i;
    WHITESPACE.test(this.text);
    this.i = WHITESPACE.lastIndex;
  }

  private value(depth: number): JsonValue {
    this.skip();
    const c = this.text[this.i];
    if (c === '{' || c === '[') {
      if (depth >= PARSER_NESTING) this.fail(`nested deeper than ${PARSER_NESTING} levels`);
      return c === '{' ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c === '"') return this.string();
    for (const [word, v] of LITERALS) {
      if (this.text.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    return this.number();
  }

  private number(): JsonValue {
    NUMBER.lastIndex = this.i;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail(this.i >= this.text.length ? 'unexpected end of JSON' : `unexpected character ${JSON.stringify(this.text[this.i])}`);
    this.i += m[0].length;
    const source = m[0];
    const n = Number(source);
    const isFloat = /[.eE]/.test(source);
    // A non-integral float and a safe integer are what JS numbers carry exactly as Python reads them.
    if (isFloat ? Number.isFinite(n) && !Number.isInteger(n) : Number.isSafeInteger(n)) return n;
    return new JsonNumberLiteral(source) as unknown as JsonValue;
  }

  private string(): string {
    const start = this.i;
    let i = start + 1;
    const t = this.text;
    for (;;) {
      if (i >= t.length) {
        this.i = i;
        this.fail('unterminated string');
      }
      const c = t.charCodeAt(i);
      if (c === 0x22) break;
      if (c === 0x5c) i += 2;
      else if (c < 0x20) {
        this.i = i;
        this.fail('control character in string');
      } else i++;
    }
    this.i = i + 1;
    try {
      return JSON.parse(t.slice(start, i + 1)) as string;
    } catch {
      this.i = start;
      return this.fail('bad escape in string');
    }
  }

  private array(depth: number): JsonValue[] {
    this.i++;
    const out: JsonValue[] = [];
    this.skip();
    if (this.text[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value(depth));
      this.skip();
      const c = this.text[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected "," or "]"');
    }
  }

  private object(depth: number): { [key: string]: JsonValue } {
    this.i++;
    const out: { [key: string]: JsonValue } = {};
    this.skip();
    if (this.text[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      this.skip();
      if (this.text[this.i] !== '"') this.fail('expected a string key');
      const key = this.string();
      this.skip();
      if (this.text[this.i++] !== ':') this.fail('expected ":"');
      const v = this.value(depth);
      // defineProperty, so a "__proto__" key is data (as JSON.parse makes it), not the prototype.
      Object.defineProperty(out, key, { value: v, writable: true, enumerable: true, configurable: true });
      this.skip();
      const c = this.text[this.i++];
      if (c === '}') return out;
      if (c !== ',') this.fail('expected "," or "}"');
    }
  }
}

const LITERALS: ReadonlyArray<readonly [string, JsonValue]> = [
  ['true', true],
  ['false', false],
  ['null', null],
];

/**
 * Parses JSON text as Synapse does for events: like JSON.parse, except that
 * an integer beyond ±(2^53-1) or a float with an integral value becomes a
 * JsonNumberLiteral, so room versions 1 to 5 hash and sign it as the sender
 * did. Texts without such numbers go through JSON.parse unchanged. Throws a
 * SyntaxError for text that is not JSON.
 */
export function parseEventJson(text: string): JsonValue {
  if (!hasInexactNumber(text)) return JSON.parse(text) as JsonValue;
  return new LiteralParser(text).parse();
}

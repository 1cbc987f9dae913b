// Matrix canonical JSON (spec appendix "Canonical JSON"): object keys in
// Unicode code point order, no insignificant whitespace, UTF-8 without
// needless \u escapes, integers only in the interoperable range.
//
// The serialiser is `walk` from the canonical-json package, given a code point
// comparator. Its default export is not usable here: it copies each object into
// a fresh JS object and calls JSON.stringify, and JS objects enumerate
// integer-like keys ("1", "10", "9") in numeric order before all others, so
// {"10":0,"9":0} comes out as {"9":0,"10":0}; its default sort is also by
// UTF-16 code unit, which puts astral characters before U+E000..U+FFFF. It
// also turns NaN into null and accepts floats. `walk` emits keys in the order
// the comparator gives and escapes strings the way Python's json module does,
// so it is correct once the value has passed `assertCanonicalValue`.
import { walk } from 'canonical-json';

export const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1
export const MIN_SAFE = Number.MIN_SAFE_INTEGER; // -(2^53) + 1

export class CanonicalJsonError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(path ? `${message} at ${path}` : message);
    this.name = 'CanonicalJsonError';
  }
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// Orders two strings by code point. UTF-16 code unit order differs from code
// point order only where a surrogate (an astral character) meets a unit in
// U+E000..U+FFFF, so the first differing unit decides after moving surrogates
// above that block.
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function describe(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (v === null) return 'null';
  if (typeof v === 'object') return v.constructor?.name ?? 'object without prototype';
  return typeof v;
}

// Throws CanonicalJsonError for anything that has no canonical form: floats,
// NaN, Infinity, integers outside +-(2^53 - 1), BigInt, undefined, functions,
// symbols, cyclic structures, non-plain objects, and strings with lone
// surrogates (they cannot be encoded as UTF-8).
export function assertCanonicalValue(value: unknown, path = '', seen: Set<object> = new Set()): asserts value is JsonValue {
  switch (typeof value) {
    case 'string':
      if (LONE_SURROGATE.test(value)) throw new CanonicalJsonError('string contains a lone surrogate', path);
      return;
    case 'boolean':
      return;
    case 'number':
      if (!Number.isInteger(value)) throw new CanonicalJsonError(`not an integer: ${describe(value)}`, path);
      if (value > MAX_SAFE || value < MIN_SAFE) {
        throw new CanonicalJsonError(`integer out of range [-(2^53)+1, 2^53-1]: ${value}`, path);
      }
      return;
    case 'object': {
      if (value === null) return;
      if (seen.has(value)) throw new CanonicalJsonError('cyclic structure', path);
      if (Array.isArray(value)) {
        seen.add(value);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw new CanonicalJsonError('sparse array', `${path}[${i}]`);
          assertCanonicalValue(value[i], `${path}[${i}]`, seen);
        }
        seen.delete(value);
        return;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new CanonicalJsonError(`not a plain object: ${describe(value)}`, path);
      }
      seen.add(value);
      for (const key of Object.keys(value)) {
        if (LONE_SURROGATE.test(key)) throw new CanonicalJsonError('key contains a lone surrogate', path);
        assertCanonicalValue((value as Record<string, unknown>)[key], `${path}.${key}`, seen);
      }
      seen.delete(value);
      return;
    }
    default:
      throw new CanonicalJsonError(`cannot encode ${describe(value)}`, path);
  }
}

/** Thrown inside the fast serialiser; the checker then says what and where. */
class NotCanonical extends Error {}

const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();
// Code unit order equals code point order unless a key holds a surrogate or a unit from U+E000 up.
const NEEDS_CODE_POINT_ORDER = /[\ud800-\uffff]/;

function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj).sort();
  for (const k of keys) if (NEEDS_CODE_POINT_ORDER.test(k)) return keys.sort(compareCodePoints);
  return keys;
}

/**
 * One pass: checks and writes together. Strings are written by
 * JSON.stringify, which escapes exactly what Python's json module (and so
 * the `walk` serialiser above) escapes once lone surrogates are excluded;
 * integers in the safe range print the same everywhere. Anything without a
 * canonical form throws NotCanonical, and the caller asks
 * assertCanonicalValue for the precise error.
 */
function emit(value: unknown, seen: Set<object>, omit?: ReadonlySet<string>): string {
  switch (typeof value) {
    case 'string':
      if (!isWellFormed(value)) throw new NotCanonical();
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isSafeInteger(value)) throw new NotCanonical();
      return Object.is(value, -0) ? '0' : String(value);
    case 'object': {
      if (value === null) return 'null';
      if (seen.has(value)) throw new NotCanonical();
      seen.add(value);
      let out: string;
      if (Array.isArray(value)) {
        out = '[';
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) throw new NotCanonical();
          out += (i === 0 ? '' : ',') + emit(value[i], seen);
        }
        out += ']';
      } else {
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) throw new NotCanonical();
        out = '{';
        let first = true;
        for (const k of sortedKeys(value)) {
          if (omit?.has(k)) continue;
          if (!isWellFormed(k)) throw new NotCanonical();
          out += `${first ? '' : ','}${JSON.stringify(k)}:${emit((value as Record<string, unknown>)[k], seen)}`;
          first = false;
        }
        out += '}';
      }
      seen.delete(value);
      return out;
    }
    default:
      throw new NotCanonical();
  }
}

function serialise(value: unknown, omit?: ReadonlySet<string>): string {
  try {
    return emit(value, new Set(), omit);
  } catch (e) {
    if (!(e instanceof NotCanonical)) throw e;
    // The slow checker names the problem and its path (outside the omitted keys).
    let checked = value;
    if (omit && typeof value === 'object' && value !== null) checked = Object.fromEntries(Object.entries(value).filter(([k]) => !omit.has(k)));
    assertCanonicalValue(checked);
    /* c8 ignore next */
    throw new CanonicalJsonError('no canonical form', '');
  }
}

export function canonicalJson(value: unknown): string {
  return serialise(value);
}

export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(serialise(value), 'utf8');
}

/** The canonical JSON of an object without some of its top-level keys (the signed part of a signed object), without copying it. */
export function canonicalJsonBytesWithout(obj: Record<string, unknown>, omit: ReadonlySet<string>): Buffer {
  return Buffer.from(serialise(obj, omit), 'utf8');
}

/** The reference serialiser (the canonical-json package's `walk`), kept for the differential tests. */
export function canonicalJsonByWalk(value: unknown): string {
  assertCanonicalValue(value);
  const parts: string[] = [];
  walk(value, (chunk) => parts.push(chunk), compareCodePoints);
  return parts.join('');
}

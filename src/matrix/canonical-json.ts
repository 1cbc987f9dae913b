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

export function canonicalJson(value: unknown): string {
  assertCanonicalValue(value);
  const parts: string[] = [];
  walk(value, (chunk) => parts.push(chunk), compareCodePoints);
  return parts.join('');
}

export function canonicalJsonBytes(value: unknown): Buffer {
  return Buffer.from(canonicalJson(value), 'utf8');
}

// Typed readers for raw YAML values. Each takes the key path it reports on
// failure, so every error a user sees points at the line to fix.
//
// YAML `key:` with nothing after it is null; Synapse treats that as "unset",
// and so does `field` here.
import { resolve } from 'node:path';
import { closest } from '../suggest.js';
import { ConfigError, describeValue } from './errors.js';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';

export type RawMap = Record<string, unknown>;

export function isMap(value: unknown): value is RawMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

export function keyOf(parent: string, name: string): string {
  return parent ? `${parent}.${name}` : name;
}

export function indexOf(parent: string, i: number): string {
  return `${parent}[${i}]`;
}

/** Map entries whose names are data (user ids, key ids) rather than identifiers. */
export function entryOf(parent: string, name: string): string {
  return `${parent}[${JSON.stringify(name)}]`;
}

function wrong(key: string, expected: string, value: unknown): never {
  throw new ConfigError(key, `expected ${expected}, got ${describeValue(value)}`);
}

/** The value under `name`, with null folded into undefined. */
export function field(map: RawMap, name: string): unknown {
  const v = map[name];
  return v === null ? undefined : v;
}

/** Rejects sub-keys fedpeer does not know, in sections only fedpeer defines: they are typos. */
export function onlyKeys(map: RawMap, key: string, known: readonly string[]): void {
  for (const k of Object.keys(map)) {
    if (!known.includes(k)) {
      const guess = closest(k, known);
      throw new ConfigError(keyOf(key, k), `unknown key${guess ? ` (did you mean ${guess}?)` : ''}; expected one of ${known.join(', ')}`);
    }
  }
}

export function map(value: unknown, key: string): RawMap {
  return isMap(value) ? value : wrong(key, 'a mapping', value);
}

export function list(value: unknown, key: string): unknown[] {
  return Array.isArray(value) ? value : wrong(key, 'a list', value);
}

export function str(value: unknown, key: string): string {
  return typeof value === 'string' && value.length > 0 ? value : wrong(key, 'a non-empty string', value);
}

export function bool(value: unknown, key: string): boolean {
  return typeof value === 'boolean' ? value : wrong(key, 'true or false', value);
}

export function int(value: unknown, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}-${max}`;
  return wrong(key, `an integer ${range}`, value);
}

export function port(value: unknown, key: string): number {
  return int(value, key, 1, 65535);
}

export function oneOf<T extends string>(value: unknown, key: string, allowed: readonly T[]): T {
  // YAML reads `1.2` as a number; Synapse str()s such values, so do the same.
  const s = typeof value === 'number' ? String(value) : value;
  if (typeof s === 'string' && (allowed as readonly string[]).includes(s)) return s as T;
  return wrong(key, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
}

export function path(value: unknown, key: string, baseDir: string): string {
  return resolve(baseDir, str(value, key));
}

export function strList(value: unknown, key: string): string[] {
  return list(value, key).map((v, i) => str(v, indexOf(key, i)));
}

/** A section that may be absent (defaults throughout) but must be a mapping when present. */
export function section(raw: RawMap, name: string, parent = ''): RawMap {
  const v = field(raw, name);
  return v === undefined ? {} : map(v, keyOf(parent, name));
}

/**
 * Reads `name` from `m` with `read` when present, else returns `fallback`.
 * `read` gets the key path to report against.
 */
export function opt<T, D>(
  m: RawMap,
  parent: string,
  name: string,
  read: (value: unknown, key: string) => T,
  fallback: D,
): T | D {
  const v = field(m, name);
  return v === undefined ? fallback : read(v, keyOf(parent, name));
}

export const duration = (value: unknown, key: string): number => parseDuration(value, key);
export const size = (value: unknown, key: string): number => parseSize(value, key);

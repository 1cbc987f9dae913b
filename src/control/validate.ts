// Reading control API input: each body or query is checked against the
// fields its endpoint knows (an unknown field is refused, so a typo is an
// error rather than an option silently ignored), and each value against its
// type and bounds. Every failure is a 400 whose message names the field.
import type { JsonObject } from '../matrix/canonical-json.js';
import { MatrixError } from '../matrix/errors.js';
import { isValidServerName } from '../matrix/server-name.js';

export type Fields = Readonly<Record<string, unknown>>;
/** Reads one value; throws a 400 naming `key` when it does not fit. */
export type Reader<T> = (value: unknown, key: string) => T;

const invalid = (key: string, expected: string, value: unknown): MatrixError => {
  const shown = JSON.stringify(value);
  return new MatrixError(400, 'M_INVALID_PARAM', `${key}: expected ${expected}, got ${shown === undefined ? String(value) : shown.length > 80 ? `${shown.slice(0, 80)}…` : shown}`);
};

/** The body (or query) as an object holding only `allowed` keys. */
export function fields(input: unknown, allowed: readonly string[], where = 'request body'): Fields {
  if (input === undefined) return {};
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new MatrixError(400, 'M_BAD_JSON', `${where}: expected a JSON object`);
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) throw new MatrixError(400, 'M_INVALID_PARAM', `${where}: unknown field ${JSON.stringify(key)}; known: ${allowed.join(', ')}`);
  }
  return input as Fields;
}

export function required<T>(f: Fields, key: string, read: Reader<T>): T {
  if (f[key] === undefined) throw new MatrixError(400, 'M_MISSING_PARAM', `${key}: required`);
  return read(f[key], key);
}

export function optional<T>(f: Fields, key: string, read: Reader<T>): T | undefined {
  return f[key] === undefined ? undefined : read(f[key], key);
}

export function text(opts: { max?: number; pattern?: RegExp; describe?: string } = {}): Reader<string> {
  const max = opts.max ?? 255;
  return (value, key) => {
    if (typeof value !== 'string' || value.length > max || (opts.pattern && !opts.pattern.test(value))) throw invalid(key, opts.describe ?? `a string of at most ${max} characters`, value);
    return value;
  };
}

export function integer(min: number, max: number): Reader<number> {
  return (value, key) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalid(key, `an integer from ${min} to ${max}`, value);
    return value;
  };
}

/** An integer written in a query string. */
export function integerText(min: number, max: number): Reader<number> {
  return (value, key) => {
    const n = typeof value === 'string' && /^-?\d{1,16}$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw invalid(key, `an integer from ${min} to ${max}`, value);
    return n;
  };
}

export const boolean: Reader<boolean> = (value, key) => {
  if (typeof value !== 'boolean') throw invalid(key, 'true or false', value);
  return value;
};

/** `true`/`false` (or `1`/`0`) in a query string. */
export const booleanText: Reader<boolean> = (value, key) => {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw invalid(key, 'true or false', value);
};

export const jsonObject: Reader<JsonObject> = (value, key) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(key, 'a JSON object', value);
  return value as JsonObject;
};

export function oneOf<T extends string>(allowed: readonly T[]): Reader<T> {
  return (value, key) => {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) throw invalid(key, `one of ${allowed.join(', ')}`, value);
    return value as T;
  };
}

export function list<T>(read: Reader<T>, max: number): Reader<T[]> {
  return (value, key) => {
    if (!Array.isArray(value) || value.length > max) throw invalid(key, `a list of at most ${max} entries`, value);
    return value.map((v, i) => read(v, `${key}[${i}]`));
  };
}

/** A JSON object whose fields are read by `read` (for nested objects of known shape). */
export function nested<T>(allowed: readonly string[], read: (f: Fields, key: string) => T): Reader<T> {
  return (value, key) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(key, 'a JSON object', value);
    return read(fields(value, allowed, key), key);
  };
}

export const serverName: Reader<string> = (value, key) => {
  if (typeof value !== 'string' || !isValidServerName(value)) throw invalid(key, 'a server name such as "example.org" or "127.0.0.1:8448"', value);
  return value;
};

const sigilId = (sigil: string, what: string): Reader<string> =>
  text({ max: 255, pattern: new RegExp(`^\\${sigil}[^:]*:.+$`), describe: `${what} (${sigil}opaque:server, at most 255 characters)` });

export const roomId = sigilId('!', 'a room ID');
export const userId = sigilId('@', 'a user ID');
export const roomIdOrAlias = text({ max: 255, pattern: /^[!#][^:]*:.+$/, describe: 'a room ID (!id:server) or alias (#name:server)' });
export const eventId = text({ max: 255, pattern: /^\$./, describe: 'an event ID ($...)' });

/**
 * One of this server's users, as a user ID or its local part (`alice` is
 * `@alice:<server>`), as `startPeer`'s `users` option takes them.
 */
export function localUser(serverName: string, users: ReadonlyMap<string, unknown>): Reader<string> {
  return (value, key) => {
    if (typeof value !== 'string' || value === '' || value.length > 255) throw invalid(key, 'a local user (user ID or local part)', value);
    const id = value.startsWith('@') ? value : `@${value}:${serverName}`;
    if (!users.has(id)) {
      const known = [...users.keys()];
      const shown = known.length === 0 ? 'none: add test_users to the config' : `${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''}`;
      throw new MatrixError(400, 'M_INVALID_PARAM', `${key}: ${id} is not a local user of ${serverName} (test_users: ${shown})`);
    }
    return id;
  };
}

// Conformance helpers: canonical-json, sign-json, verify-json. They read one
// JSON value from stdin and never print a stack trace for bad input.
import { readFile } from 'node:fs/promises';
import { canonicalJson, CanonicalJsonError } from '../matrix/canonical-json.js';
import { signJson, verifyJsonSignature } from '../matrix/signing.js';
import { parseSigningKeys, publicKeyFromBase64 } from '../matrix/signing-key.js';
import { UsageError, type CommandIO } from './io.js';

function parseInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UsageError(`input is not valid JSON: ${(e as Error).message}`, 1);
  }
}

function parseObject(text: string): Record<string, unknown> {
  const value = parseInput(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError('input must be a JSON object', 1);
  return value as Record<string, unknown>;
}

/**
 * The number literals of a JSON text, in order, outside strings. JSON.parse
 * rounds 9007199254740993 to ...992 (and 1e400 to Infinity), so messages
 * about a number quote what was written instead.
 */
export function numberLiterals(text: string): string[] {
  const found: string[] = [];
  const number = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      // Skip the string, escapes included.
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      number.lastIndex = i;
      const m = number.exec(text);
      if (m) {
        found.push(m[0]);
        i += m[0].length - 1;
      }
    }
  }
  return found;
}

/** The literal behind a parsed number that has no canonical form, preferring one JSON.parse changed. */
function writtenAs(text: string, value: number): string | undefined {
  const candidates = numberLiterals(text).filter((l) => Object.is(Number(l), value));
  return candidates.find((l) => l !== String(value)) ?? candidates[0];
}

export async function canonicalJsonCommand(io: CommandIO): Promise<number> {
  const text = await io.readStdin();
  const value = parseInput(text);
  try {
    io.stdout(canonicalJson(value));
  } catch (e) {
    const bad = e instanceof CanonicalJsonError ? numberAt(value, e.path) : undefined;
    const literal = bad === undefined ? undefined : writtenAs(text, bad);
    if (literal === undefined || literal === String(bad)) throw e;
    const why = Number.isInteger(bad) || !Number.isFinite(bad) ? 'integer out of range [-(2^53)+1, 2^53-1]' : 'not an integer';
    throw new UsageError(`${why}: ${literal}${e instanceof CanonicalJsonError && e.path ? ` at ${e.path}` : ''} (JSON.parse would read it as ${bad})`, 1);
  }
  return 0;
}

/**
 * The number at a CanonicalJsonError path (`.a[2].b`), if that is what is
 * there. Keys are not escaped in paths, so the longest key that fits is taken.
 */
function numberAt(root: unknown, path: string): number | undefined {
  let v: unknown = root;
  let rest = path;
  while (rest !== '') {
    if (Array.isArray(v)) {
      const m = /^\[(\d+)\]/.exec(rest);
      if (!m) return undefined;
      v = v[Number(m[1])];
      rest = rest.slice(m[0].length);
      continue;
    }
    if (typeof v !== 'object' || v === null) return undefined;
    const key = Object.keys(v)
      .filter((k) => rest.startsWith(`.${k}`) && /^(?:$|[.[])/.test(rest.slice(k.length + 1)))
      .sort((a, b) => b.length - a.length)[0];
    if (key === undefined) return undefined;
    v = (v as Record<string, unknown>)[key];
    rest = rest.slice(key.length + 1);
  }
  return typeof v === 'number' ? v : undefined;
}

export async function signJsonCommand(io: CommandIO, opts: { key?: string; serverName?: string }): Promise<number> {
  if (!opts.key || !opts.serverName) throw new UsageError('sign-json needs --key FILE and --server-name NAME');
  let keyText: string;
  try {
    keyText = await readFile(opts.key, 'utf8');
  } catch (e) {
    throw new UsageError(`--key: cannot read ${opts.key}: ${(e as NodeJS.ErrnoException).code ?? e}`, 1);
  }
  const keys = parseSigningKeys(keyText, opts.key);
  let obj = parseObject(await io.readStdin());
  for (const key of keys) obj = signJson(obj, opts.serverName, key);
  io.stdout(canonicalJson(obj));
  return 0;
}

export async function verifyJsonCommand(io: CommandIO, opts: { serverName?: string; keyId?: string; publicKey?: string }): Promise<number> {
  if (!opts.serverName || !opts.keyId || !opts.publicKey) {
    throw new UsageError('verify-json needs --server-name NAME --key-id ed25519:ID --public-key BASE64');
  }
  let publicKey;
  try {
    publicKey = publicKeyFromBase64(opts.publicKey);
  } catch (e) {
    throw new UsageError(`--public-key: ${(e as Error).message}`);
  }
  const result = verifyJsonSignature(parseObject(await io.readStdin()), opts.serverName, opts.keyId, publicKey);
  if (result.ok) {
    io.stdout(`valid: signature ${opts.keyId} from ${opts.serverName} verifies`);
    return 0;
  }
  io.stderr(`invalid: ${result.reason}`);
  return 1;
}

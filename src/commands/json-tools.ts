// Conformance helpers: canonical-json, sign-json, verify-json. They read one
// JSON value from stdin and never print a stack trace for bad input.
import { readFile } from 'node:fs/promises';
import { canonicalJson } from '../matrix/canonical-json.js';
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

export async function canonicalJsonCommand(io: CommandIO): Promise<number> {
  io.stdout(canonicalJson(parseInput(await io.readStdin())));
  return 0;
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

// Judging the target's key document and /version answer, one aspect per
// check so that each failure is reported on its own (Synapse's own reading
// stops at the first problem: src/matrix/server-keys.ts). Pure: the caller
// passes the time.
import { MAX_KEY_VALIDITY_MS, parseKey } from '../matrix/server-keys.js';
import { verifyJsonSignature, type VerifyKey } from '../matrix/signing.js';
import type { Outcome } from './types.js';

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const pass = (reason: string): Outcome => ({ verdict: 'pass', reason });
const fail = (reason: string): Outcome => ({ verdict: 'fail', reason });

export function judgeServerName(doc: unknown, target: string): Outcome {
  if (!isObject(doc)) return fail('the key document is not a JSON object');
  if (doc.server_name !== target) return fail(`server_name is ${JSON.stringify(doc.server_name)}, expected ${JSON.stringify(target)}`);
  return pass(`server_name is ${JSON.stringify(target)}`);
}

/** verify_keys: at least one well-formed Ed25519 key; also returns the keys for the signature check. */
export function judgeVerifyKeys(doc: unknown): Outcome & { keys: Record<string, VerifyKey> } {
  const keys: Record<string, VerifyKey> = {};
  if (!isObject(doc) || !isObject(doc.verify_keys)) return { ...fail('verify_keys is missing or not an object'), keys };
  const problems: string[] = [];
  for (const [keyId, entry] of Object.entries(doc.verify_keys)) {
    if (!keyId.startsWith('ed25519:')) continue; // other algorithms are allowed and ignored
    const parsed = parseKey(keyId, entry);
    if (typeof parsed === 'string') problems.push(parsed);
    else keys[keyId] = parsed.publicKey;
  }
  if (problems.length > 0) return { ...fail(problems.join('; ')), keys };
  const ids = Object.keys(keys);
  if (ids.length === 0) return { ...fail('no Ed25519 key in verify_keys'), keys };
  return { ...pass(`Ed25519 key(s): ${ids.join(', ')}`), keys };
}

/** Every signature by one of the document's own keys verifies, and there is at least one. */
export function judgeSelfSignature(doc: unknown, target: string, keys: Record<string, VerifyKey>): Outcome {
  if (Object.keys(keys).length === 0) return { verdict: 'could_not_run', reason: 'no usable key in verify_keys to check signatures with (see identity.verify-keys)' };
  const byServer = isObject(doc) && isObject(doc.signatures) ? doc.signatures[target] : undefined;
  if (!isObject(byServer)) return fail(`the document carries no signature from ${target}`);
  const verified: string[] = [];
  for (const keyId of Object.keys(byServer)) {
    const key = keys[keyId];
    if (!key) continue;
    const r = verifyJsonSignature(doc, target, keyId, key);
    if (!r.ok) return fail(r.reason);
    verified.push(keyId);
  }
  if (verified.length === 0) return fail(`not signed by any of its verify_keys (${Object.keys(keys).join(', ')})`);
  const unsigned = Object.keys(keys).filter((k) => !verified.includes(k));
  return pass(`signed by ${verified.join(', ')}${unsigned.length > 0 ? `; not signed by ${unsigned.join(', ')} (allowed)` : ''}`);
}

function span(ms: number): string {
  const hours = ms / 3_600_000;
  return hours >= 48 ? `${(hours / 24).toFixed(1)} days` : `${hours.toFixed(1)} hours`;
}

export function judgeValidUntil(doc: unknown, now: number): Outcome {
  const v = isObject(doc) ? doc.valid_until_ts : undefined;
  if (!Number.isSafeInteger(v)) return fail('valid_until_ts is missing or not an integer');
  const ts = v as number;
  const when = new Date(ts).toISOString();
  if (ts <= now) return fail(`valid_until_ts ${when} is ${span(now - ts)} in the past`);
  const cap = ts - now > MAX_KEY_VALIDITY_MS ? '; other servers trust it for at most 7 days' : '';
  return pass(`valid until ${when}, ${span(ts - now)} from now${cap}`);
}

export function judgeOldVerifyKeys(doc: unknown): Outcome {
  if (!isObject(doc) || doc.old_verify_keys === undefined) return pass('absent (the field is optional)');
  if (!isObject(doc.old_verify_keys)) return fail('old_verify_keys is not an object');
  const problems: string[] = [];
  let count = 0;
  for (const [keyId, entry] of Object.entries(doc.old_verify_keys)) {
    if (!keyId.startsWith('ed25519:')) continue;
    const parsed = parseKey(keyId, entry);
    if (typeof parsed === 'string') problems.push(parsed);
    else if (!Number.isSafeInteger((entry as Record<string, unknown>).expired_ts)) problems.push(`${keyId}: expired_ts is missing or not an integer`);
    else count++;
  }
  if (problems.length > 0) return fail(problems.join('; '));
  return pass(`${count} old key(s), each with key and expired_ts`);
}

export function judgeVersion(body: unknown): Outcome {
  if (!isObject(body)) return fail('the body is not a JSON object');
  if (body.server === undefined) return pass('a JSON object without "server" (its fields are optional)');
  if (!isObject(body.server)) return fail('"server" is not an object');
  const bad = ['name', 'version'].filter((f) => (body.server as Record<string, unknown>)[f] !== undefined && typeof (body.server as Record<string, unknown>)[f] !== 'string');
  if (bad.length > 0) return fail(`server.${bad.join(' and server.')} must be a string`);
  const { name, version } = body.server as { name?: string; version?: string };
  return pass(`server ${name ?? '(no name)'} ${version ?? '(no version)'}`);
}

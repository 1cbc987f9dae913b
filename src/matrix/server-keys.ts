// Checking a server's key document (GET /_matrix/key/v2/server, or an entry
// of a notary response) the way Synapse does before trusting it. Pure: the
// caller passes the time. Each check is recorded so `fedpeer keys` and
// `fedpeer check` can show what passed and what failed.
import type { KeyObject } from 'node:crypto';
import { decodeBase64 } from './base64.js';
import { publicKeyFromBytes } from './signing-key.js';
import { verifyJsonSignature } from './signing.js';

/** Synapse caps how long a fetched key is trusted, whatever valid_until_ts says. */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000;
const KEY_ID = /^ed25519:[a-zA-Z0-9_]+$/;

export interface KeyCheck {
  check: 'json_object' | 'server_name' | 'verify_keys' | 'old_verify_keys' | 'valid_until_ts' | 'self_signature';
  ok: boolean;
  detail: string;
}

export interface ServerKey {
  keyId: string;
  key: string;
  publicKey: KeyObject;
}

export interface OldServerKey extends ServerKey {
  expiredTs: number;
}

export interface VerifiedServerKeys {
  serverName: string;
  verifyKeys: Record<string, ServerKey>;
  oldVerifyKeys: Record<string, OldServerKey>;
  /** valid_until_ts as published. */
  validUntilTs: number;
  /** min(valid_until_ts, receivedTs + 7 days): how long fedpeer trusts it. */
  effectiveValidUntilTs: number;
  receivedTs: number;
  /** The document as received (with its signatures), for notary answers. */
  document: Record<string, unknown>;
}

export interface ServerKeysResult {
  ok: boolean;
  checks: KeyCheck[];
  keys?: VerifiedServerKeys;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One verify_keys (or old_verify_keys) entry: its public key, or what is wrong with it. */
export function parseKey(keyId: string, entry: unknown): { key: string; publicKey: KeyObject } | string {
  if (!KEY_ID.test(keyId)) return `key id ${JSON.stringify(keyId)} is not ed25519:<[a-zA-Z0-9_]+>`;
  if (!isObject(entry) || typeof entry.key !== 'string') return `${keyId}: missing "key"`;
  let bytes: Buffer;
  try {
    bytes = decodeBase64(entry.key);
  } catch (e) {
    return `${keyId}: ${(e as Error).message}`;
  }
  if (bytes.length !== 32) return `${keyId}: an Ed25519 key is 32 bytes, got ${bytes.length}`;
  return { key: entry.key, publicKey: publicKeyFromBytes(bytes) };
}

export function checkServerKeys(doc: unknown, expectedServerName: string, now: number): ServerKeysResult {
  const checks: KeyCheck[] = [];
  const fail = (check: KeyCheck['check'], detail: string): ServerKeysResult => {
    checks.push({ check, ok: false, detail });
    return { ok: false, checks };
  };
  if (!isObject(doc)) return fail('json_object', 'the key document is not a JSON object');
  checks.push({ check: 'json_object', ok: true, detail: 'a JSON object' });

  if (doc.server_name !== expectedServerName) {
    return fail('server_name', `server_name is ${JSON.stringify(doc.server_name)}, expected ${JSON.stringify(expectedServerName)}`);
  }
  checks.push({ check: 'server_name', ok: true, detail: `server_name is ${expectedServerName}` });

  if (!isObject(doc.verify_keys)) return fail('verify_keys', 'verify_keys is missing or not an object');
  const verifyKeys: Record<string, ServerKey> = {};
  const problems: string[] = [];
  for (const [keyId, entry] of Object.entries(doc.verify_keys)) {
    if (!keyId.startsWith('ed25519:')) continue; // other algorithms are ignored, as Synapse does
    const parsed = parseKey(keyId, entry);
    if (typeof parsed === 'string') problems.push(parsed);
    else verifyKeys[keyId] = { keyId, ...parsed };
  }
  if (problems.length > 0) return fail('verify_keys', problems.join('; '));
  if (Object.keys(verifyKeys).length === 0) return fail('verify_keys', 'no Ed25519 key in verify_keys');
  checks.push({ check: 'verify_keys', ok: true, detail: `Ed25519 keys: ${Object.keys(verifyKeys).join(', ')}` });

  const oldVerifyKeys: Record<string, OldServerKey> = {};
  if (doc.old_verify_keys !== undefined) {
    if (!isObject(doc.old_verify_keys)) return fail('old_verify_keys', 'old_verify_keys is not an object');
    for (const [keyId, entry] of Object.entries(doc.old_verify_keys)) {
      if (!keyId.startsWith('ed25519:')) continue;
      const parsed = parseKey(keyId, entry);
      if (typeof parsed === 'string') problems.push(parsed);
      else if (!Number.isSafeInteger((entry as Record<string, unknown>).expired_ts)) problems.push(`${keyId}: expired_ts is not an integer`);
      else oldVerifyKeys[keyId] = { keyId, ...parsed, expiredTs: (entry as { expired_ts: number }).expired_ts };
    }
    if (problems.length > 0) return fail('old_verify_keys', problems.join('; '));
    checks.push({ check: 'old_verify_keys', ok: true, detail: `${Object.keys(oldVerifyKeys).length} old key(s)` });
  }

  const validUntil = doc.valid_until_ts;
  if (!Number.isSafeInteger(validUntil)) return fail('valid_until_ts', 'valid_until_ts is missing or not an integer');
  if ((validUntil as number) <= now) {
    return fail('valid_until_ts', `valid_until_ts ${new Date(validUntil as number).toISOString()} is in the past`);
  }
  checks.push({ check: 'valid_until_ts', ok: true, detail: `valid until ${new Date(validUntil as number).toISOString()}` });

  // Every signature by a listed key must verify, and there must be at least one.
  const sigs = isObject(doc.signatures) && isObject(doc.signatures[expectedServerName]) ? (doc.signatures[expectedServerName] as Record<string, unknown>) : {};
  const verified: string[] = [];
  for (const keyId of Object.keys(sigs)) {
    const key = verifyKeys[keyId];
    if (!key) continue;
    const r = verifyJsonSignature(doc, expectedServerName, keyId, key.publicKey);
    if (!r.ok) return fail('self_signature', r.reason);
    verified.push(keyId);
  }
  if (verified.length === 0) return fail('self_signature', `not signed by any of its own verify_keys (${Object.keys(verifyKeys).join(', ')})`);
  checks.push({ check: 'self_signature', ok: true, detail: `signed by ${verified.join(', ')}` });

  return {
    ok: true,
    checks,
    keys: {
      serverName: expectedServerName,
      verifyKeys,
      oldVerifyKeys,
      validUntilTs: validUntil as number,
      effectiveValidUntilTs: Math.min(validUntil as number, now + MAX_KEY_VALIDITY_MS),
      receivedTs: now,
      document: doc,
    },
  };
}

// Checking a server's key document (GET /_matrix/key/v2/server, or an entry
// of a notary response) the way Synapse does before trusting it. Pure: the
// caller passes the time. Each check is recorded so `fedpeer keys` and
// `fedpeer check` can show what passed and what failed.
//
// Documents come from strangers, so checking one is bounded: the signed part
// is canonicalised once (not once per signature), at most
// KEY_DOCUMENT_LIMITS.maxVerifyKeys signatures are verified and the signed
// part may be at most maxSignedBytes, so one check costs at most a few
// milliseconds of the event loop, whatever the document lists.
import { decodeBase64 } from './base64.js';
import { publicKeyFromBytes } from './signing-key.js';
import { signedBytes, checkDetached, type VerifyKey } from './signing.js';
import { formatTimestamp } from './timestamp.js';

/** Synapse caps how long a fetched key is trusted, whatever valid_until_ts says. */
export const MAX_KEY_VALIDITY_MS = 7 * 24 * 3600 * 1000;
const KEY_ID = /^ed25519:[a-zA-Z0-9_]+$/;

/**
 * What one key document may hold. Real servers publish one or two current
 * keys and a handful of old ones in well under 2 KiB; these leave ample room
 * while bounding the work of a check and the memory of a cached document.
 */
export const KEY_DOCUMENT_LIMITS = {
  /** Entries of verify_keys (each Ed25519 one is a signature checked at most once). */
  maxVerifyKeys: 16,
  maxOldVerifyKeys: 64,
  /** Canonical JSON of the signed part (all but signatures and unsigned). */
  maxSignedBytes: 32 * 1024,
} as const;

export interface KeyCheck {
  check: 'json_object' | 'server_name' | 'verify_keys' | 'old_verify_keys' | 'valid_until_ts' | 'self_signature';
  ok: boolean;
  detail: string;
}

export interface ServerKey {
  keyId: string;
  key: string;
  publicKey: VerifyKey;
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
  /**
   * The document as signed, for notary answers and the cache: every signed
   * field as received, the server's own verified signatures, and nothing
   * else (no `unsigned`, no third parties' signatures).
   */
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
export function parseKey(keyId: string, entry: unknown): { key: string; publicKey: VerifyKey } | string {
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

  // Server names compare without regard to letter case (DNS names do; IP literals and ports have none to speak of).
  if (typeof doc.server_name !== 'string' || doc.server_name.toLowerCase() !== expectedServerName.toLowerCase()) {
    return fail('server_name', `server_name is ${JSON.stringify(doc.server_name)}, expected ${JSON.stringify(expectedServerName)}`);
  }
  const serverName = doc.server_name;
  checks.push({ check: 'server_name', ok: true, detail: `server_name is ${serverName}` });

  if (!isObject(doc.verify_keys)) return fail('verify_keys', 'verify_keys is missing or not an object');
  const listed = Object.keys(doc.verify_keys).length;
  if (listed > KEY_DOCUMENT_LIMITS.maxVerifyKeys) {
    return fail('verify_keys', `verify_keys lists ${listed} keys; fedpeer accepts at most ${KEY_DOCUMENT_LIMITS.maxVerifyKeys}`);
  }
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
    const old = Object.keys(doc.old_verify_keys).length;
    if (old > KEY_DOCUMENT_LIMITS.maxOldVerifyKeys) {
      return fail('old_verify_keys', `old_verify_keys lists ${old} keys; fedpeer accepts at most ${KEY_DOCUMENT_LIMITS.maxOldVerifyKeys}`);
    }
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
    return fail('valid_until_ts', `valid_until_ts ${formatTimestamp(validUntil as number)} is in the past`);
  }
  checks.push({ check: 'valid_until_ts', ok: true, detail: `valid until ${formatTimestamp(validUntil as number)}` });

  // Every signature by a listed key must verify, and there must be at least
  // one. The signed bytes are made once for all of them.
  const sigs = isObject(doc.signatures) && isObject(doc.signatures[serverName]) ? (doc.signatures[serverName] as Record<string, unknown>) : {};
  const mine = Object.keys(verifyKeys).filter((keyId) => sigs[keyId] !== undefined);
  if (mine.length === 0) return fail('self_signature', `not signed by any of its own verify_keys (${Object.keys(verifyKeys).join(', ')})`);
  let bytes: Buffer;
  try {
    bytes = signedBytes(doc);
  } catch (e) {
    return fail('self_signature', `cannot canonicalise: ${(e as Error).message}`);
  }
  if (bytes.length > KEY_DOCUMENT_LIMITS.maxSignedBytes) {
    return fail('self_signature', `the signed part of the document is ${bytes.length} bytes; fedpeer accepts at most ${KEY_DOCUMENT_LIMITS.maxSignedBytes}`);
  }
  const kept: Record<string, string> = {};
  for (const keyId of mine) {
    const sig = sigs[keyId];
    if (typeof sig !== 'string') return fail('self_signature', `signature ${keyId} is not a string`);
    const r = checkDetached(bytes, sig, verifyKeys[keyId]!.publicKey, keyId);
    if (!r.ok) return fail('self_signature', `${r.reason} (${serverName})`);
    kept[keyId] = sig;
  }
  checks.push({ check: 'self_signature', ok: true, detail: `signed by ${mine.join(', ')}` });
  const { signatures: _s, unsigned: _u, ...signed } = doc;

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
      document: { ...signed, signatures: { [serverName]: kept } },
    },
  };
}

// Signing JSON objects (spec appendix "Signing JSON"): the signature covers the
// canonical JSON of the object without `signatures` and `unsigned`; other
// servers' signatures are kept and ours is added.
import { sign as edSign, verify as edVerify, type KeyObject } from 'node:crypto';
import { canonicalJsonBytes, type JsonObject, type JsonValue } from './canonical-json.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import type { SigningKey } from './signing-key.js';

export type Signatures = Record<string, Record<string, string>>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The bytes a signature covers. */
export function signedBytes(obj: Record<string, unknown>): Buffer {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return canonicalJsonBytes(rest);
}

export function signDetached(bytes: Uint8Array, key: SigningKey): string {
  return encodeBase64(edSign(null, bytes, key.privateKey));
}

/** Returns a copy of `obj` with our signature added under signatures[serverName][keyId]. */
export function signJson<T extends Record<string, unknown>>(obj: T, serverName: string, key: SigningKey): T & { signatures: Signatures } {
  const sig = signDetached(signedBytes(obj), key);
  const existing = isObject(obj.signatures) ? (obj.signatures as Signatures) : {};
  const signatures: Signatures = { ...existing, [serverName]: { ...(existing[serverName] ?? {}), [key.keyId]: sig } };
  return { ...obj, signatures };
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Checks one signature (`signatures[serverName][keyId]`) against a public key. */
export function verifyJsonSignature(obj: unknown, serverName: string, keyId: string, publicKey: KeyObject): VerifyResult {
  if (!isObject(obj)) return { ok: false, reason: 'not a JSON object' };
  const sigs = obj.signatures;
  if (!isObject(sigs)) return { ok: false, reason: 'no signatures' };
  const byServer = sigs[serverName];
  if (!isObject(byServer)) return { ok: false, reason: `no signature from ${serverName}` };
  const sigText = byServer[keyId];
  if (typeof sigText !== 'string') return { ok: false, reason: `no signature from ${serverName} with key ${keyId}` };
  let sig: Buffer;
  try {
    sig = decodeBase64(sigText);
  } catch (e) {
    return { ok: false, reason: `signature ${keyId}: ${(e as Error).message}` };
  }
  if (sig.length !== 64) return { ok: false, reason: `signature ${keyId} is ${sig.length} bytes, expected 64` };
  let bytes: Buffer;
  try {
    bytes = signedBytes(obj);
  } catch (e) {
    return { ok: false, reason: `cannot canonicalise: ${(e as Error).message}` };
  }
  return edVerify(null, bytes, publicKey, sig) ? { ok: true } : { ok: false, reason: `signature ${keyId} from ${serverName} does not verify` };
}

export type { JsonObject, JsonValue };

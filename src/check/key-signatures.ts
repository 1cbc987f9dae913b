// Each Ed25519 key of a key document with its own signature result, as the
// federation tester lists them (and the report shows them), independent of
// where the key store's checks stopped. Pure.
import { decodeBase64 } from '../matrix/base64.js';
import { publicKeyFromBytes } from '../matrix/signing-key.js';
import { verifyJsonSignature } from '../matrix/signing.js';
import type { KeyResult } from './types.js';

/**
 * Each verification is a canonical-JSON pass over the whole document, made
 * synchronously: at most this many per document, and none for documents
 * larger than MAX_VERIFIED_BYTES (real ones are well under 1 KiB).
 */
export const MAX_KEYS_VERIFIED = 16;
export const MAX_VERIFIED_BYTES = 64 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `size`: the document's length in bytes, as received. */
export function keyResults(doc: unknown, serverName: string, size: number): KeyResult[] {
  if (!isObject(doc) || !isObject(doc.verify_keys)) return [];
  const signatures = isObject(doc.signatures) && isObject(doc.signatures[serverName]) ? doc.signatures[serverName] : {};
  const results: KeyResult[] = [];
  let verified = 0;
  for (const [keyId, entry] of Object.entries(doc.verify_keys)) {
    if (!keyId.startsWith('ed25519:')) continue;
    const key = isObject(entry) && typeof entry.key === 'string' ? entry.key : null;
    let bytes: Buffer | undefined;
    try {
      bytes = key === null ? undefined : decodeBase64(key);
    } catch {
      bytes = undefined;
    }
    const validEd25519 = bytes?.length === 32;
    const base = { key_id: keyId, key, valid_ed25519: validEd25519 };
    if (!validEd25519) {
      results.push({ ...base, signature: 'not-checked', detail: key === null ? 'no "key" string' : 'the key is not 32 bytes of base64' });
    } else if (!(keyId in signatures)) {
      results.push({ ...base, signature: 'missing', detail: `no signature by ${keyId}` });
    } else if (size > MAX_VERIFIED_BYTES) {
      results.push({ ...base, signature: 'not-checked', detail: `the document is over ${MAX_VERIFIED_BYTES / 1024} KiB; signatures are not verified one by one` });
    } else if (verified >= MAX_KEYS_VERIFIED) {
      results.push({ ...base, signature: 'not-checked', detail: `only the first ${MAX_KEYS_VERIFIED} signatures are verified` });
    } else {
      verified++;
      const r = verifyJsonSignature(doc, serverName, keyId, publicKeyFromBytes(bytes!));
      results.push(r.ok ? { ...base, signature: 'valid', detail: `signed by ${keyId}` } : { ...base, signature: 'invalid', detail: r.reason });
    }
  }
  return results;
}

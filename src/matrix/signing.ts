// Signing JSON objects (spec appendix "Signing JSON"): the signature covers the
// canonical JSON of the object without `signatures` and `unsigned`; other
// servers' signatures are kept and ours is added.
import sodium from 'sodium-native';
import { canonicalJsonBytesWithout, type JsonObject, type JsonValue } from './canonical-json.js';
import { decodeBase64, encodeBase64 } from './base64.js';
import type { SigningKey } from './signing-key.js';

export type Signatures = Record<string, Record<string, string>>;

/**
 * A public Ed25519 key ready for verification: its 32 bytes, branded so that
 * only publicKeyFromBase64/publicKeyFromBytes (signing-key.ts, which check
 * the length), a SigningKey or a fetched ServerKey make one. Code outside
 * this module treats it as opaque and hands it to the verify functions.
 */
export type VerifyKey = Buffer & { readonly __ed25519VerifyKey: true };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const NOT_SIGNED = new Set(['signatures', 'unsigned']);

/** The bytes a signature covers. */
export function signedBytes(obj: Record<string, unknown>): Buffer {
  return canonicalJsonBytesWithout(obj, NOT_SIGNED);
}

export function signDetached(bytes: Uint8Array, key: SigningKey): string {
  const sig = Buffer.alloc(sodium.crypto_sign_BYTES);
  sodium.crypto_sign_detached(sig, bytes, key.secretKey);
  return encodeBase64(sig);
}

/** Returns a copy of `obj` with our signature added under signatures[serverName][keyId]. */
export function signJson<T extends Record<string, unknown>>(obj: T, serverName: string, key: SigningKey): T & { signatures: Signatures } {
  const sig = signDetached(signedBytes(obj), key);
  const existing = isObject(obj.signatures) ? (obj.signatures as Signatures) : {};
  const signatures: Signatures = { ...existing, [serverName]: { ...(existing[serverName] ?? {}), [key.keyId]: sig } };
  return { ...obj, signatures };
}

function decodeSignature(sigText: string, label: string): Buffer | string {
  let sig: Buffer;
  try {
    sig = decodeBase64(sigText);
  } catch (e) {
    return `signature ${label}: ${(e as Error).message}`;
  }
  return sig.length === 64 ? sig : `signature ${label} is ${sig.length} bytes, expected 64`;
}

/**
 * Checks one base64 signature over `bytes` (already the signed bytes), so a
 * caller with several signatures on one object canonicalises it once; says
 * why when it fails (verifyDetached below only says whether).
 */
export function checkDetached(bytes: Uint8Array, sigText: string, publicKey: VerifyKey, label: string): VerifyResult {
  const sig = decodeSignature(sigText, label);
  if (typeof sig === 'string') return { ok: false, reason: sig };
  return sodium.crypto_sign_verify_detached(sig, bytes, publicKey) ? { ok: true } : { ok: false, reason: `signature ${label} does not verify` };
}

export type VerifyResult = { ok: true } | { ok: false; reason: string };

/** Checks one signature (`signatures[serverName][keyId]`) against a public key. */
export function verifyJsonSignature(obj: unknown, serverName: string, keyId: string, publicKey: VerifyKey): VerifyResult {
  if (!isObject(obj)) return { ok: false, reason: 'not a JSON object' };
  const sigs = obj.signatures;
  if (!isObject(sigs)) return { ok: false, reason: 'no signatures' };
  const byServer = sigs[serverName];
  if (!isObject(byServer)) return { ok: false, reason: `no signature from ${serverName}` };
  const sigText = byServer[keyId];
  if (typeof sigText !== 'string') return { ok: false, reason: `no signature from ${serverName} with key ${keyId}` };
  const sig = decodeSignature(sigText, keyId);
  if (typeof sig === 'string') return { ok: false, reason: sig };
  let bytes: Buffer;
  try {
    bytes = signedBytes(obj);
  } catch (e) {
    return { ok: false, reason: `cannot canonicalise: ${(e as Error).message}` };
  }
  return sodium.crypto_sign_verify_detached(sig, bytes, publicKey) ? { ok: true } : { ok: false, reason: `signature ${keyId} from ${serverName} does not verify` };
}

/** Checks an Ed25519 signature (unpadded base64) over bytes the caller already put in canonical form. */
export function verifyDetached(bytes: Uint8Array, signature: string, publicKey: VerifyKey): boolean {
  const sig = decodeSignature(signature, '');
  return typeof sig !== 'string' && sodium.crypto_sign_verify_detached(sig, bytes, publicKey);
}

export type { JsonObject, JsonValue };

// ---- X-Matrix request authentication (spec: "Request Authentication") ----

export interface XMatrixAuth {
  origin: string;
  destination?: string;
  key: string;
  sig: string;
}

export class XMatrixParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XMatrixParseError';
  }
}

/** The object whose signature authenticates a federation request. */
export function requestSigningObject(req: { method: string; uri: string; origin: string; destination: string; content?: unknown }): Record<string, unknown> {
  const obj: Record<string, unknown> = { method: req.method, uri: req.uri, origin: req.origin, destination: req.destination };
  if (req.content !== undefined) obj.content = req.content;
  return obj;
}

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Signs a request and returns the Authorization header value, every value quoted. */
export function buildXMatrixHeader(req: { method: string; uri: string; origin: string; destination: string; content?: unknown }, key: SigningKey): string {
  const sig = signDetached(signedBytes(requestSigningObject(req)), key);
  return `X-Matrix origin=${quote(req.origin)},destination=${quote(req.destination)},key=${quote(key.keyId)},sig=${quote(sig)}`;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z:/[\]@]+/;

/**
 * Parses one Authorization header value with the X-Matrix scheme (RFC 9110
 * auth-params): scheme and parameter names case-insensitive, values as tokens
 * or quoted strings with backslash escapes, whitespace around `,` and `=`,
 * unknown parameters ignored. Returns null for another scheme.
 */
export function parseXMatrixHeader(header: string): XMatrixAuth | null {
  const m = /^\s*([A-Za-z0-9!#$%&'*+\-.^_`|~]+)(?:\s+|$)/.exec(header);
  if (!m || m[1]!.toLowerCase() !== 'x-matrix') return null;
  let rest = header.slice(m[0].length);
  const params = new Map<string, string>();
  while (true) {
    rest = rest.replace(/^[\s,]+/, '');
    if (rest === '') break;
    const name = /^([A-Za-z0-9!#$%&'*+\-.^_`|~]+)\s*=\s*/.exec(rest);
    if (!name) throw new XMatrixParseError(`malformed parameter near ${JSON.stringify(rest.slice(0, 20))}`);
    rest = rest.slice(name[0].length);
    let value: string;
    if (rest.startsWith('"')) {
      let i = 1;
      value = '';
      for (; i < rest.length; i++) {
        const c = rest[i]!;
        if (c === '\\') {
          if (i + 1 >= rest.length) {
            i = rest.length;
            break;
          }
          value += rest[++i];
        } else if (c === '"') break;
        else value += c;
      }
      if (i >= rest.length) throw new XMatrixParseError(`unterminated quoted value for ${name[1]}`);
      rest = rest.slice(i + 1);
    } else {
      const tok = TOKEN.exec(rest);
      if (!tok) throw new XMatrixParseError(`missing value for ${name[1]}`);
      value = tok[0];
      rest = rest.slice(value.length);
    }
    const key = name[1]!.toLowerCase();
    if (params.has(key)) throw new XMatrixParseError(`parameter ${key} given twice`);
    params.set(key, value);
    rest = rest.replace(/^\s*/, '');
    if (rest !== '' && !rest.startsWith(',')) throw new XMatrixParseError(`expected "," after ${key}`);
  }
  const origin = params.get('origin');
  const key = params.get('key');
  const sig = params.get('sig');
  if (!origin) throw new XMatrixParseError('missing origin');
  if (!key) throw new XMatrixParseError('missing key');
  if (!sig) throw new XMatrixParseError('missing sig');
  const destination = params.get('destination');
  return destination === undefined ? { origin, key, sig } : { origin, destination, key, sig };
}

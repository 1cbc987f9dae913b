// Signing JSON objects (spec appendix "Signing JSON"): the signature covers the
// canonical JSON of the object without `signatures` and `unsigned`; other
// servers' signatures are kept and ours is added.
import sodium from 'sodium-native';
import { canonicalJson, canonicalJsonBytesWithout, type JsonObject, type JsonValue } from './canonical-json.js';
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

/**
 * The bytes a request's signature covers: the canonical JSON of its signing
 * object, written directly (every request signed or verified comes here).
 * Anything without a canonical form (a lone surrogate, a float in the
 * content) throws CanonicalJsonError, as signedBytes would.
 */
export function requestSignedBytes(req: { method: string; uri: string; origin: string; destination: string; content?: unknown }): Buffer {
  const { method, uri, origin, destination } = req;
  if (!isWellFormed(method) || !isWellFormed(uri) || !isWellFormed(origin) || !isWellFormed(destination)) return signedBytes(requestSigningObject(req));
  let content = '';
  if (req.content !== undefined) {
    try {
      content = `"content":${canonicalJson(req.content)},`;
    } catch {
      // The whole object's error names the path from its root ("content...").
      return signedBytes(requestSigningObject(req));
    }
  }
  // Keys in canonical order: content, destination, method, origin, uri.
  return Buffer.from(`{${content}"destination":${JSON.stringify(destination)},"method":${JSON.stringify(method)},"origin":${JSON.stringify(origin)},"uri":${JSON.stringify(uri)}}`, 'utf8');
}

const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed();

function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Signs a request and returns the Authorization header value, every value quoted. */
export function buildXMatrixHeader(req: { method: string; uri: string; origin: string; destination: string; content?: unknown }, key: SigningKey): string {
  const sig = signDetached(requestSignedBytes(req), key);
  return `X-Matrix origin=${quote(req.origin)},destination=${quote(req.destination)},key=${quote(key.keyId)},sig=${quote(sig)}`;
}

// Character classes of RFC 9110 (tchar), of the token values servers send
// (tchar plus `:/[]@`, for server names and key ids), and of JavaScript's
// \s, which the header's whitespace has always been read as.
const TCHAR = charClass("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
const VALUE_CHAR = charClass("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz:/[]@");

function charClass(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)] = 1;
  return table;
}

function isTchar(c: number): boolean {
  return c < 128 && TCHAR[c] === 1;
}

function isSpace(c: number): boolean {
  return (
    c === 0x20 ||
    (c >= 0x09 && c <= 0x0d) ||
    (c >= 0xa0 && (c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff))
  );
}

/**
 * Parses one Authorization header value with the X-Matrix scheme (RFC 9110
 * auth-params): scheme and parameter names case-insensitive, values as tokens
 * or quoted strings with backslash escapes, whitespace around `,` and `=`,
 * unknown parameters ignored. Returns null for another scheme.
 *
 * Every verified request goes through here, so it walks the header once by
 * index and slices values out (a quoted value is copied character by
 * character only when it holds an escape).
 */
export function parseXMatrixHeader(header: string): XMatrixAuth | null {
  const n = header.length;
  let i = 0;
  while (i < n && isSpace(header.charCodeAt(i))) i++;
  const schemeStart = i;
  while (i < n && isTchar(header.charCodeAt(i))) i++;
  if (i - schemeStart !== 8 || header.slice(schemeStart, i).toLowerCase() !== 'x-matrix') return null;
  if (i < n && !isSpace(header.charCodeAt(i))) return null;
  let origin: string | undefined;
  let destination: string | undefined;
  let key: string | undefined;
  let sig: string | undefined;
  // Parameters other than the four, for the given-twice check (real servers send none).
  let others: Set<string> | undefined;
  while (true) {
    while (i < n && (header.charCodeAt(i) === 0x2c || isSpace(header.charCodeAt(i)))) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    const nameEnd = i;
    while (i < n && isSpace(header.charCodeAt(i))) i++;
    if (nameEnd === nameStart || header.charCodeAt(i) !== 0x3d) throw new XMatrixParseError(`malformed parameter near ${JSON.stringify(header.slice(nameStart, nameStart + 20))}`);
    i++;
    while (i < n && isSpace(header.charCodeAt(i))) i++;
    const name = header.slice(nameStart, nameEnd);
    let value: string;
    if (header.charCodeAt(i) === 0x22) {
      const start = ++i;
      let escaped = false;
      while (i < n) {
        const c = header.charCodeAt(i);
        if (c === 0x22) break;
        if (c === 0x5c) {
          escaped = true;
          i++;
        }
        i++;
      }
      if (i >= n) throw new XMatrixParseError(`unterminated quoted value for ${name}`);
      value = escaped ? header.slice(start, i).replace(/\\(.)/gs, '$1') : header.slice(start, i);
      i++;
    } else {
      const start = i;
      while (i < n && header.charCodeAt(i) < 128 && VALUE_CHAR[header.charCodeAt(i)] === 1) i++;
      if (i === start) throw new XMatrixParseError(`missing value for ${name}`);
      value = header.slice(start, i);
    }
    const lower = name.toLowerCase();
    let twice: boolean;
    if (lower === 'origin') {
      twice = origin !== undefined;
      origin = value;
    } else if (lower === 'destination') {
      twice = destination !== undefined;
      destination = value;
    } else if (lower === 'key') {
      twice = key !== undefined;
      key = value;
    } else if (lower === 'sig') {
      twice = sig !== undefined;
      sig = value;
    } else {
      others ??= new Set();
      twice = others.has(lower);
      others.add(lower);
    }
    if (twice) throw new XMatrixParseError(`parameter ${lower} given twice`);
    while (i < n && isSpace(header.charCodeAt(i))) i++;
    if (i < n && header.charCodeAt(i) !== 0x2c) throw new XMatrixParseError(`expected "," after ${lower}`);
  }
  if (!origin) throw new XMatrixParseError('missing origin');
  if (!key) throw new XMatrixParseError('missing key');
  if (!sig) throw new XMatrixParseError('missing sig');
  return destination === undefined ? { origin, key, sig } : { origin, destination, key, sig };
}

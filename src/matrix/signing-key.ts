// Synapse's signing key file: one key per line, `ed25519 <version> <seed>`,
// the seed being 32 bytes in unpadded base64. Runtime signing uses node:crypto
// KeyObjects built once from the seed (OpenSSL signs ~100x faster than
// tweetnacl); see README "Dependencies".
import { createPrivateKey, createPublicKey, randomBytes, randomInt, type KeyObject } from 'node:crypto';
import { decodeBase64, encodeBase64 } from './base64.js';

export const KEY_VERSION = /^[a-zA-Z0-9_]+$/;
// DER prefixes that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI).
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface SigningKey {
  algorithm: 'ed25519';
  version: string;
  /** `ed25519:<version>` */
  keyId: string;
  seed: Buffer;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicKeyBytes: Buffer;
  /** Unpadded base64 of the public key, as published in verify_keys. */
  publicKeyBase64: string;
}

export class SigningKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningKeyError';
  }
}

export function signingKeyFromSeed(seed: Uint8Array, version: string): SigningKey {
  if (!KEY_VERSION.test(version)) throw new SigningKeyError(`invalid key version ${JSON.stringify(version)}: expected [a-zA-Z0-9_]+`);
  if (seed.length !== 32) throw new SigningKeyError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const seedBuf = Buffer.from(seed);
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seedBuf]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const publicKeyBytes = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_ED25519_PREFIX.length);
  return {
    algorithm: 'ed25519',
    version,
    keyId: `ed25519:${version}`,
    seed: seedBuf,
    privateKey,
    publicKey,
    publicKeyBytes,
    publicKeyBase64: encodeBase64(publicKeyBytes),
  };
}

export function publicKeyFromBytes(bytes: Uint8Array): KeyObject {
  if (bytes.length !== 32) throw new SigningKeyError(`an Ed25519 public key is 32 bytes, got ${bytes.length}`);
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(bytes)]), format: 'der', type: 'spki' });
}

export function publicKeyFromBase64(text: string): KeyObject {
  return publicKeyFromBytes(decodeBase64(text));
}

/** Parses a signing key file's text; `source` names the file in errors. */
export function parseSigningKeys(text: string, source = 'signing key file'): SigningKey[] {
  const keys: SigningKey[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    const where = `${source}:${index + 1}`;
    const parts = line.trim().split(/\s+/).filter(Boolean);
    if (parts.length === 0 || parts[0]!.startsWith('#')) return;
    if (parts.length !== 3) {
      throw new SigningKeyError(`${where}: expected "ed25519 <version> <base64 seed>", found ${parts.length} field(s)`);
    }
    const [algorithm, version, seedText] = parts as [string, string, string];
    if (algorithm !== 'ed25519') throw new SigningKeyError(`${where}: unsupported algorithm ${JSON.stringify(algorithm)}, only ed25519`);
    let seed: Buffer;
    try {
      seed = decodeBase64(seedText);
    } catch (e) {
      throw new SigningKeyError(`${where}: ${(e as Error).message}`);
    }
    try {
      keys.push(signingKeyFromSeed(seed, version));
    } catch (e) {
      throw new SigningKeyError(`${where}: ${(e as Error).message}`);
    }
  });
  if (keys.length === 0) throw new SigningKeyError(`${source}: no signing key found`);
  return keys;
}

export function formatSigningKeys(keys: SigningKey[]): string {
  return keys.map((k) => `${k.algorithm} ${k.version} ${encodeBase64(k.seed)}\n`).join('');
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** A new key with Synapse's naming: version `a_` plus four random letters. */
export function generateSigningKey(version?: string): SigningKey {
  const v = version ?? `a_${Array.from({ length: 4 }, () => LETTERS[randomInt(LETTERS.length)]).join('')}`;
  return signingKeyFromSeed(randomBytes(32), v);
}

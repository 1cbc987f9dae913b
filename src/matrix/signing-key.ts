// Synapse's signing key file: one key per line, `ed25519 <version> <seed>`,
// the seed being 32 bytes in unpadded base64. Runtime signing and
// verification use libsodium (sodium-native), the library Synapse's PyNaCl
// wraps: it verifies about twice as fast as node:crypto and needs no key
// object per public key, only its 32 bytes (README "Dependencies").
import { randomBytes, randomInt } from 'node:crypto';
import sodium from 'sodium-native';
import { decodeBase64, encodeBase64 } from './base64.js';
import type { VerifyKey } from './signing.js';

export const KEY_VERSION = /^[a-zA-Z0-9_]+$/;

export interface SigningKey {
  algorithm: 'ed25519';
  version: string;
  /** `ed25519:<version>` */
  keyId: string;
  seed: Buffer;
  /** libsodium's 64-byte secret key (seed then public key). */
  secretKey: Buffer;
  publicKey: VerifyKey;
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
  const publicKeyBytes = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  const secretKey = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(publicKeyBytes, secretKey, seedBuf);
  return {
    algorithm: 'ed25519',
    version,
    keyId: `ed25519:${version}`,
    seed: seedBuf,
    secretKey,
    publicKey: publicKeyBytes as VerifyKey,
    publicKeyBytes,
    publicKeyBase64: encodeBase64(publicKeyBytes),
  };
}

/** A verify key from its 32 bytes (copied, so the caller's buffer may change). */
export function publicKeyFromBytes(bytes: Uint8Array): VerifyKey {
  if (bytes.length !== 32) throw new SigningKeyError(`an Ed25519 public key is 32 bytes, got ${bytes.length}`);
  return Buffer.from(bytes) as VerifyKey;
}

export function publicKeyFromBase64(text: string): VerifyKey {
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

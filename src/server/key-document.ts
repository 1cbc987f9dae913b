// The server's own key document (GET /_matrix/key/v2/server). It is signed
// once and served as ready canonical JSON bytes; it is rebuilt only when less
// than half of its validity remains, so no request pays for a signature.
import { canonicalJsonBytes } from '../matrix/canonical-json.js';
import { signJson } from '../matrix/signing.js';
import type { SigningKey } from '../matrix/signing-key.js';

export interface OldVerifyKey {
  key: string;
  expiredTs: number;
}

export interface KeyDocumentOptions {
  serverName: string;
  signingKeys: SigningKey[];
  oldVerifyKeys: Record<string, OldVerifyKey>;
  refreshIntervalMs: number;
  now: () => number;
}

export interface KeyDocument {
  body: Buffer;
  validUntilTs: number;
  builtAt: number;
  object: Record<string, unknown>;
}

export interface KeyPublisher {
  /** The current document, rebuilt first when less than half its lifetime is left. */
  current(): KeyDocument;
  /** Replace the signing keys (key rotation) and rebuild at once. */
  setSigningKeys(keys: SigningKey[]): void;
  /** The current signing keys (the notary signs what it vouches for with them). */
  signingKeys(): readonly SigningKey[];
}

export function buildKeyDocument(opts: KeyDocumentOptions): KeyDocument {
  const now = opts.now();
  const verifyKeys: Record<string, { key: string }> = {};
  for (const k of opts.signingKeys) verifyKeys[k.keyId] = { key: k.publicKeyBase64 };
  const oldVerifyKeys: Record<string, { key: string; expired_ts: number }> = {};
  for (const [id, k] of Object.entries(opts.oldVerifyKeys)) oldVerifyKeys[id] = { key: k.key, expired_ts: k.expiredTs };
  const validUntilTs = now + opts.refreshIntervalMs;
  let doc: Record<string, unknown> = {
    server_name: opts.serverName,
    verify_keys: verifyKeys,
    old_verify_keys: oldVerifyKeys,
    valid_until_ts: validUntilTs,
  };
  for (const key of opts.signingKeys) doc = signJson(doc, opts.serverName, key);
  return { body: canonicalJsonBytes(doc), validUntilTs, builtAt: now, object: doc };
}

export function createKeyPublisher(opts: KeyDocumentOptions): KeyPublisher {
  let options = opts;
  let doc = buildKeyDocument(options);
  return {
    current() {
      if (options.now() >= doc.validUntilTs - options.refreshIntervalMs / 2) doc = buildKeyDocument(options);
      return doc;
    },
    setSigningKeys(keys) {
      options = { ...options, signingKeys: keys };
      doc = buildKeyDocument(options);
    },
    signingKeys: () => options.signingKeys,
  };
}

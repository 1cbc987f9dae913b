// Signing keys, key servers and the notary.
import { join } from 'node:path';
import { decodeBase64 } from '../matrix/base64.js';
import { ConfigError, describeValue } from './errors.js';
import { serverName, userId } from './names.js';
import {
  type RawMap,
  bool,
  duration,
  entryOf,
  field,
  indexOf,
  int,
  keyOf,
  list,
  map,
  onlyKeys,
  opt,
  path,
  section,
  size,
  str,
} from './read.js';
import type { Config, NotaryConfig, OldSigningKey, TestUser, TrustedKeyServer } from './types.js';

export const KEY_KEYS = [
  'signing_key_path',
  'signing_key',
  'old_signing_keys',
  'key_refresh_interval',
  'data_dir',
  'trusted_key_servers',
  'test_users',
  'notary',
] as const;

type KeysPart = Pick<
  Config,
  | 'signingKeyPath'
  | 'signingKey'
  | 'oldSigningKeys'
  | 'keyRefreshIntervalMs'
  | 'dataDir'
  | 'trustedKeyServers'
  | 'testUsers'
  | 'notary'
>;

export function parseKeys(raw: RawMap, baseDir: string, name: string): KeysPart {
  return {
    // Synapse's default: "<config dir>/<server_name>.signing.key".
    signingKeyPath: opt(raw, '', 'signing_key_path', (v, k) => path(v, k, baseDir), join(baseDir, `${name}.signing.key`)),
    signingKey: opt(raw, '', 'signing_key', inlineSigningKey, undefined),
    oldSigningKeys: opt(raw, '', 'old_signing_keys', oldKeys, {}),
    keyRefreshIntervalMs: opt(raw, '', 'key_refresh_interval', duration, 24 * 60 * 60 * 1000),
    dataDir: opt(raw, '', 'data_dir', (v, k) => path(v, k, baseDir), join(baseDir, 'data')),
    // Synapse falls back to matrix.org when this key is absent. fedpeer runs
    // in sandboxes and private federations where reaching out to matrix.org
    // would be a surprise (and a leak), so its default trusts no notary.
    trustedKeyServers: opt(raw, '', 'trusted_key_servers', keyServers, []),
    testUsers: opt(raw, '', 'test_users', testUsers, {}),
    notary: notary(raw),
  };
}

// The value is a secret, so the error never echoes it.
function inlineSigningKey(value: unknown, key: string): string {
  if (typeof value !== 'string' || value.trim().split(/\s+/).length !== 3) {
    throw new ConfigError(key, 'expected one line "ed25519 <key id> <base64 seed>" (value not shown: it is secret)');
  }
  return value.trim();
}

/** "ed25519:<version>" with a public key that decodes to 32 bytes. */
function ed25519Key(keyId: string, keyB64: unknown, idKey: string, valueKey: string): string {
  const m = /^([^:\s]+):(\S+)$/.exec(keyId);
  if (!m) throw new ConfigError(idKey, `expected a key id such as "ed25519:a_AbCd", got ${describeValue(keyId)}`);
  if (m[1] !== 'ed25519') throw new ConfigError(idKey, `unsupported signing algorithm ${describeValue(m[1])}; only ed25519 exists`);
  const b64 = str(keyB64, valueKey);
  let bytes: Buffer | undefined;
  try {
    bytes = decodeBase64(b64);
  } catch {
    // reported below
  }
  if (bytes?.length !== 32) {
    throw new ConfigError(valueKey, `expected an unpadded base64 Ed25519 public key (43 characters), got ${describeValue(b64)}`);
  }
  return b64;
}

function oldKeys(value: unknown, key: string): Record<string, OldSigningKey> {
  const out: Record<string, OldSigningKey> = {};
  for (const [id, v] of Object.entries(map(value, key))) {
    const k = entryOf(key, id);
    const m = map(v, k);
    if (field(m, 'expired_ts') === undefined) {
      throw new ConfigError(keyOf(k, 'expired_ts'), 'required: when the key stopped being used, in milliseconds since 1970');
    }
    out[id] = {
      key: ed25519Key(id, field(m, 'key'), k, keyOf(k, 'key')),
      expiredTs: int(field(m, 'expired_ts'), keyOf(k, 'expired_ts'), 0),
    };
  }
  return out;
}

function keyServers(value: unknown, key: string): TrustedKeyServer[] {
  return list(value, key).map((v, i) => {
    const k = indexOf(key, i);
    const m = map(v, k);
    const nameValue = field(m, 'server_name');
    if (nameValue === undefined) throw new ConfigError(keyOf(k, 'server_name'), 'required');
    const server: TrustedKeyServer = {
      serverName: serverName(nameValue, keyOf(k, 'server_name')),
      acceptKeysInsecurely: opt(m, k, 'accept_keys_insecurely', bool, false),
    };
    const verify = field(m, 'verify_keys');
    if (verify !== undefined) {
      const vk = keyOf(k, 'verify_keys');
      server.verifyKeys = {};
      for (const [id, b64] of Object.entries(map(verify, vk))) {
        server.verifyKeys[id] = ed25519Key(id, b64, entryOf(vk, id), entryOf(vk, id));
      }
    }
    return server;
  });
}

function testUsers(value: unknown, key: string): Record<string, TestUser> {
  const out: Record<string, TestUser> = {};
  for (const [id, v] of Object.entries(map(value, key))) {
    const k = entryOf(key, id);
    userId(id, k);
    // `"@alice:example.org":` with no profile is a user with no profile.
    const m = v === null ? {} : map(v, k);
    onlyKeys(m, k, ['displayname', 'avatar_url']);
    const user: TestUser = {};
    const displayname = opt(m, k, 'displayname', str, undefined);
    const avatarUrl = opt(m, k, 'avatar_url', mxc, undefined);
    if (displayname !== undefined) user.displayname = displayname;
    if (avatarUrl !== undefined) user.avatarUrl = avatarUrl;
    out[id] = user;
  }
  return out;
}

function mxc(value: unknown, key: string): string {
  const s = str(value, key);
  if (!/^mxc:\/\/[^/]+\/[^/]+$/.test(s)) {
    throw new ConfigError(key, `expected an mxc:// URI such as "mxc://example.org/abc", got ${describeValue(s)}`);
  }
  return s;
}

function notary(raw: RawMap): NotaryConfig {
  const key = 'notary';
  const m = section(raw, key);
  onlyKeys(m, key, ['max_body_size', 'max_servers', 'max_keys_per_server']);
  return {
    maxBodySize: opt(m, key, 'max_body_size', size, 64 * 1024),
    maxServers: opt(m, key, 'max_servers', (v, k) => int(v, k, 1), 100),
    maxKeysPerServer: opt(m, key, 'max_keys_per_server', (v, k) => int(v, k, 1), 50),
  };
}

// Remote server keys: direct fetch, notary queries, and a cache keyed by
// server and key id that survives restarts. Fetching is handed in (the
// federation client does it, so resolution and TLS policy apply); this module
// decides what to trust and for how long.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { TrustedKeyServer } from '../config/types.js';
import { checkServerKeys, type KeyCheck, type VerifiedServerKeys } from '../matrix/server-keys.js';
import { publicKeyFromBase64 } from '../matrix/signing-key.js';
import { verifyJsonSignature, type VerifyKey } from '../matrix/signing.js';

export interface KeyFetchers {
  /** GET /_matrix/key/v2/server on `serverName`; resolves to the parsed JSON body. */
  direct(serverName: string): Promise<unknown>;
  /** POST /_matrix/key/v2/query on `notary`; resolves to the parsed JSON body. */
  notary(notary: string, body: { server_keys: Record<string, Record<string, { minimum_valid_until_ts?: number }>> }): Promise<unknown>;
}

export interface KeyStoreOptions {
  fetchers: KeyFetchers;
  trustedKeyServers: readonly TrustedKeyServer[];
  now?: () => number;
  logger: Logger;
  /** Where the cache is persisted (under data_dir); none means memory only. */
  cacheFile?: string;
  /** An unknown key id of a cached server causes a refetch at most this often (key rotation without hammering). */
  refetchUnknownKeyAfterMs?: number;
}

export interface KeyAttempt {
  source: string;
  ok: boolean;
  checks: KeyCheck[];
  error?: string;
}

export interface KeyLookup {
  keys?: VerifiedServerKeys;
  /** 'cache', 'direct' or 'notary <name>'. */
  source?: string;
  /** What was tried, in order, with each check. */
  attempts: KeyAttempt[];
  /** True when `keys` is the last good answer kept past its validity because fetching failed. */
  stale?: boolean;
}

export interface KeyStore {
  /**
   * Keys of a server. Cached keys are used while `fresh(keys)` holds (default:
   * still valid); otherwise they are fetched directly, then from the trusted
   * notaries. With `keepStale`, a failed fetch falls back to the last good answer.
   */
  getServerKeys(serverName: string, opts?: { fresh?: (k: VerifiedServerKeys) => boolean; keepStale?: boolean; notaries?: boolean }): Promise<KeyLookup>;
  /** A current (verify_keys, not old) key for X-Matrix; refetches once when the key id is unknown. */
  lookupVerifyKey(serverName: string, keyId: string): Promise<VerifyKey | null>;
  cached(serverName: string): VerifiedServerKeys | undefined;
  /** Writes the cache file now (it is also written shortly after each change). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

interface CacheFile {
  version: 1;
  servers: Record<string, { document: Record<string, unknown>; receivedTs: number }>;
}

export function checkNotaryEntry(
  entry: unknown,
  serverName: string,
  notary: TrustedKeyServer,
  now: number,
): { ok: boolean; checks: KeyCheck[]; keys?: VerifiedServerKeys } {
  const result = checkServerKeys(entry, serverName, now);
  if (!result.ok) return result;
  const notaryKeys = Object.entries(notary.verifyKeys ?? {});
  if (notaryKeys.length === 0) {
    if (notary.acceptKeysInsecurely) {
      return { ...result, checks: [...result.checks, { check: 'self_signature', ok: true, detail: `notary ${notary.serverName} signature not checked (accept_keys_insecurely)` }] };
    }
    return { ok: false, checks: [...result.checks, { check: 'self_signature', ok: false, detail: `no verify_keys configured for notary ${notary.serverName}` }] };
  }
  const reasons: string[] = [];
  for (const [keyId, b64] of notaryKeys) {
    const r = verifyJsonSignature(entry, notary.serverName, keyId, publicKeyFromBase64(b64));
    if (r.ok) return { ...result, checks: [...result.checks, { check: 'self_signature', ok: true, detail: `notary ${notary.serverName} signed with ${keyId}` }] };
    reasons.push(r.reason);
  }
  return { ok: false, checks: [...result.checks, { check: 'self_signature', ok: false, detail: `notary signature: ${reasons.join('; ')}` }] };
}

export function createKeyStore(opts: KeyStoreOptions): KeyStore {
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const refetchAfter = opts.refetchUnknownKeyAfterMs ?? 60_000;
  const cache = new Map<string, VerifiedServerKeys>();
  const inflight = new Map<string, Promise<KeyLookup>>();
  const lastUnknownFetch = new Map<string, number>();
  let loaded: Promise<void> | undefined;
  let saveTimer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();

  async function load(): Promise<void> {
    if (!opts.cacheFile) return;
    let text: string;
    try {
      text = await readFile(opts.cacheFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, file: opts.cacheFile }, 'cannot read the key cache; starting empty');
      return;
    }
    try {
      const data = JSON.parse(text) as CacheFile;
      if (data.version !== 1 || typeof data.servers !== 'object' || data.servers === null) throw new Error('unknown format');
      for (const [name, { document, receivedTs }] of Object.entries(data.servers)) {
        // Re-checked as of when it was received: a cache file edited by hand gains nothing.
        const r = checkServerKeys(document, name, receivedTs);
        if (r.ok && r.keys) cache.set(name, r.keys);
      }
    } catch (e) {
      const aside = `${opts.cacheFile}.corrupt-${now()}`;
      await rename(opts.cacheFile, aside).catch(() => undefined);
      log.warn({ file: opts.cacheFile, movedTo: aside, reason: (e as Error).message }, 'key cache file is corrupt; set aside, starting empty');
    }
  }
  const ready = () => (loaded ??= load());

  async function save(): Promise<void> {
    if (!opts.cacheFile) return;
    const data: CacheFile = { version: 1, servers: {} };
    for (const [name, k] of cache) data.servers[name] = { document: k.document, receivedTs: k.receivedTs };
    const tmp = `${opts.cacheFile}.tmp-${process.pid}`;
    await mkdir(dirname(opts.cacheFile), { recursive: true });
    await writeFile(tmp, JSON.stringify(data), { mode: 0o600 });
    await rename(tmp, opts.cacheFile);
  }
  function scheduleSave(): void {
    if (!opts.cacheFile || saveTimer) return;
    saveTimer = setTimeout(() => {
      saveTimer = undefined;
      saving = saving.then(save).catch((e) => log.warn({ err: e }, 'cannot write the key cache'));
    }, 1000);
    saveTimer.unref();
  }

  async function fetchKeys(serverName: string, notaries: boolean): Promise<KeyLookup> {
    const attempts: KeyAttempt[] = [];
    try {
      const doc = await opts.fetchers.direct(serverName);
      const r = checkServerKeys(doc, serverName, now());
      attempts.push({ source: 'direct', ok: r.ok, checks: r.checks });
      if (r.ok && r.keys) return { keys: r.keys, source: 'direct', attempts };
    } catch (e) {
      attempts.push({ source: 'direct', ok: false, checks: [], error: (e as Error).message });
    }
    if (notaries) {
      for (const notary of opts.trustedKeyServers) {
        const source = `notary ${notary.serverName}`;
        try {
          const body = (await opts.fetchers.notary(notary.serverName, { server_keys: { [serverName]: {} } })) as { server_keys?: unknown };
          const entries = Array.isArray(body?.server_keys) ? body.server_keys : [];
          const mine = entries.filter((e) => typeof e === 'object' && e !== null && (e as { server_name?: unknown }).server_name === serverName);
          if (mine.length === 0) {
            attempts.push({ source, ok: false, checks: [], error: `the notary returned no keys for ${serverName}` });
            continue;
          }
          for (const entry of mine) {
            const r = checkNotaryEntry(entry, serverName, notary, now());
            attempts.push({ source, ok: r.ok, checks: r.checks });
            if (r.ok && r.keys) return { keys: r.keys, source, attempts };
          }
        } catch (e) {
          attempts.push({ source, ok: false, checks: [], error: (e as Error).message });
        }
      }
    }
    return { attempts };
  }

  const store: KeyStore = {
    async getServerKeys(serverName, o = {}) {
      await ready();
      const fresh = o.fresh ?? ((k: VerifiedServerKeys) => k.effectiveValidUntilTs > now());
      const hit = cache.get(serverName);
      if (hit && fresh(hit)) return { keys: hit, source: 'cache', attempts: [] };
      const notaries = o.notaries ?? true;
      const flightKey = `${serverName}\u0000${notaries}`;
      let pending = inflight.get(flightKey);
      if (!pending) {
        pending = fetchKeys(serverName, notaries).finally(() => inflight.delete(flightKey));
        inflight.set(flightKey, pending);
      }
      const result = await pending;
      if (result.keys) {
        const previous = cache.get(serverName);
        if (!previous || previous.receivedTs <= result.keys.receivedTs) {
          cache.set(serverName, result.keys);
          scheduleSave();
        }
        return result;
      }
      const last = cache.get(serverName);
      if (o.keepStale && last) return { ...result, keys: last, source: 'cache', stale: true };
      return result;
    },

    async lookupVerifyKey(serverName, keyId) {
      const found = (k: VerifiedServerKeys | undefined) => k?.verifyKeys[keyId]?.publicKey ?? null;
      let r = await store.getServerKeys(serverName);
      let key = found(r.keys);
      if (key) return key;
      // Unknown key id on a cached document: the server may have rotated.
      // Refetch, but at most once per key id and interval, so requests
      // naming a bogus key id cannot make us fetch on every request.
      const throttleKey = `${serverName} ${keyId}`;
      const last = lastUnknownFetch.get(throttleKey) ?? -Infinity;
      if (r.source === 'cache' && now() - last >= refetchAfter) {
        lastUnknownFetch.delete(throttleKey);
        lastUnknownFetch.set(throttleKey, now());
        if (lastUnknownFetch.size > 10_000) lastUnknownFetch.delete(lastUnknownFetch.keys().next().value!);
        r = await store.getServerKeys(serverName, { fresh: () => false });
        key = found(r.keys);
      }
      return key;
    },

    cached: (serverName) => cache.get(serverName),

    async flush() {
      await ready();
      if (saveTimer) {
        clearTimeout(saveTimer);
        saveTimer = undefined;
      }
      saving = saving.then(save);
      await saving;
    },

    async close() {
      if (saveTimer) await store.flush();
      await saving.catch(() => undefined);
    },
  };
  return store;
}

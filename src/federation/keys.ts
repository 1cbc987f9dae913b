// Remote server keys: direct fetch, notary queries, and a cache keyed by
// server and key id that survives restarts. Fetching is handed in (the
// federation client does it, so resolution and TLS policy apply); this module
// decides what to trust, for how long, and how often a server is asked.
//
// Strangers can name any server (notary queries, X-Matrix origins), so:
// server names are cached under their lower-case form; one server is
// fetched at most once per `refetchUnknownKeyAfterMs` while fedpeer holds
// valid keys for it (an unknown key id or a stricter freshness asked within
// that time gets the cached answer), and a failed fetch is not repeated for
// `retryFailedFetchAfterMs`; fetches on a requester's behalf share a bounded
// capacity fairly (fair-limiter.ts) apart from those that authenticate
// requests, which have their own; a fetch every waiting requester abandoned
// is cancelled (shared-work.ts); the cache is bounded in entries and bytes
// (least recently used first out) and holds documents without `unsigned`.
import { open, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { TrustedKeyServer } from '../config/types.js';
import { checkServerKeys, type KeyCheck, type VerifiedServerKeys } from '../matrix/server-keys.js';
import { normaliseServerName } from '../matrix/server-name.js';
import { publicKeyFromBase64 } from '../matrix/signing-key.js';
import { verifyJsonSignature, type VerifyKey } from '../matrix/signing.js';
import { AbandonedError, createFairLimiter, QueueFullError, type FairLimiter } from './fair-limiter.js';
import { createSharedWork } from './shared-work.js';

export interface KeyFetchers {
  /** GET /_matrix/key/v2/server on `serverName`; resolves to the parsed JSON body. */
  direct(serverName: string, signal?: AbortSignal): Promise<unknown>;
  /** POST /_matrix/key/v2/query on `notary`; resolves to the parsed JSON body. */
  notary(notary: string, body: { server_keys: Record<string, Record<string, { minimum_valid_until_ts?: number }>> }, signal?: AbortSignal): Promise<unknown>;
}

/**
 * A key document body fetched: real ones are under 2 KiB, and what is signed
 * may be at most 32 KiB (KEY_DOCUMENT_LIMITS), so this leaves room for
 * `unsigned` while bounding what one fetch costs.
 */
export const KEY_DOCUMENT_MAX_BYTES = 64 * 1024;

/** Bounds of the key cache and of the outbound work done for it. */
export interface KeyStoreLimits {
  /** Servers cached (least recently used dropped first); default 10,000. */
  maxEntries: number;
  /** Bytes of cached documents (as JSON), which also bounds the cache file; default 16 MiB. */
  maxBytes: number;
  /** Fetches running at once on requesters' behalf (notary), over all of them; default 64. */
  maxFetches: number;
  /** Of those, for one requester; default 8. */
  maxFetchesPerRequester: number;
  /** Fetches waiting for one requester; beyond, the server is left out of that answer; default 200. */
  maxQueuedPerRequester: number;
  /** Fetches running at once to authenticate requests (their own lane); default 128. */
  maxAuthFetches: number;
}

export const DEFAULT_KEY_STORE_LIMITS: KeyStoreLimits = {
  maxEntries: 10_000,
  maxBytes: 16 * 1024 * 1024,
  maxFetches: 64,
  maxFetchesPerRequester: 8,
  maxQueuedPerRequester: 200,
  maxAuthFetches: 128,
};

export interface KeyStoreOptions {
  fetchers: KeyFetchers;
  trustedKeyServers: readonly TrustedKeyServer[];
  now?: () => number;
  logger: Logger;
  /** Where the cache is persisted (under data_dir); none means memory only. */
  cacheFile?: string;
  /**
   * While fedpeer holds valid keys of a server, it is fetched again at most
   * this often, whatever is asked (an unknown key id, a later
   * minimum_valid_until_ts): key rotation is found without a stranger being
   * able to make fedpeer fetch on every request. Default 60 s.
   */
  refetchUnknownKeyAfterMs?: number;
  /** After a failed fetch (and no valid keys), the failure is the answer for this long. Default 10 s. */
  retryFailedFetchAfterMs?: number;
  limits?: Partial<KeyStoreLimits>;
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

export interface KeyRequestOptions {
  /** When cached keys are good enough (default: still valid). */
  fresh?: (k: VerifiedServerKeys) => boolean;
  /** A failed fetch falls back to the last good answer. */
  keepStale?: boolean;
  /** Ask the trusted notaries when the direct fetch fails (default true). */
  notaries?: boolean;
  /** Key ids the caller needs: cached keys with none of them are not fresh. */
  keyIds?: readonly string[];
  /**
   * Who the fetch is done for (the client's address): such fetches share a
   * bounded capacity fairly. Absent: request authentication, in its own lane.
   */
  requester?: string;
  /** Fires when the caller is gone: it stops waiting, and a fetch nobody waits for is cancelled. */
  signal?: AbortSignal;
}

export interface KeyStore {
  /**
   * Keys of a server. Cached keys are used while `fresh(keys)` holds (default:
   * still valid); otherwise they are fetched directly, then from the trusted
   * notaries (within the throttles above). With `keepStale`, a failed fetch
   * falls back to the last good answer.
   */
  getServerKeys(serverName: string, opts?: KeyRequestOptions): Promise<KeyLookup>;
  /**
   * A current (verify_keys, not old) key for X-Matrix; an unknown key id
   * refetches within the throttle. Without one, says why (the failed fetch
   * and its cause), for the 401 the origin's users are shown.
   */
  lookupVerifyKey(serverName: string, keyId: string, opts?: { signal?: AbortSignal }): Promise<VerifyKeyAnswer>;
  cached(serverName: string): VerifiedServerKeys | undefined;
  /** A current key from the cache when it is still valid, without fetching or waiting. */
  cachedVerifyKey(serverName: string, keyId: string): VerifyKey | undefined;
  /** Cached servers and their bytes, for tests and diagnostics. */
  stats(): { entries: number; bytes: number; fetchesRunning: number; fetchesQueued: number };
  /** Writes the cache file now (it is also written shortly after each change). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** A current key of a server, or why there is none. */
export type VerifyKeyAnswer = { key: VerifyKey } | { key: null; reason: string };

function attemptFailure(a: KeyAttempt): string {
  if (a.error !== undefined) return a.error;
  const failed = a.checks.filter((c) => !c.ok);
  return failed.length ? `its key document was refused: ${failed.map((c) => `${c.check}: ${c.detail}`).join(', ')}` : 'no usable key document';
}

/**
 * Why `lookup` holds no current key `keyId` of `serverName`, in one line:
 * the fetch that failed and its cause (a blocklisted address, a refused
 * certificate, a refused document), or the key ids the document does list.
 */
export function missingKeyReason(serverName: string, keyId: string, lookup: KeyLookup): string {
  const keys = lookup.keys;
  if (keys && !lookup.stale) {
    if (keyId in keys.oldVerifyKeys) return `${keyId} of ${serverName} is an old key (old_verify_keys), not a current one`;
    const current = Object.keys(keys.verifyKeys);
    const fetched = lookup.source === 'cache' ? ', fetched less than a minute ago,' : '';
    return `no current key ${keyId} for ${serverName} (its key document${fetched} lists ${current.length ? current.join(', ') : 'none'})`;
  }
  const failed = lookup.attempts.filter((a) => !a.ok);
  if (failed.length === 0) return `no current key ${keyId} for ${serverName}`;
  // The source is worth naming only when notaries were asked too.
  const parts = failed.map((a) => (failed.length === 1 && a.source === 'direct' ? attemptFailure(a) : `${a.source}: ${attemptFailure(a)}`));
  return `no current key ${keyId} for ${serverName}: could not fetch keys of ${serverName}: ${parts.join('; ')}`;
}

interface Entry {
  keys: VerifiedServerKeys;
  /** JSON of what the cache file holds for it. */
  json: string;
}

interface LastFetch {
  at: number;
  ok: boolean;
  attempts: KeyAttempt[];
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

/** Entries of one notary answer checked for one server; a trusted notary still cannot make fedpeer check thousands. */
const MAX_NOTARY_ENTRIES_CHECKED = 4;
/** Cache entries re-checked between two turns of the event loop while loading. */
const LOAD_SLICE = 32;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function createKeyStore(opts: KeyStoreOptions): KeyStore {
  const now = opts.now ?? Date.now;
  const log = opts.logger;
  const refetchAfter = opts.refetchUnknownKeyAfterMs ?? 60_000;
  const retryFailedAfter = opts.retryFailedFetchAfterMs ?? 10_000;
  const limits: KeyStoreLimits = { ...DEFAULT_KEY_STORE_LIMITS, ...opts.limits };
  const cache = new Map<string, Entry>();
  let cacheBytes = 0;
  const lastFetch = new Map<string, LastFetch>();
  const flights = createSharedWork<KeyLookup>();
  const onBehalf: FairLimiter = createFairLimiter({
    total: limits.maxFetches,
    perKey: limits.maxFetchesPerRequester,
    maxQueuedPerKey: limits.maxQueuedPerRequester,
    maxQueued: 20 * limits.maxQueuedPerRequester,
  });
  const forAuth: FairLimiter = createFairLimiter({ total: limits.maxAuthFetches, perKey: limits.maxAuthFetches, maxQueued: 10 * limits.maxAuthFetches });
  let loaded: Promise<void> | undefined;
  let saveTimer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();
  let unserialisableLogged = false;

  function remember(name: string, keys: VerifiedServerKeys): void {
    let json: string;
    try {
      json = JSON.stringify({ document: keys.document, receivedTs: keys.receivedTs });
    } catch (e) {
      // Checked documents are canonical JSON, so this is a bug, not input: never cache what cannot be written.
      if (!unserialisableLogged) log.error({ err: e, server: name }, 'a checked key document cannot be serialised; not cached');
      unserialisableLogged = true;
      return;
    }
    forget(name);
    cache.set(name, { keys, json });
    cacheBytes += json.length;
    while (cache.size > limits.maxEntries || cacheBytes > limits.maxBytes) forget(cache.keys().next().value!);
  }

  function forget(name: string): void {
    const old = cache.get(name);
    if (!old) return;
    cache.delete(name);
    cacheBytes -= old.json.length;
  }

  function cachedEntry(name: string): VerifiedServerKeys | undefined {
    const e = cache.get(name);
    if (!e) return undefined;
    // Most recently used last, so eviction takes the least recently used.
    cache.delete(name);
    cache.set(name, e);
    return e.keys;
  }

  function bounded<V>(map: Map<string, V>, key: string, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > limits.maxEntries) map.delete(map.keys().next().value!);
  }

  async function removeStaleTemporaryFiles(file: string): Promise<void> {
    const prefix = `${basename(file)}.tmp-`;
    let names: string[];
    try {
      names = await readdir(dirname(file));
    } catch {
      return;
    }
    for (const n of names) {
      if (!n.startsWith(prefix)) continue;
      const pid = Number(n.slice(prefix.length));
      // A file of a process still running (another instance writing now) is left alone.
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) continue;
      await rm(join(dirname(file), n), { force: true }).catch(() => undefined);
    }
  }

  async function load(): Promise<void> {
    if (!opts.cacheFile) return;
    await removeStaleTemporaryFiles(opts.cacheFile);
    let text: string;
    try {
      text = await readFile(opts.cacheFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, file: opts.cacheFile }, 'cannot read the key cache; starting empty');
      return;
    }
    try {
      const data = JSON.parse(text) as { version?: unknown; servers?: unknown };
      if (data.version !== 1 || typeof data.servers !== 'object' || data.servers === null) throw new Error('unknown format');
      let n = 0;
      for (const [name, entry] of Object.entries(data.servers as Record<string, { document?: unknown; receivedTs?: unknown }>)) {
        if (cache.size >= limits.maxEntries) break;
        if (typeof entry !== 'object' || entry === null || !Number.isSafeInteger(entry.receivedTs)) continue;
        // Re-checked as of when it was received: a cache file edited by hand gains nothing.
        const r = checkServerKeys(entry.document, name, entry.receivedTs as number);
        if (r.ok && r.keys) remember(normaliseServerName(name), r.keys);
        // Checking is signature work: other requests get their turn between slices.
        if (++n % LOAD_SLICE === 0) await new Promise((resolve) => setImmediate(resolve));
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
    // Each entry was serialised when cached, so the file is the sum of bounded parts.
    const parts: string[] = [];
    for (const [name, e] of cache) parts.push(`${JSON.stringify(name)}:${e.json}`);
    const text = `{"version":1,"servers":{${parts.join(',')}}}`;
    const tmp = `${opts.cacheFile}.tmp-${process.pid}`;
    await mkdir(dirname(opts.cacheFile), { recursive: true });
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(text);
      // On disk before the rename, so a crash leaves the old file or the new one, never an empty one.
      await fh.sync();
    } finally {
      await fh.close();
    }
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

  async function fetchKeys(serverName: string, notaries: boolean, signal: AbortSignal): Promise<KeyLookup> {
    const attempts: KeyAttempt[] = [];
    try {
      const doc = await opts.fetchers.direct(serverName, signal);
      const r = checkServerKeys(doc, serverName, now());
      attempts.push({ source: 'direct', ok: r.ok, checks: r.checks });
      if (r.ok && r.keys) return { keys: r.keys, source: 'direct', attempts };
    } catch (e) {
      attempts.push({ source: 'direct', ok: false, checks: [], error: (e as Error).message });
    }
    if (notaries) {
      for (const notary of opts.trustedKeyServers) {
        if (signal.aborted) break;
        const source = `notary ${notary.serverName}`;
        try {
          const body = (await opts.fetchers.notary(notary.serverName, { server_keys: { [serverName]: {} } }, signal)) as { server_keys?: unknown };
          const entries = Array.isArray(body?.server_keys) ? body.server_keys : [];
          const mine = entries
            .filter((e) => typeof e === 'object' && e !== null && typeof (e as { server_name?: unknown }).server_name === 'string' && normaliseServerName((e as { server_name: string }).server_name) === serverName)
            .slice(0, MAX_NOTARY_ENTRIES_CHECKED);
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

  /** One fetch of `server`, shared by every caller asking meanwhile, in the caller's lane. */
  async function fetchShared(server: string, notaries: boolean, o: KeyRequestOptions): Promise<KeyLookup> {
    const lane = o.requester === undefined ? forAuth : onBehalf;
    const laneKey = o.requester ?? '';
    try {
      return await flights.join(
        `${server}\u0000${notaries}`,
        (signal) =>
          lane.run(
            laneKey,
            async () => {
              const previous = lastFetch.get(server);
              const at = now();
              bounded(lastFetch, server, { at, ok: true, attempts: [] });
              const result = await fetchKeys(server, notaries, signal);
              if (signal.aborted && !result.keys) {
                // Abandoned half way: that says nothing about the server.
                if (previous) bounded(lastFetch, server, previous);
                else lastFetch.delete(server);
              } else {
                bounded(lastFetch, server, { at, ok: result.keys !== undefined, attempts: result.attempts });
              }
              return result;
            },
            signal,
          ),
        o.signal,
      );
    } catch (e) {
      if (e instanceof QueueFullError || e instanceof AbandonedError) {
        return { attempts: [{ source: 'direct', ok: false, checks: [], error: `not fetched: ${e.message}` }] };
      }
      throw e;
    }
  }

  const store: KeyStore = {
    async getServerKeys(serverName, o = {}) {
      await ready();
      const server = normaliseServerName(serverName);
      const t = now();
      const hit = cachedEntry(server);
      const valid = hit !== undefined && hit.effectiveValidUntilTs > t;
      const fresh = o.fresh ?? ((k: VerifiedServerKeys) => k.effectiveValidUntilTs > t);
      const hasWanted = (k: VerifiedServerKeys) => !o.keyIds || o.keyIds.length === 0 || o.keyIds.some((id) => id in k.verifyKeys || id in k.oldVerifyKeys);
      if (hit && fresh(hit) && hasWanted(hit)) return { keys: hit, source: 'cache', attempts: [] };
      const last = lastFetch.get(server);
      // Throttles: valid keys were fetched recently, or the last fetch failed recently.
      if (valid && last && t - last.at < refetchAfter) return { keys: hit, source: 'cache', attempts: [] };
      if (!valid && last && !last.ok && t - last.at < retryFailedAfter) {
        const failed: KeyLookup = { attempts: last.attempts };
        return o.keepStale && hit ? { ...failed, keys: hit, source: 'cache', stale: true } : failed;
      }
      const result = await fetchShared(server, o.notaries ?? true, o);
      if (result.keys) {
        const previous = cache.get(server);
        if (!previous || previous.keys.receivedTs <= result.keys.receivedTs) {
          remember(server, result.keys);
          scheduleSave();
        }
        return result;
      }
      const kept = cache.get(server)?.keys;
      if (kept && kept.effectiveValidUntilTs > now()) return { ...result, keys: kept, source: 'cache' };
      if (o.keepStale && kept) return { ...result, keys: kept, source: 'cache', stale: true };
      return result;
    },

    async lookupVerifyKey(serverName, keyId, o = {}) {
      const r = await store.getServerKeys(serverName, { keyIds: [keyId], ...(o.signal ? { signal: o.signal } : {}) });
      const key = r.keys?.verifyKeys[keyId]?.publicKey;
      return key ? { key } : { key: null, reason: missingKeyReason(normaliseServerName(serverName), keyId, r) };
    },

    cached: (serverName) => cache.get(normaliseServerName(serverName))?.keys,

    cachedVerifyKey(serverName, keyId) {
      let e = cache.get(serverName);
      if (e === undefined) {
        const n = normaliseServerName(serverName);
        if (n === serverName) return undefined;
        e = cache.get(n);
      }
      if (e === undefined || e.keys.effectiveValidUntilTs <= now()) return undefined;
      return e.keys.verifyKeys[keyId]?.publicKey;
    },

    stats: () => ({ entries: cache.size, bytes: cacheBytes, fetchesRunning: onBehalf.running + forAuth.running, fetchesQueued: onBehalf.queued + forAuth.queued }),

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

// Step 3 of server name resolution: GET https://<hostname>/.well-known/matrix/server,
// with Synapse's caching rules (synapse/http/federation/well_known_resolver.py):
//
//   - a valid answer is cached for Cache-Control max-age (no-store counts as 0),
//     else Expires, clamped to [5 min, 48 h]; without either header, 24 h
//     with +-10% jitter;
//   - it is refetched in the last 20% of that lifetime, and kept if the
//     refetch fails temporarily (network, 5xx, oversized body);
//   - a failure is cached for 1 h, or 2 min when the name had a valid answer
//     within the last lifetime + 2 h, with +-10% jitter; such a name is also
//     retried up to 3 times, 0.5 s apart, before giving up;
//   - concurrent lookups of one name share one fetch.
//
// The fetch itself: at most 20 redirects (HTTPS only, no loops), a body
// under 51,200 bytes, a bounded time, every address through the same trust
// and blocklist policy as federation requests.
import { isIP } from 'node:net';
import { parseServerName } from '../matrix/server-name.js';
import type { DnsResolver } from './dns.js';
import { FederationError } from './errors.js';
import { exchangeFirstReachable, type Target, type Transport } from './exchange.js';
import { isProxied, type RouteChoice, type Router } from './routes.js';

/** Synapse refuses a body of 50 KiB or more (its reader stops at `length >= max`): at most 51,199 bytes. */
export const WELL_KNOWN_MAX_BYTES = 50 * 1024 - 1;
/** Addresses of one well-known host tried, as for resolution (resolver.ts MAX_TARGETS). */
const MAX_WELL_KNOWN_TARGETS = 16;
export const WELL_KNOWN_MAX_REDIRECTS = 20;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
export const WELL_KNOWN_PERIODS = {
  default: 24 * HOUR,
  jitter: 0.1,
  invalid: 1 * HOUR,
  down: 2 * MINUTE,
  rememberHadValid: 2 * HOUR,
  max: 48 * HOUR,
  min: 5 * MINUTE,
  graceFactor: 0.2,
  retryAttempts: 3,
  retryDelay: 500,
} as const;

export interface WellKnownResult {
  /** The delegated server name (`m.server`), or null when there is no valid well-known. */
  server: string | null;
  cached: boolean;
  /** What happened, for the resolution steps: statuses, redirects, cache lifetime or failure. */
  detail: string;
  /** Set when no valid answer: which check failed. */
  check?: string;
  /** What the fetch saw, when there was one (not a cache hit): for `fedpeer check`. */
  fetch?: WellKnownFetch;
}

/** One response of a fetch: a redirect or the last answer. */
export interface WellKnownResponse {
  url: string;
  status: number;
  /** The Location header of a redirect. */
  location?: string;
}

/** The facts of one fetch, structured, for diagnosis. */
export interface WellKnownFetch {
  /** Every response in order: redirects first, then the last one. */
  responses: WellKnownResponse[];
  /** The body of the 200 answer as text (its first 4 KiB), when one came. */
  body?: string;
  /** The lifetime Cache-Control/Expires asked for (ms, before clamping); absent when they say nothing. */
  headerPeriodMs?: number;
  /** How long this answer, or this failure, is cached (ms). */
  cachedForMs: number;
  /** Why there is no valid answer. */
  error?: string;
}

/** What a fetch saw so far: lines for the step's detail, and the structured responses. */
interface Trail {
  lines: string[];
  responses: WellKnownResponse[];
  body?: string;
  headerPeriodMs?: number;
}

export interface WellKnownResolver {
  get(hostname: string): Promise<WellKnownResult>;
}

export interface WellKnownOptions {
  dns: DnsResolver;
  /** federation_routes: the well-known and its redirects go the way their hosts are routed. */
  routes: Router;
  transport: Transport;
  now?: () => number;
  /** [0, 1), for the cache jitter. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** One attempt, redirects included; default 10 s. */
  timeoutMs?: number;
  connectTimeoutMs?: number;
  userAgent?: string;
  maxEntries?: number;
}

/**
 * The addresses to dial for an https URL, IP literals as they are, by the
 * host's route: a proxied name is left to the proxy (no DNS), a direct one
 * resolved. `within`: the route of the name this URL is fetched on behalf of.
 * Throws FederationError for a name no route can reach (.onion).
 */
export async function targetsForUrl(dns: DnsResolver, routes: Router, url: URL, within?: RouteChoice): Promise<Target[]> {
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 443 : Number(url.port);
  const route = routes.forName(hostname, within);
  const base = { port, host: url.host, tls_name: hostname, ...(route.index >= 0 || route.inheritedFrom ? { route } : {}) };
  if (isIP(hostname) !== 0 || isProxied(route)) return [{ ...base, address: hostname }];
  const found = await dns.addresses(hostname);
  return found.addresses.slice(0, MAX_WELL_KNOWN_TARGETS).map((a) => {
    const own = routes.forAddress(hostname, a.address, route);
    return { ...base, address: a.address, ...(own.index >= 0 ? { route: own } : {}) };
  });
}

/**
 * The body of /.well-known/matrix/server: a JSON object whose "m.server" is a
 * valid server name. Pure, so `fedpeer check` and the property tests use the
 * very rule resolution uses.
 */
export function parseWellKnownBody(body: Buffer): { ok: true; server: string } | { ok: false; check: 'json' | 'm.server'; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return { ok: false, check: 'json', reason: `body is not JSON: ${(e as Error).message}` };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, check: 'json', reason: 'body is not a JSON object' };
  const server = (parsed as Record<string, unknown>)['m.server'];
  if (typeof server !== 'string') return { ok: false, check: 'm.server', reason: '"m.server" is missing or not a string' };
  try {
    parseServerName(server);
  } catch (e) {
    return { ok: false, check: 'm.server', reason: `"m.server" ${(e as Error).message}` };
  }
  return { ok: true, server };
}

/** A failed fetch. Temporary failures keep a cached answer and are retried for names that had one. */
class FetchFailure extends Error {
  constructor(
    readonly temporary: boolean,
    readonly check: string,
    message: string,
    readonly retry = temporary,
  ) {
    super(message);
  }
}

interface Entry {
  server: string | null;
  expiresAt: number;
  ttl: number;
  check?: string;
  detail: string;
}

/**
 * The cache lifetime the headers ask for, in ms; undefined when they say
 * nothing. Synapse's reading: no-store is 0, a max-age with a value wins,
 * then the last Expires (an unparseable one is 0, "already expired").
 */
export function cachePeriodFromHeaders(rawHeaders: readonly string[], nowMs: number): number | undefined {
  const directives = new Map<string, string | undefined>();
  const expires: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name === 'expires') expires.push(value);
    if (name !== 'cache-control') continue;
    for (const directive of value.split(',')) {
      const eq = directive.indexOf('=');
      const k = (eq < 0 ? directive : directive.slice(0, eq)).trim().toLowerCase();
      directives.set(k, eq < 0 ? undefined : directive.slice(eq + 1).trim());
    }
  }
  if (directives.has('no-store')) return 0;
  const maxAge = directives.get('max-age');
  if (maxAge && /^[+-]?\d+$/.test(maxAge)) return Number(maxAge) * 1000;
  const last = expires[expires.length - 1];
  if (last !== undefined) {
    const at = Date.parse(last);
    return Number.isNaN(at) ? 0 : at - nowMs;
  }
  return undefined;
}

function clamp(ms: number): number {
  return Math.max(WELL_KNOWN_PERIODS.min, Math.min(WELL_KNOWN_PERIODS.max, ms));
}

function human(ms: number): string {
  if (ms >= HOUR) return `${+(ms / HOUR).toFixed(2)} h`;
  if (ms >= MINUTE) return `${+(ms / MINUTE).toFixed(2)} min`;
  return `${Math.round(ms / 1000)} s`;
}

export function createWellKnownResolver(opts: WellKnownOptions): WellKnownResolver {
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  const maxEntries = opts.maxEntries ?? 10_000;
  const cache = new Map<string, Entry>();
  const hadValid = new Map<string, number>();
  const inflight = new Map<string, Promise<WellKnownResult>>();
  const jitter = (): number => 1 - WELL_KNOWN_PERIODS.jitter + 2 * WELL_KNOWN_PERIODS.jitter * random();

  function bounded<K, V>(map: Map<K, V>, key: K, value: V): void {
    map.delete(key);
    map.set(key, value);
    if (map.size > maxEntries) map.delete(map.keys().next().value as K);
  }

  /** One attempt: the GET and its redirects. Returns the final 200's body and headers. */
  async function fetchOnce(hostname: string, trail: Trail, deadline: number): Promise<{ body: Buffer; rawHeaders: string[] }> {
    let url = new URL(`https://${hostname}/.well-known/matrix/server`);
    const seen = new Set<string>();
    // Redirects are fetched on the name's behalf: they keep its proxy.
    let within: RouteChoice | undefined;
    for (let redirects = 0; ; redirects++) {
      seen.add(url.href);
      let targets: Target[];
      try {
        targets = await targetsForUrl(opts.dns, opts.routes, url, within);
      } catch (e) {
        if (e instanceof FederationError) throw new FetchFailure(true, `${e.step}:${e.check}`, `${url.host}: ${e.message}`, false);
        throw new FetchFailure(true, 'dns', `${url.host}: address lookup failed: ${(e as Error).message}`);
      }
      within ??= targets[0]?.route;
      if (targets.length === 0) throw new FetchFailure(true, 'dns', `${url.host}: no A or AAAA records`);
      let response;
      try {
        response = await exchangeFirstReachable(
          opts.transport,
          targets,
          { method: 'GET', path: `${url.pathname}${url.search}`, headers: { 'user-agent': opts.userAgent ?? 'fedpeer' }, connectTimeoutMs, maxBytes: WELL_KNOWN_MAX_BYTES },
          deadline,
        );
      } catch (e) {
        const err = e as FederationError;
        // An oversized body is temporary, as in Synapse, but not worth retrying.
        throw new FetchFailure(true, err.check === 'max-bytes' ? 'max-bytes' : `${err.step}:${err.check}`, `${url.href}: ${err.message}`, err.check !== 'max-bytes');
      }
      trail.lines.push(`${url.href} -> ${response.status}`);
      const location = response.headers.location;
      trail.responses.push({ url: url.href, status: response.status, ...(location !== undefined ? { location } : {}) });
      if ([301, 302, 303, 307, 308].includes(response.status) && location !== undefined) {
        if (redirects >= WELL_KNOWN_MAX_REDIRECTS) throw new FetchFailure(true, 'redirects', `more than ${WELL_KNOWN_MAX_REDIRECTS} redirects`);
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new FetchFailure(true, 'redirect', `${url.href}: unusable Location ${JSON.stringify(location)}`);
        }
        if (next.protocol !== 'https:') throw new FetchFailure(true, 'redirect', `${url.href}: redirect to non-HTTPS ${next.href} refused`);
        if (seen.has(next.href)) throw new FetchFailure(true, 'redirect-loop', `${url.href}: redirect loop back to ${next.href}`);
        url = next;
        continue;
      }
      if (response.status >= 500) throw new FetchFailure(true, 'status', `${url.href}: status ${response.status}`);
      if (response.status !== 200) throw new FetchFailure(false, 'status', `${url.href}: status ${response.status}`);
      return response;
    }
  }

  /** Fetch and validate, retrying temporary failures for names that recently had a valid answer. */
  async function fetchValid(hostname: string, key: string, trail: Trail): Promise<{ server: string; periodMs: number; fromHeaders: boolean }> {
    const attempts = (hadValid.get(key) ?? 0) > now() ? WELL_KNOWN_PERIODS.retryAttempts : 1;
    let response: { body: Buffer; rawHeaders: string[] } | undefined;
    for (let attempt = 1; response === undefined; attempt++) {
      try {
        // Deadlines run on the monotonic clock; `now` is wall time for the cache and may be a test's.
        response = await fetchOnce(hostname, trail, performance.now() + timeoutMs);
      } catch (e) {
        if (!(e instanceof FetchFailure) || !e.retry || attempt >= attempts) throw e;
        trail.lines.push(`attempt ${attempt} failed (${e.message}); retrying`);
        await sleep(WELL_KNOWN_PERIODS.retryDelay);
      }
    }
    trail.body = response.body.subarray(0, 4096).toString('utf8');
    const parsedBody = parseWellKnownBody(response.body);
    if (!parsedBody.ok) throw new FetchFailure(false, parsedBody.check, parsedBody.reason);
    const server = parsedBody.server;
    const fromHeaders = cachePeriodFromHeaders(response.rawHeaders, now());
    if (fromHeaders !== undefined) trail.headerPeriodMs = fromHeaders;
    const periodMs = fromHeaders === undefined ? WELL_KNOWN_PERIODS.default * jitter() : clamp(fromHeaders);
    return { server, periodMs, fromHeaders: fromHeaders !== undefined };
  }

  async function refresh(hostname: string, key: string, previous: Entry | undefined): Promise<WellKnownResult> {
    const trail: Trail = { lines: [], responses: [] };
    let entry: Entry;
    let error: string | undefined;
    try {
      const { server, periodMs, fromHeaders } = await fetchValid(hostname, key, trail);
      entry = { server, expiresAt: now() + periodMs, ttl: periodMs, detail: `${trail.lines.join(', ')}; m.server ${JSON.stringify(server)}; cached ${human(periodMs)}${fromHeaders ? ' (from headers)' : ''}` };
      bounded(hadValid, key, now() + periodMs + WELL_KNOWN_PERIODS.rememberHadValid);
    } catch (e) {
      if (!(e instanceof FetchFailure)) throw e;
      error = e.message;
      const how = [...trail.lines, e.message].join(', ');
      if (previous?.server && e.temporary) {
        // Nothing is cached: the next lookup tries again while the old answer lasts.
        return { server: previous.server, cached: true, detail: `refetch failed temporarily (${how}); keeping cached m.server ${JSON.stringify(previous.server)}` };
      }
      const recent = (hadValid.get(key) ?? 0) > now();
      const periodMs = (recent ? WELL_KNOWN_PERIODS.down : WELL_KNOWN_PERIODS.invalid) * jitter();
      entry = { server: null, expiresAt: now() + periodMs, ttl: periodMs, check: e.check, detail: `${how}; failure cached ${human(periodMs)}` };
    }
    bounded(cache, key, entry);
    const fetch: WellKnownFetch = { responses: trail.responses, cachedForMs: entry.ttl };
    if (trail.body !== undefined) fetch.body = trail.body;
    if (trail.headerPeriodMs !== undefined) fetch.headerPeriodMs = trail.headerPeriodMs;
    if (error !== undefined) fetch.error = error;
    const result: WellKnownResult = { server: entry.server, cached: false, detail: entry.detail, fetch };
    if (entry.check !== undefined) result.check = entry.check;
    return result;
  }

  return {
    get(hostname) {
      const key = hostname.toLowerCase();
      const entry = cache.get(key);
      const t = now();
      if (entry && t < entry.expiresAt - WELL_KNOWN_PERIODS.graceFactor * entry.ttl) {
        const result: WellKnownResult = { server: entry.server, cached: true, detail: `cached: ${entry.detail}` };
        if (entry.check !== undefined) result.check = entry.check;
        return Promise.resolve(result);
      }
      let pending = inflight.get(key);
      if (pending === undefined) {
        const previous = entry && t < entry.expiresAt ? entry : undefined;
        pending = refresh(hostname, key, previous).finally(() => inflight.delete(key));
        inflight.set(key, pending);
      }
      return pending;
    },
  };
}

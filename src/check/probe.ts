// The I/O half of `fedpeer check`: resolve the name with the very parts
// outbound federation uses (DNS servers, well-known fetch, blocklist, trust
// policy, transport: buildFederationParts), then look at every target it
// found: TCP, TLS, the version and key endpoints. Also the client
// well-known. Gathers facts only; findings.ts says what they mean.
//
// Each run builds fresh parts, so nothing comes from an earlier run's cache
// and the well-known fetch is really made (the caller caches whole reports).
import { isIP } from 'node:net';
import type { Config } from '../config/types.js';
import { buildFederationParts, USER_AGENT, type FederationParts } from '../federation/client.js';
import { FederationError } from '../federation/errors.js';
import { AbandonedError } from '../federation/fair-limiter.js';
import { exchangeFirstReachable, type ExchangeResponse, type Target } from '../federation/exchange.js';
import { createServerNameResolver, type Resolution, type ResolutionStep } from '../federation/resolver.js';
import { isProxied, routeReport } from '../federation/routes.js';
import type { TlsPolicy } from '../federation/tls-policy.js';
import { targetsForUrl, type WellKnownResolver, type WellKnownResult } from '../federation/well-known.js';
import { checkServerKeys, KEY_DOCUMENT_LIMITS } from '../matrix/server-keys.js';
import { KEY_DOCUMENT_MAX_BYTES } from '../federation/keys.js';
import { isoOrNull } from '../matrix/timestamp.js';
import { parseServerName, type ServerName } from '../matrix/server-name.js';
import { keyResults } from './key-signatures.js';
import { probeTls } from './tls-probe.js';
import {
  REPORT_VERSION,
  type CheckFacts,
  type ClientWellKnownReport,
  type KeysReport,
  type Route,
  type SrvReport,
  type TargetReport,
  type VersionReport,
  type WellKnownReport,
} from './types.js';

export interface ProbeOptions {
  config: Config;
  /** A policy built once (the check page's); default: built from the config. */
  tlsPolicy?: TlsPolicy;
  /** Replaces federation_dns_servers. */
  dnsServers?: readonly string[];
  /** The "system" CA store, for tests. */
  systemCas?: readonly string[];
  now?: () => number;
  /** Per TCP connect; default 5 s. */
  connectTimeoutMs?: number;
  /** Per TLS handshake; default 10 s. */
  handshakeTimeoutMs?: number;
  /** Per HTTP request; default 10 s. */
  requestTimeoutMs?: number;
  dnsTimeoutMs?: number;
  wellKnownTimeoutMs?: number;
  /** Targets looked at, in order; default 10. */
  maxTargets?: number;
  /**
   * Fires when nobody wants the report any more (every visitor of the check
   * page waiting for it left): open connections are closed, nothing new is
   * started, and the run rejects with AbandonedError.
   */
  signal?: AbortSignal;
}

const SMALL_BODY_MAX_BYTES = 64 * 1024;
/** Key documents kept in the report (`keys.raw`) up to this size. */
const RAW_KEYS_MAX_BYTES = 8 * 1024;
/** Targets probed at once. */
const PARALLEL = 4;
/** Sent with the client well-known request, as a browser would send one; see docs/CHECK.md. */
export const CHECK_ORIGIN = 'https://fedpeer-check.invalid';

interface Timeouts {
  connectMs: number;
  handshakeMs: number;
  requestMs: number;
  signal?: AbortSignal;
}

/** Between steps of a run: stops one nobody waits for. */
function stopIfCancelled(t: Timeouts): void {
  if (t.signal?.aborted) throw new AbandonedError('the check was cancelled: nobody waits for it');
}

/** Runs `fn` over `items`, at most `limit` at a time, keeping the order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function parsedOrUndefined(name: string): ServerName | undefined {
  try {
    return parseServerName(name);
  } catch {
    return undefined;
  }
}

/** The host whose SRV records count: the delegated name, or the server name, when neither has a port or is an IP. */
function srvHostOf(serverName: string, delegated: string | null): string | undefined {
  const own = parsedOrUndefined(serverName);
  if (own?.kind !== 'dns' || own.port !== undefined) return undefined;
  if (delegated === null) return own.host;
  const d = parsedOrUndefined(delegated);
  return d?.kind === 'dns' && d.port === undefined ? d.host : undefined;
}

/** Which row of the resolution table produced the targets. */
export function routeOf(steps: readonly ResolutionStep[]): Route {
  const found = (name: string) => steps.some((s) => s.step === name && s.outcome === 'found');
  if (found('ip-literal') || found('delegated-ip-literal')) return 'ip-literal';
  if (found('explicit-port') || found('delegated-explicit-port')) return 'explicit-port';
  if (found('srv')) return 'srv';
  if (found('srv-legacy')) return 'srv-legacy';
  return 'default-port';
}

function wellKnownReport(url: string, wk: WellKnownResult): WellKnownReport {
  const f = wk.fetch;
  // As the resolver's step says, but a 5xx is a failure (temporary), not an absent file.
  const lastStatus = f?.responses.at(-1)?.status ?? 0;
  return {
    url,
    outcome: wk.server !== null ? 'found' : wk.check === 'status' && lastStatus < 500 ? 'none' : 'failed',
    responses: f?.responses ?? [],
    body: f?.body ?? null,
    m_server: wk.server,
    cache_seconds: f ? Math.round(f.cachedForMs / 1000) : null,
    header_cache_seconds: f?.headerPeriodMs === undefined ? null : Math.round(f.headerPeriodMs / 1000),
    check: wk.check ?? null,
    error: f?.error ?? (wk.server === null ? wk.detail : null),
  };
}

async function lookupSrv(parts: FederationParts, host: string, route: Route | null): Promise<SrvReport[]> {
  const services = [
    ['_matrix-fed._tcp', 'srv'],
    ['_matrix._tcp', 'srv-legacy'],
  ] as const;
  return Promise.all(
    services.map(async ([service, usedBy]): Promise<SrvReport> => {
      const name = `${service}.${host}`;
      const base = { service, name, used: route === usedBy };
      try {
        const r = await parts.dns.srv(name);
        return { ...base, outcome: r.records.length > 0 ? 'found' : 'none', records: r.records, error: null };
      } catch (e) {
        return { ...base, outcome: 'failed', records: [], error: (e as Error).message };
      }
    }),
  );
}

/** Whether `host` may be looked up in local DNS: not when a proxy resolves it, nor for a .onion name without a route. */
function looksUpLocally(parts: FederationParts, host: string): boolean {
  try {
    return !isProxied(parts.routes.forName(host));
  } catch {
    return false;
  }
}

/** The SRV target an address came from (the lookups are cached, so this asks DNS nothing new). */
async function srvTargetOf(parts: FederationParts, srv: SrvReport | undefined, target: Target): Promise<string | null> {
  for (const r of srv?.records ?? []) {
    if (r.port !== target.port || r.target === '.') continue;
    if (!looksUpLocally(parts, r.target)) {
      if (r.target === target.address) return r.target;
      continue;
    }
    try {
      const found = await parts.dns.addresses(r.target);
      if (found.addresses.some((a) => a.address === target.address)) return r.target;
    } catch {
      // The resolver skipped this target too.
    }
  }
  return null;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** GET over one resolved target, with its Host header and the transport's strict trust. */
async function get(parts: FederationParts, target: Target, path: string, maxBytes: number, t: Timeouts): Promise<ExchangeResponse> {
  return parts.transport.exchange(target, {
    method: 'GET',
    path,
    headers: { 'user-agent': USER_AGENT, accept: 'application/json' },
    timeoutMs: t.requestMs,
    connectTimeoutMs: t.connectMs,
    maxBytes,
    ...(t.signal ? { signal: t.signal } : {}),
  });
}

async function checkVersion(parts: FederationParts, target: Target, t: Timeouts): Promise<VersionReport> {
  try {
    const r = await get(parts, target, '/_matrix/federation/v1/version', SMALL_BODY_MAX_BYTES, t);
    const body = parseJson(r.body);
    const server = isObject(body) && isObject(body.server) ? body.server : undefined;
    if (r.status !== 200 || server === undefined) {
      return { ok: false, status: r.status, server: null, error: r.status !== 200 ? `status ${r.status}` : 'the body has no "server" object' };
    }
    return { ok: true, status: 200, server: { name: String(server.name ?? ''), version: String(server.version ?? '') }, error: null };
  } catch (e) {
    return { ok: false, status: null, server: null, error: (e as Error).message };
  }
}

async function checkKeys(parts: FederationParts, target: Target, serverName: string, now: number, t: Timeouts): Promise<KeysReport> {
  const empty = { checks: [], key_ids: [], valid_until: null, verify_keys: [], raw: null };
  let r: ExchangeResponse;
  try {
    r = await get(parts, target, '/_matrix/key/v2/server', KEY_DOCUMENT_MAX_BYTES, t);
  } catch (e) {
    return { ok: false, status: null, error: (e as Error).message, ...empty };
  }
  if (r.status !== 200) return { ok: false, status: r.status, error: `status ${r.status}`, ...empty };
  const doc = parseJson(r.body);
  if (doc === undefined) return { ok: false, status: 200, error: 'the body is not JSON', ...empty };
  const result = checkServerKeys(doc, serverName, now);
  const verifyKeys = isObject(doc) && isObject(doc.verify_keys) ? Object.keys(doc.verify_keys).slice(0, KEY_DOCUMENT_LIMITS.maxVerifyKeys) : [];
  const validUntil = isObject(doc) && Number.isSafeInteger(doc.valid_until_ts) ? isoOrNull(doc.valid_until_ts as number) : null;
  const failed = result.checks.find((c) => !c.ok);
  return {
    ok: result.ok,
    status: 200,
    error: failed ? `${failed.check}: ${failed.detail}` : null,
    checks: result.checks,
    key_ids: verifyKeys,
    valid_until: validUntil,
    verify_keys: keyResults(doc, serverName, r.body.length),
    // Reports are cached; a key document is a few hundred bytes, anything far larger is not kept.
    raw: r.body.length <= RAW_KEYS_MAX_BYTES ? doc : null,
  };
}

async function probeTarget(parts: FederationParts, target: Target, serverName: string, srvTarget: string | null, now: number, t: Timeouts): Promise<TargetReport> {
  const base = { address: target.address, port: target.port, host: target.host, tls_name: target.tls_name, route: routeReport(target.route), sni: isIP(target.tls_name) === 0 ? target.tls_name : null, srv_target: srvTarget };
  // The resolver dropped blocked addresses already; the raw TLS probe checks again, as the transport does
  // (a name a proxy resolves has no address here to check).
  const verdict = isProxied(target.route) && isIP(target.address) === 0 ? { blocked: false, rule: '' } : parts.addresses.check(target.address);
  if (verdict.blocked) {
    return { ...base, tcp: { ok: false, ms: null, error: `not dialled: ${target.address} is in ip_range_blacklist ${verdict.rule}` }, tls: null, version: null, keys: null };
  }
  stopIfCancelled(t);
  const { tcp, tls } = await probeTls(target, parts.tls, { connectTimeoutMs: t.connectMs, handshakeTimeoutMs: t.handshakeMs, now, ...(t.signal ? { signal: t.signal } : {}) });
  stopIfCancelled(t);
  // Like any outbound request: nothing is sent before the certificate is accepted.
  if (!tls?.accepted) return { ...base, tcp, tls, version: null, keys: null };
  const version = await checkVersion(parts, target, t);
  stopIfCancelled(t);
  const keys = await checkKeys(parts, target, serverName, now, t);
  return { ...base, tcp, tls, version, keys };
}

/** GET an https URL: its addresses in order, through the transport (blocklist, trust). */
async function fetchUrl(parts: FederationParts, url: URL, headers: Record<string, string>, t: Timeouts): Promise<ExchangeResponse> {
  const targets = await targetsForUrl(parts.dns, parts.routes, url);
  if (targets.length === 0) throw new Error(`${url.hostname} has no A or AAAA records`);
  return exchangeFirstReachable(
    parts.transport,
    targets,
    { method: 'GET', path: `${url.pathname}${url.search}`, headers: { 'user-agent': USER_AGENT, ...headers }, connectTimeoutMs: t.connectMs, maxBytes: SMALL_BODY_MAX_BYTES, ...(t.signal ? { signal: t.signal } : {}) },
    performance.now() + t.requestMs,
  );
}

async function checkClientWellKnown(parts: FederationParts, host: string, t: Timeouts): Promise<ClientWellKnownReport> {
  const url = `https://${host}/.well-known/matrix/client`;
  const report: ClientWellKnownReport = { url, outcome: 'failed', status: null, body: null, cors: null, base_url: null, base_url_check: null, error: null };
  let r: ExchangeResponse;
  try {
    r = await fetchUrl(parts, new URL(url), { accept: 'application/json', origin: CHECK_ORIGIN }, t);
  } catch (e) {
    return { ...report, error: (e as Error).message };
  }
  const cors = r.headers['access-control-allow-origin'];
  Object.assign(report, { status: r.status, body: r.body.subarray(0, 4096).toString('utf8'), cors: typeof cors === 'string' ? cors : null });
  if (r.status === 404) return { ...report, outcome: 'none' };
  if (r.status !== 200) return { ...report, outcome: 'invalid', error: `status ${r.status}${r.headers.location ? ` (Location: ${r.headers.location})` : ''}` };
  const doc = parseJson(r.body);
  const hs = isObject(doc) ? doc['m.homeserver'] : undefined;
  const baseUrl = isObject(hs) ? hs.base_url : undefined;
  if (typeof baseUrl !== 'string') {
    return { ...report, outcome: 'invalid', error: doc === undefined ? 'the body is not JSON' : '"m.homeserver": {"base_url": ...} is missing or not a string' };
  }
  report.outcome = 'found';
  report.base_url = baseUrl;
  let versions: URL;
  try {
    versions = new URL('_matrix/client/versions', baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`);
  } catch {
    return { ...report, base_url_check: { url: baseUrl, ok: false, status: null, error: 'not a URL' } };
  }
  if (versions.protocol !== 'https:') {
    return { ...report, base_url_check: { url: versions.href, ok: false, status: null, error: `not an https URL (${versions.protocol})` } };
  }
  try {
    const v = await fetchUrl(parts, versions, { accept: 'application/json' }, t);
    return { ...report, base_url_check: { url: versions.href, ok: true, status: v.status, error: null } };
  } catch (e) {
    return { ...report, base_url_check: { url: versions.href, ok: false, status: null, error: (e as Error).message } };
  }
}

export async function probeServer(serverName: string, opts: ProbeOptions): Promise<CheckFacts> {
  const now = opts.now ?? Date.now;
  const started = performance.now();
  const checkedAt = now();
  const t: Timeouts = { connectMs: opts.connectTimeoutMs ?? 5000, handshakeMs: opts.handshakeTimeoutMs ?? 10_000, requestMs: opts.requestTimeoutMs ?? 10_000, ...(opts.signal ? { signal: opts.signal } : {}) };
  stopIfCancelled(t);
  const parts = await buildFederationParts({
    config: opts.config,
    now,
    connectTimeoutMs: t.connectMs,
    ...(opts.tlsPolicy ? { tlsPolicy: opts.tlsPolicy } : {}),
    ...(opts.dnsServers && opts.dnsServers.length > 0 ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
    ...(opts.dnsTimeoutMs ? { dnsTimeoutMs: opts.dnsTimeoutMs } : {}),
    ...(opts.wellKnownTimeoutMs ? { wellKnownTimeoutMs: opts.wellKnownTimeoutMs } : {}),
  });
  // The well-known fetch inside resolution takes no signal: closing the pools ends it (and any other exchange).
  const cancel = (): void => parts.transport.close();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  try {
    // The resolver's own well-known lookup, recorded for its structured facts.
    let wk: WellKnownResult | undefined;
    const wellKnown: WellKnownResolver = { get: async (host) => (wk = await parts.wellKnown.get(host)) };
    const resolver = createServerNameResolver({ dns: parts.dns, wellKnown, addresses: parts.addresses, routes: parts.routes });
    let resolution: Resolution | undefined;
    let error: FederationError | undefined;
    try {
      resolution = await resolver.resolveServerName(serverName);
    } catch (e) {
      if (!(e instanceof FederationError)) throw e;
      error = e;
    }
    stopIfCancelled(t);
    const steps = resolution?.steps ?? ((error?.steps ?? []) as ResolutionStep[]);
    const route = resolution ? routeOf(steps) : null;
    const delegated = wk?.server ?? null;
    const own = parsedOrUndefined(serverName);
    const srvHost = srvHostOf(serverName, delegated);
    const srv = srvHost === undefined || !looksUpLocally(parts, srvHost) ? [] : await lookupSrv(parts, srvHost, route);
    const usedSrv = srv.find((s) => s.used);
    const all = resolution?.targets ?? [];
    const maxTargets = opts.maxTargets ?? 10;
    const targets = await mapLimit(all.slice(0, maxTargets), PARALLEL, async (target) =>
      probeTarget(parts, target, serverName, await srvTargetOf(parts, usedSrv, target), checkedAt, t),
    );
    stopIfCancelled(t);
    const clientWellKnown = own?.kind === 'dns' ? await checkClientWellKnown(parts, own.host, t) : null;
    stopIfCancelled(t);
    return {
      version: REPORT_VERSION,
      server_name: serverName,
      checked_at: new Date(checkedAt).toISOString(),
      duration_ms: Math.round(performance.now() - started),
      resolution: {
        delegated_server: delegated,
        route,
        steps: steps.map((s) => ({ step: s.step, lookup: s.lookup, outcome: s.outcome, detail: s.detail, cached: s.cached ?? false })),
        targets: all.map((x) => ({ address: x.address, port: x.port, host: x.host, tls_name: x.tls_name, route: routeReport(x.route) })),
        error: error ? { step: error.step, check: error.check, message: error.message } : null,
      },
      well_known: wk && own?.kind === 'dns' ? wellKnownReport(`https://${own.host}/.well-known/matrix/server`, wk) : null,
      srv,
      targets,
      targets_not_probed: Math.max(0, all.length - maxTargets),
      client_well_known: clientWellKnown,
      trust: parts.tls.describe(),
      dns_servers: [...parts.dns.servers],
    };
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    parts.transport.close();
  }
}

// The outbound federation client: one request to a server name, resolved
// as the spec says, sent to each target in order until one can be reached,
// with the Host header and certificate name the resolution step requires.
//
// This is the composition root of federation/: it builds the DNS resolver,
// the well-known cache, the trust policy and the connection pools from the
// config, so every outbound connection (well-known, federation requests,
// key fetches) goes through the same policy.
import { createBackoff, createLimiter, type Backoff, type BackoffOptions } from './backoff.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../config/types.js';
import { PACKAGE_VERSION } from '../version.js';
import { createDnsResolver, type DnsResolver } from './dns.js';
import { FederationError, hostPort } from './errors.js';
import { jsonDepth, MAX_DEPTH } from '../matrix/json-depth.js';
import { createTransport, type Target, type Transport } from './exchange.js';
import { createAddressPolicy, type AddressPolicy } from './ip-blocklist.js';
import { createServerNameResolver, type Resolution } from './resolver.js';
import { createRouter, type Router } from './routes.js';
import { tlsPolicyFromConfig, type TlsPolicy } from './tls-policy.js';
import { createWellKnownResolver, type WellKnownResolver } from './well-known.js';

export { FederationError };
export type { Resolution, Target };

/** What a request signer sees: the spec's X-Matrix signing input, less the origin, which the signer knows. */
export interface SigningInput {
  method: string;
  /** Path and query, as sent. */
  uri: string;
  /** The server name before any delegation. */
  destination: string;
  /** The parsed JSON body, when there is one. */
  content?: unknown;
}

/**
 * Returns the Authorization header value (X-Matrix ...), or undefined to
 * send the request unsigned. The next issue's key code provides one.
 */
export type RequestSigner = (input: SigningInput) => string | undefined | Promise<string | undefined>;

export interface RequestOptions {
  /** JSON-serialisable body; sent as application/json. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Whole request, resolution included; default federation_client.request_timeout. */
  timeoutMs?: number;
  /** Response body limit; default federation_client.max_response_size. */
  maxBytes?: number;
  /** A signer for this request, or false to send it unsigned; default the client's signer. */
  sign?: RequestSigner | false;
  /** Fires when nobody wants the answer any more: the request stops (FederationError check `aborted`). */
  signal?: AbortSignal;
}

export interface FederationResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Parsed JSON; undefined for an empty body. */
  body: unknown;
  /** The target that answered. */
  target: Target;
  resolution: Resolution;
}

export interface FederationClient {
  /** One request; resolves with a 2xx response's JSON, or throws FederationError. */
  request(serverName: string, method: string, path: string, options?: RequestOptions): Promise<FederationResponse>;
  resolveServerName(serverName: string): Promise<Resolution>;
  /** The destination backoff, when enabled. */
  readonly backoff: Backoff | undefined;
  /** Drops pooled connections. */
  close(): void;
  readonly tls: TlsPolicy;
  readonly dns: DnsResolver;
}

export interface FederationClientOptions {
  config: Config;
  /** Replaces federation_dns_servers. */
  dnsServers?: readonly string[];
  /** The "system" CA store (tests pass their own). */
  systemCas?: readonly string[];
  /** A ready policy, instead of building one from the config. */
  tlsPolicy?: TlsPolicy;
  /** Wall clock for caches; default Date.now. */
  now?: () => number;
  /** [0, 1) for SRV weights and cache jitter; default Math.random. */
  random?: () => number;
  /** Default signer for every request. */
  sign?: RequestSigner;
  dnsTimeoutMs?: number;
  wellKnownTimeoutMs?: number;
  /** TCP connect per address; default 10 s. */
  connectTimeoutMs?: number;
  /** Back off from failing destinations (Synapse's scheme); `serve` turns it on, one-shot commands do not. */
  backoff?: BackoffOptions;
  /** Outbound requests in flight at once over all destinations; default 512. */
  maxConcurrentRequests?: number;
}

export const USER_AGENT = `fedpeer/${PACKAGE_VERSION}`;

/** Everything resolution needs, built from a config; shared by the client and `fedpeer resolve`. */
export interface FederationParts {
  dns: DnsResolver;
  tls: TlsPolicy;
  addresses: AddressPolicy;
  /** federation_routes: which names go through which proxy, with which trust. */
  routes: Router;
  transport: Transport;
  wellKnown: WellKnownResolver;
}

export async function buildFederationParts(opts: FederationClientOptions): Promise<FederationParts> {
  const { config } = opts;
  const dnsServers = opts.dnsServers ?? config.federationDnsServers;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const dns = createDnsResolver({ servers: dnsServers, now, ...(opts.dnsTimeoutMs ? { timeoutMs: opts.dnsTimeoutMs } : {}) });
  const tls = opts.tlsPolicy ?? (await tlsPolicyFromConfig(config, opts.systemCas ? { systemCas: opts.systemCas } : {}));
  const addresses = createAddressPolicy(config.ipRangeBlacklist, config.ipRangeWhitelist);
  const routes = createRouter(config.federationRoutes);
  const transport = createTransport({ tls, addresses, maxSocketsPerTarget: config.federationClient.maxConnectionsPerDestination });
  const wellKnown = createWellKnownResolver({
    dns,
    routes,
    transport,
    now,
    random,
    userAgent: USER_AGENT,
    ...(opts.wellKnownTimeoutMs ? { timeoutMs: opts.wellKnownTimeoutMs } : {}),
    ...(opts.connectTimeoutMs ? { connectTimeoutMs: opts.connectTimeoutMs } : {}),
  });
  return { dns, tls, addresses, routes, transport, wellKnown };
}

function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export async function createFederationClient(opts: FederationClientOptions): Promise<FederationClient> {
  const { config } = opts;
  const parts = await buildFederationParts(opts);
  const resolver = createServerNameResolver({ dns: parts.dns, wellKnown: parts.wellKnown, addresses: parts.addresses, routes: parts.routes, ...(opts.random ? { random: opts.random } : {}) });
  const connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
  const domainWhitelist = config.federationDomainWhitelist === null ? null : new Set(config.federationDomainWhitelist);

  const backoff = opts.backoff ? createBackoff({ ...opts.backoff, ...(opts.now ? { now: opts.now } : {}), ...(opts.random ? { random: opts.random } : {}) }) : undefined;
  const limit = createLimiter(opts.maxConcurrentRequests ?? 512);

  async function request(serverName: string, method: string, path: string, options: RequestOptions = {}): Promise<FederationResponse> {
    backoff?.check(serverName);
    try {
      const response = await limit(() => attempt(serverName, method, path, options));
      backoff?.success(serverName);
      return response;
    } catch (e) {
      backoff?.failure(serverName, e);
      throw e;
    }
  }

  async function attempt(serverName: string, method: string, path: string, options: RequestOptions): Promise<FederationResponse> {
    if (!path.startsWith('/')) throw new FederationError('request', 'path', `path must start with "/", got ${JSON.stringify(path)}`, { serverName });
    if (domainWhitelist !== null && !domainWhitelist.has(serverName)) {
      throw new FederationError('policy', 'federation_domain_whitelist', `${serverName} is not in federation_domain_whitelist`, { serverName });
    }
    const timeoutMs = options.timeoutMs ?? config.federationClient.requestTimeoutMs;
    const maxBytes = options.maxBytes ?? config.federationClient.maxResponseSize;
    const deadline = performance.now() + timeoutMs;
    const resolution = await within(resolver.resolveServerName(serverName), timeoutMs, () =>
      new FederationError('request', 'timeout', `resolving ${serverName} took longer than ${timeoutMs} ms`, { serverName }),
    );

    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body), 'utf8');
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json', ...options.headers };
    if (body) headers['content-type'] = 'application/json';
    const signer = options.sign === false ? undefined : (options.sign ?? opts.sign);
    if (signer) {
      const authorization = await signer({ method, uri: path, destination: serverName, ...(options.body !== undefined ? { content: options.body } : {}) });
      if (authorization !== undefined) headers.authorization = authorization;
    }

    let firstConnectError: FederationError | undefined;
    for (const target of resolution.targets) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      let response;
      try {
        response = await parts.transport.exchange(target, {
          method,
          path,
          headers,
          ...(body ? { body } : {}),
          timeoutMs: left,
          connectTimeoutMs,
          maxBytes,
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } catch (e) {
        const err = e as FederationError;
        err.steps = resolution.steps;
        Object.assign(err, { serverName });
        // Only an unreachable address moves on; a refused certificate or a failed request ends here, as in Synapse.
        if ((err.step === 'connect' || err.step === 'blocklist') && err.check !== 'aborted') {
          firstConnectError ??= err;
          continue;
        }
        throw err;
      }
      return interpret(serverName, response, target, resolution);
    }
    throw (
      firstConnectError ??
      new FederationError('request', 'timeout', `no target of ${serverName} answered within ${timeoutMs} ms`, { serverName, steps: resolution.steps })
    );
  }

  return {
    request,
    backoff,
    resolveServerName: (name) => resolver.resolveServerName(name),
    close: () => parts.transport.close(),
    tls: parts.tls,
    dns: parts.dns,
  };
}

function interpret(
  serverName: string,
  response: { status: number; headers: IncomingHttpHeaders; body: Buffer },
  target: Target,
  resolution: Resolution,
): FederationResponse {
  let parsed: unknown;
  const text = response.body.toString('utf8');
  const ok = response.status >= 200 && response.status < 300;
  if (text.length > 0) {
    try {
      // Remote JSON gets the limits inbound JSON gets.
      if (jsonDepth(text) > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
      parsed = JSON.parse(text);
    } catch (e) {
      if (ok) {
        throw new FederationError('response', 'json', `${serverName} answered ${response.status} with a body that is not JSON: ${(e as Error).message}`, {
          serverName,
          status: response.status,
          steps: resolution.steps,
        });
      }
      parsed = text.slice(0, 500);
    }
  }
  if (!ok) {
    const m = parsed as { errcode?: unknown; error?: unknown } | undefined;
    const what = typeof m === 'object' && m !== null && typeof m.errcode === 'string' ? `${m.errcode}: ${String(m.error ?? '')}` : 'no Matrix error body';
    throw new FederationError('response', 'status', `${serverName} answered ${response.status} (${what})`, {
      serverName,
      target: hostPort(target.address, target.port),
      status: response.status,
      body: parsed,
      headers: response.headers,
      steps: resolution.steps,
    });
  }
  return { status: response.status, headers: response.headers, body: parsed, target, resolution };
}

// One HTTPS request to one already-resolved target: the address is dialled
// as it is (no second DNS lookup, so the blocklist check cannot be raced by
// a rebinding name), the TLS options come from the trust policy for the
// target's tls_name, and time and response size are bounded. Connections
// are kept alive in one agent per target, so a pooled connection is only
// ever reused for the same address, port, name and trust decision.
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { connectSecure, type DialOptions } from './dial.js';
import { FederationError, hostPort } from './errors.js';
import type { AddressPolicy } from './ip-blocklist.js';
import { isProxied, type RouteChoice } from './routes.js';
import type { ConnectionTrust, TlsPolicy } from './tls-policy.js';
import { tlsCheckOf } from './tls-checks.js';

export { tlsCheckOf };

/** Where to send one request: what to dial, and what to say and expect there. */
export interface Target {
  /** The IP address dialled. */
  address: string;
  port: number;
  /** The Host header: the server name or delegated name exactly as written. */
  host: string;
  /** The name the certificate must be valid for, and the SNI (none for IP addresses). */
  tls_name: string;
  /**
   * The federation_routes rule that reaches it, when one matched. Through a
   * SOCKS proxy, `address` may be a host name: the proxy resolves it.
   */
  route?: RouteChoice;
}

export interface ExchangeRequest {
  method: string;
  /** Path and query, starting with '/'. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Whole exchange, connect to last body byte. */
  timeoutMs: number;
  /** TCP connect only; a slow connect lets the caller move on to the next address. */
  connectTimeoutMs: number;
  maxBytes: number;
  /** Fires when nobody wants the answer: the connection is closed and the exchange fails with check `aborted`. */
  signal?: AbortSignal;
}

export interface ExchangeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Headers as received, repeats kept (node keeps only the first of some, such as Expires). */
  rawHeaders: string[];
  body: Buffer;
  /** Whether the certificate was verified, and if not, why. */
  verified: boolean;
  exemptBy?: string;
  /** True when a kept-alive connection carried the request. */
  reused: boolean;
}

export interface Transport {
  exchange(target: Target, req: ExchangeRequest): Promise<ExchangeResponse>;
  /** Connections currently pooled (open or in use), for tests and diagnostics. */
  pooledAgents(): number;
  close(): void;
}

export interface TransportOptions {
  tls: TlsPolicy;
  addresses: AddressPolicy;
  maxSocketsPerTarget?: number;
  /** Idle kept-alive connections close after this; default 2 min, as Synapse's pool. */
  idleTimeoutMs?: number;
  /** Agents (one per target) kept; default 1,000, least recently used dropped. */
  maxAgents?: number;
}

/** The request option that carries a routed connection's time bounds to createConnection. */
const ROUTED_SETUP = 'fedpeerRoutedSetup';

export function createTransport(opts: TransportOptions): Transport {
  const agents = new Map<string, Agent>();
  const maxAgents = opts.maxAgents ?? 1000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 120_000;

  /** `routed`: connections are made by dial.ts (a SOCKS tunnel, a pin check) rather than by the agent itself. */
  function agentFor(key: string, routed?: { target: Target; trust: ConnectionTrust }): Agent {
    let agent = agents.get(key);
    if (agent) {
      // Most recently used last.
      agents.delete(key);
      agents.set(key, agent);
      return agent;
    }
    agent = new Agent({ keepAlive: true, maxSockets: opts.maxSocketsPerTarget ?? 10, maxFreeSockets: 5, timeout: idleTimeoutMs, scheduling: 'lifo' });
    if (routed) {
      // The request's own options carry its time bounds (ROUTED_SETUP); node hands them to createConnection.
      (agent as unknown as { createConnection: unknown }).createConnection = (options: Record<string, unknown>, done: (err: Error | null, socket?: Socket) => void) => {
        // Always present for requests made here; the fallback only keeps a connection bounded should node stop passing it on.
        const setup = (options[ROUTED_SETUP] as DialOptions | undefined) ?? { connectTimeoutMs: 10_000, setupTimeoutMs: 60_000 };
        connectSecure(routed.target, routed.trust, setup).then((socket) => done(null, socket), done);
        return undefined;
      };
    }
    agents.set(key, agent);
    if (agents.size > maxAgents) {
      const [oldKey, old] = agents.entries().next().value as [string, Agent];
      agents.delete(oldKey);
      old.destroy();
    }
    return agent;
  }

  function exchange(target: Target, req: ExchangeRequest): Promise<ExchangeResponse> {
    const where = hostPort(target.address, target.port);
    const proxied = isProxied(target.route);
    // A name handed to a proxy is resolved there; fedpeer has no address to check (docs/FEDERATION.md, "Routes").
    const verdict = proxied && isIP(target.address) === 0 ? { blocked: false } : opts.addresses.check(target.address);
    if (verdict.blocked) {
      return Promise.reject(
        new FederationError('blocklist', 'ip_range_blacklist', `refusing to dial ${target.address}: in ${verdict.rule} (ip_range_blacklist) and not in ip_range_whitelist`, { target: where }),
      );
    }
    if (req.signal?.aborted) return Promise.reject(new FederationError('request', 'aborted', `${where}: not sent, nobody waits for the answer`, { target: where }));
    const trust = opts.tls.forConnection(target.tls_name, target.address, target.route);
    const routed = proxied || trust.pins !== undefined;
    const routeKey = target.route ? `|${target.route.index}|${target.route.inheritedFrom ?? ''}` : '';
    const agent = agentFor(`${where}|${target.tls_name.toLowerCase()}|${trust.exemptBy ?? 'verify'}${routeKey}`, routed ? { target, trust } : undefined);

    return new Promise<ExchangeResponse>((resolve, reject) => {
      let phase: 'connect' | 'tls' | 'request' = 'connect';
      let reused = false;
      let settled = false;
      const fail = (err: FederationError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(overall);
        clearTimeout(connectTimer);
        req.signal?.removeEventListener('abort', onAbort);
        r.destroy();
        reject(err);
      };
      const onAbort = (): void => fail(new FederationError(phase === 'connect' ? 'connect' : 'request', 'aborted', `${where}: cancelled in ${phase}, nobody waits for the answer`, { target: where }));
      // `host` is the checked IP address itself, so node dials it without any
      // DNS lookup; the names travel only in the Host header and SNI.
      const r = httpsRequest({
        host: target.address,
        port: target.port,
        method: req.method,
        path: req.path,
        agent,
        ...trust.options,
        ...(routed ? { [ROUTED_SETUP]: { connectTimeoutMs: Math.min(req.connectTimeoutMs, req.timeoutMs), setupTimeoutMs: req.timeoutMs } satisfies DialOptions } : {}),
        headers: {
          ...req.headers,
          host: target.host,
          ...(req.body ? { 'content-length': String(req.body.length) } : {}),
        },
      });
      const overall = setTimeout(() => {
        const step = phase === 'connect' ? 'connect' : phase === 'tls' ? 'tls' : 'request';
        fail(new FederationError(step, 'timeout', `${where} (${target.tls_name}): no complete response within ${req.timeoutMs} ms (stuck in ${phase})`, { target: where }));
      }, req.timeoutMs);
      // Routed connections bound their own connect and setup (dial.ts), and arrive already verified.
      const connectTimer = routed
        ? undefined
        : setTimeout(() => {
            if (phase === 'connect') fail(new FederationError('connect', 'timeout', `${where}: TCP connect took longer than ${req.connectTimeoutMs} ms`, { target: where }));
          }, Math.min(req.connectTimeoutMs, req.timeoutMs));
      req.signal?.addEventListener('abort', onAbort, { once: true });

      r.on('socket', (s: Socket) => {
        // A pooled socket is already connected and verified; a new one is still connecting.
        if (!s.connecting) {
          reused = routed ? r.reusedSocket : true;
          phase = 'request';
          clearTimeout(connectTimer);
          return;
        }
        s.once('connect', () => {
          phase = 'tls';
          clearTimeout(connectTimer);
        });
        s.once('secureConnect', () => {
          phase = 'request';
        });
      });
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof FederationError) {
          fail(e);
        } else if (phase === 'connect') {
          fail(new FederationError('connect', e.code ?? 'error', `${where}: ${e.message}`, { target: where, cause: e }));
        } else if (phase === 'tls') {
          const check = tlsCheckOf(e.code, e.message);
          const hint = check === 'certificate-name' ? ` (the certificate must be valid for ${target.tls_name})` : '';
          fail(new FederationError('tls', check, `${where} presenting a certificate for ${target.tls_name}: ${e.message}${hint}`, { target: where, cause: e }));
        } else {
          fail(new FederationError('request', e.code ?? 'error', `${where}: ${e.message}`, { target: where, cause: e }));
        }
      });
      r.on('response', (res) => {
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > req.maxBytes) {
          fail(new FederationError('response', 'max-bytes', `${where}: Content-Length ${declared} is over the ${req.maxBytes}-byte limit`, { target: where, status: res.statusCode ?? 0 }));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > req.maxBytes) {
            fail(new FederationError('response', 'max-bytes', `${where}: response body over the ${req.maxBytes}-byte limit`, { target: where, status: res.statusCode ?? 0 }));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (e: NodeJS.ErrnoException) => fail(new FederationError('response', e.code ?? 'error', `${where}: ${e.message}`, { target: where })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(overall);
          clearTimeout(connectTimer);
          req.signal?.removeEventListener('abort', onAbort);
          const out: ExchangeResponse = { status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), verified: trust.verify, reused };
          if (trust.exemptBy !== undefined) out.exemptBy = trust.exemptBy;
          resolve(out);
        });
      });
      r.end(req.body);
    });
  }

  return {
    exchange,
    pooledAgents: () => agents.size,
    close() {
      for (const agent of agents.values()) agent.destroy();
      agents.clear();
    },
  };
}

/**
 * One request to the first of `targets` that answers, as every connection
 * goes: only an unreachable (or blocked) address moves on to the next; a
 * refused certificate or a failed request ends it. Bounded by `deadline`
 * (performance.now() time). Throws the first error, or a timeout.
 */
export async function exchangeFirstReachable(
  transport: Transport,
  targets: readonly Target[],
  req: Omit<ExchangeRequest, 'timeoutMs'>,
  deadline: number,
): Promise<ExchangeResponse> {
  let firstError: FederationError | undefined;
  for (const target of targets) {
    const left = deadline - performance.now();
    if (left <= 0) break;
    try {
      return await transport.exchange(target, { ...req, timeoutMs: left });
    } catch (e) {
      const err = e as FederationError;
      firstError ??= err;
      if ((err.step !== 'connect' && err.step !== 'blocklist') || err.check === 'aborted') break;
    }
  }
  throw firstError ?? new FederationError('request', 'timeout', `no response before the deadline from ${targets.map((t) => hostPort(t.address, t.port)).join(', ') || 'no address'}`);
}

// Binds what the config's listeners ask for: one Fastify app per listener
// (its resources decide the routes), served by one node server per bind
// address through app.routing, so a listener on ['::', '0.0.0.0'] works the
// way Synapse's does.
import * as http from 'node:http';
import type { RequestListener } from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { DEFAULT_BIND_ADDRESSES } from '../config/defaults.js';
import type { Config, ListenerConfig } from '../config/types.js';
import type { CertificateStore } from './certificates.js';
import { requestListener } from './app.js';

export interface BoundServer {
  listener: ListenerConfig;
  server: http.Server | https.Server;
  address: AddressInfo | string;
  /** Whether it speaks TLS (`type: acme` listeners never do). */
  tls: boolean;
}

export interface RunningListeners {
  bound: BoundServer[];
  apps: FastifyInstance[];
  /** Stop accepting, let in-flight requests finish (at most `graceMs`), then close the apps. */
  close(graceMs?: number): Promise<void>;
}

export interface ListenerDeps {
  config: Config;
  logger: Logger;
  /** Builds the app for one listener. */
  makeApp(listener: ListenerConfig): Promise<FastifyInstance>;
  /** Required when a listener has `tls: true`. */
  certificates?: CertificateStore;
  /** Answers `type: metrics` listeners; without it they are skipped with a warning. */
  metrics?: RequestListener;
}

/** Listener types fedpeer serves; Synapse's others (manhole, replication) are skipped with a warning. */
export const SERVED_TYPES = new Set(['http', 'acme', 'metrics', 'control']);

/**
 * The configured listeners, plus Synapse's legacy ACME listener (acme.port,
 * acme.bind_addresses) when ACME is on and no `type: acme` listener exists.
 */
export function effectiveListeners(config: Config): ListenerConfig[] {
  const { acme } = config;
  if (!acme.enabled || acme.port === undefined || config.listeners.some((l) => l.type === 'acme')) return config.listeners;
  return [
    ...config.listeners,
    { kind: 'tcp', type: 'acme', port: acme.port, bindAddresses: acme.bindAddresses ?? [...DEFAULT_BIND_ADDRESSES], tls: false, xForwarded: false, resources: [] },
  ];
}

/**
 * Whether a listener is served over TLS: HTTP-01 (`type: acme`) is plain
 * HTTP by definition, and metrics are plain HTTP as in Synapse, whatever
 * `tls` says.
 */
export function speaksTls(listener: ListenerConfig): boolean {
  return listener.tls && listener.type !== 'acme' && listener.type !== 'metrics';
}

/**
 * Timeouts are enforced by a periodic sweep whose default period is 30 s,
 * which would let a client that drips its headers hold a connection for
 * headers_timeout + 30 s; a period of a tenth of the shortest timeout (at
 * most 1 s) keeps the cut-off close to the configured value.
 */
function serverLimits(config: Config): http.ServerOptions {
  const l = config.limits;
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(l.headersTimeoutMs, l.requestTimeoutMs) / 10))),
  };
}

function applyLimits(server: http.Server, config: Config): void {
  const l = config.limits;
  server.headersTimeout = l.headersTimeoutMs;
  server.requestTimeout = l.requestTimeoutMs;
  server.keepAliveTimeout = l.keepAliveTimeoutMs;
  server.maxConnections = l.maxConnections;
  closeSilentConnections(server, l.connectionTimeoutMs);
}

/**
 * connection_timeout: a connection with no traffic either way for this long
 * is closed (idle, mid-request from a client that stopped sending, waiting
 * for a client that stopped reading its answer); a TLS handshake must finish
 * within it too (handshakeTimeout, set with the TLS options). A connection
 * whose request has arrived whole and is being worked on (a notary fetch, a
 * check) is not idle: it is left alone, and the route answers within its own
 * bound (request_timeout, docs/OPERATIONS.md). Node's own `server.timeout`
 * would re-arm a socket timer on every request, which measured about 3% of
 * the key server's throughput; a sweep over the connections, as Node itself
 * does for headers_timeout and request_timeout, costs a map lookup per
 * request.
 */
function closeSilentConnections(server: http.Server, timeoutMs: number): void {
  if (timeoutMs <= 0) return;
  interface Seen {
    bytes: number;
    since: number;
    /** The answer of the request last read on it. */
    answer: http.ServerResponse | undefined;
  }
  const connections = new Map<import('node:net').Socket, Seen>();
  // The socket HTTP reads and writes: after the handshake for TLS.
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (socket: import('node:net').Socket) => {
    connections.set(socket, { bytes: 0, since: Date.now(), answer: undefined });
    socket.once('close', () => connections.delete(socket));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const seen = connections.get(req.socket);
    if (seen) seen.answer = res;
  });
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [socket, seen] of connections) {
      const bytes = socket.bytesRead + socket.bytesWritten;
      if (bytes !== seen.bytes) {
        seen.bytes = bytes;
        seen.since = now;
      } else if (now - seen.since >= timeoutMs) {
        // Received whole, not yet answered: being worked on.
        const working = seen.answer !== undefined && seen.answer.req.complete && !seen.answer.writableEnded;
        if (!working) socket.destroy();
      }
    }
  }, Math.max(50, Math.min(1000, Math.floor(timeoutMs / 10))));
  sweep.unref();
  server.once('close', () => clearInterval(sweep));
}

function listen(server: http.Server, listener: ListenerConfig, host?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (listener.kind === 'unix') server.listen(listener.path, done);
    else server.listen({ port: listener.port, host, ipv6Only: false }, done);
  });
}

/** Why a bind failed, in words, and the way out when there is a usual one. */
export function listenFailure(err: NodeJS.ErrnoException): { problem: string; fix?: string } {
  switch (err.code) {
    case 'EADDRINUSE':
      return { problem: 'another process already listens there (a second fedpeer?)', fix: "stop it, or choose another port (the listener's port, or --port)" };
    case 'EACCES':
      return { problem: 'not allowed: ports below 1024 need root or CAP_NET_BIND_SERVICE', fix: 'or use a port above 1024 behind a proxy' };
    case 'EADDRNOTAVAIL':
      return { problem: 'this machine has no such address', fix: 'bind_addresses (or --bind) must name one of its own addresses, or 0.0.0.0 / ::' };
    default:
      return { problem: err.message };
  }
}

/** Why a bind failed, in words, with the way out. */
export function listenProblem(err: NodeJS.ErrnoException): string {
  const { problem, fix } = listenFailure(err);
  if (fix === undefined) return problem;
  return fix.startsWith('or ') ? `${problem} (${fix})` : `${problem}; ${fix}`;
}

/** A bind that failed: where, and why; `problem` without the way out, for callers with a better one of their own. */
export class ListenError extends Error {
  readonly code: string | undefined;
  readonly problem: string;
  constructor(
    readonly where: string,
    readonly port: number | undefined,
    err: NodeJS.ErrnoException,
  ) {
    super(`cannot listen on ${where}: ${listenProblem(err)}`);
    this.name = 'ListenError';
    this.code = err.code;
    this.problem = listenFailure(err).problem;
  }
}

export async function startListeners(deps: ListenerDeps): Promise<RunningListeners> {
  const { config, logger } = deps;
  const bound: BoundServer[] = [];
  const apps: FastifyInstance[] = [];
  const closeAll = async (graceMs = 10_000) => {
    await Promise.all(
      bound.map(
        ({ server }) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => {
              server.closeAllConnections();
            }, graceMs);
            timer.unref();
            // A keep-alive connection whose request finishes after close()
            // turns idle and would linger until keep_alive_timeout; closing
            // idle connections as they appear lets shutdown end with the last
            // in-flight request.
            const sweep = setInterval(() => server.closeIdleConnections(), 100);
            sweep.unref();
            server.close(() => {
              clearTimeout(timer);
              clearInterval(sweep);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
    await Promise.all(apps.map((a) => a.close()));
  };
  try {
    for (const listener of effectiveListeners(config)) {
      if (!SERVED_TYPES.has(listener.type) || (listener.type === 'metrics' && !deps.metrics)) {
        logger.warn({ type: listener.type }, `listener type "${listener.type}" is not served by fedpeer; skipped`);
        continue;
      }
      let handler: RequestListener;
      if (listener.type === 'metrics') {
        handler = deps.metrics!;
      } else {
        const app = await deps.makeApp(listener);
        apps.push(app);
        handler = requestListener(app);
      }
      const hosts = listener.kind === 'unix' ? [undefined] : listener.bindAddresses;
      let boundOne = false;
      for (const host of hosts) {
        let server: http.Server;
        if (speaksTls(listener)) {
          if (!deps.certificates) throw new Error(`listener on port ${listener.kind === 'tcp' ? listener.port : listener.path} has tls: true but no certificate is configured (tls_certificate_path / tls_certificates)`);
          const tlsServer = https.createServer({ ...deps.certificates.serverOptions(), ...serverLimits(config), ...(config.limits.connectionTimeoutMs > 0 ? { handshakeTimeout: config.limits.connectionTimeoutMs } : {}) }, handler);
          deps.certificates.attach(tlsServer);
          server = tlsServer;
        } else {
          server = http.createServer(serverLimits(config), handler);
        }
        applyLimits(server, config);
        try {
          await listen(server, listener, host);
        } catch (err) {
          // Like Synapse: with ['::', '0.0.0.0'] the IPv6 socket usually takes IPv4 too,
          // so a second bind on the same port fails harmlessly.
          if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && boundOne && (host === '0.0.0.0' || host === '::')) {
            logger.debug({ host }, 'address already bound by the dual-stack socket; skipped');
            continue;
          }
          const where = listener.kind === 'unix' ? listener.path : `${host}:${listener.port}`;
          throw new ListenError(where, listener.kind === 'unix' ? undefined : listener.port, err as NodeJS.ErrnoException);
        }
        boundOne = true;
        const address = server.address() ?? '';
        bound.push({ listener, server, address, tls: speaksTls(listener) });
        logger.info({ address, type: listener.type, tls: speaksTls(listener), resources: listener.resources.flatMap((r) => r.names) }, 'listening');
      }
    }
  } catch (err) {
    await closeAll(0);
    throw err;
  }
  return { bound, apps, close: closeAll };
}

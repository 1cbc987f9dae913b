// Connections for routed targets: a TCP connection to the target, directly
// or as a tunnel through the route's SOCKS proxy, then the TLS handshake,
// then the pin check. The socket is handed to the HTTP layer only once the
// certificate is accepted, so no request byte is ever sent to a server
// whose pin did not match. Failures are FederationErrors (connect or tls)
// that name the proxy and the reason; a proxied target is never dialled
// directly, whatever happens to the proxy.
import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { FederationError, hostPort } from './errors.js';
import type { Target } from './exchange.js';
import { checkPins } from './pins.js';
import { isProxied } from './routes.js';
import { SocksError, socksConnect } from './socks.js';
import type { ConnectionTrust } from './tls-policy.js';
import { tlsCheckOf } from './tls-checks.js';

export interface DialOptions {
  /** TCP connect to the target, or to the proxy. */
  connectTimeoutMs: number;
  /** The whole setup: connect, SOCKS handshake (an onion service can take seconds to answer) and TLS. */
  setupTimeoutMs: number;
}

/** RFC 1929 needs a password; Tor's IsolateSOCKSAuth keys circuits on the username. */
const ISOLATION_PASSWORD = 'fedpeer';

/** A TCP connection to the target: to its address, or a tunnel through its route's proxy. */
export function dialTarget(target: Target, opts: DialOptions): Promise<Socket> {
  const where = hostPort(target.address, target.port);
  const route = target.route;
  if (isProxied(route)) {
    const via = route.via;
    const auth = route.isolate ? { username: target.address.toLowerCase(), password: ISOLATION_PASSWORD } : via.username !== undefined ? { username: via.username, password: via.password ?? '' } : undefined;
    return socksConnect({ proxy: via, host: target.address, port: target.port, timeoutMs: opts.setupTimeoutMs, ...(auth ? { auth } : {}) }).catch((e: unknown) => {
      if (!(e instanceof SocksError)) throw e;
      throw new FederationError('connect', e.code, `${e.message}; ${where} was not dialled directly: ${route.label} fails closed`, { target: where, cause: e });
    });
  }
  if (isIP(target.address) === 0) {
    // Never reached through resolution; a guard so a name can never slip into a direct lookup here.
    return Promise.reject(new FederationError('connect', 'not-an-address', `${where}: a direct route dials IP addresses only`, { target: where }));
  }
  return new Promise<Socket>((resolve, reject) => {
    const socket = tcpConnect({ host: target.address, port: target.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new FederationError('connect', 'timeout', `${where}: TCP connect took longer than ${opts.connectTimeoutMs} ms`, { target: where }));
    }, opts.connectTimeoutMs);
    // `on`: a socket torn down later may report more errors; the first decides, the rest must not go unhandled.
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new FederationError('connect', e.code ?? 'error', `${where}: ${e.message}`, { target: where, cause: e }));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

/** dialTarget, the TLS handshake with the trust's options, and the pin check when the route pins. */
export async function connectSecure(target: Target, trust: ConnectionTrust, opts: DialOptions): Promise<TLSSocket> {
  const deadline = performance.now() + opts.setupTimeoutMs;
  const raw = await dialTarget(target, opts);
  const where = hostPort(target.address, target.port);
  const left = Math.max(1, deadline - performance.now());
  return new Promise<TLSSocket>((resolve, reject) => {
    const socket = tlsConnect({ socket: raw, ...trust.options });
    const fail = (err: FederationError): void => {
      clearTimeout(timer);
      socket.destroy();
      raw.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new FederationError('tls', 'timeout', `${where} (${target.tls_name}): no TLS handshake within ${Math.round(left)} ms`, { target: where })), left);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const check = tlsCheckOf(e.code, e.message);
      const hint = check === 'certificate-name' ? ` (the certificate must be valid for ${target.tls_name})` : '';
      fail(new FederationError('tls', check, `${where} presenting a certificate for ${target.tls_name}: ${e.message}${hint}`, { target: where, cause: e }));
    });
    socket.once('secureConnect', () => {
      if (trust.pins !== undefined) {
        const cert = socket.getPeerX509Certificate();
        const verdict = cert ? checkPins(cert, trust.pins) : undefined;
        if (!verdict?.ok) {
          const shown = verdict ? `certificate SHA-256 ${verdict.presented.certificate}, public key ${verdict.presented.publicKey}` : 'no certificate';
          fail(new FederationError('tls', 'certificate-pin', `${where} presented ${shown}, which matches no pin of ${trust.pinnedBy}`, { target: where }));
          return;
        }
      }
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

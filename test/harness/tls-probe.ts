// One TLS handshake (and optionally one HTTPS request) against a test server,
// reporting what the server presented. Every call is bounded by a timeout and
// opens a fresh connection (no agent, no session reuse), so each one is a full
// handshake that sees the server's current certificates.
import * as https from 'node:https';
import * as tls from 'node:tls';

export interface Probe {
  /** Whether the chain verified against `ca` for the name asked. */
  authorized: boolean;
  authorizationError?: string;
  /** SHA-256 fingerprint of the leaf the server sent. */
  fingerprint: string;
  /** subjectaltname of that leaf, e.g. "DNS:example.test". */
  san: string;
  issuer: string;
  protocol: string | null;
}

export interface ProbeOptions {
  host: string;
  port: number;
  ca: string | string[];
  /** SNI to send; omit for none (what a client dialling an IP address does). */
  servername?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  timeoutMs?: number;
}

export function probeTls(opts: ProbeOptions): Promise<Probe> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      ca: opts.ca,
      // Verification is reported, not enforced, so tests can look at a refused chain too.
      rejectUnauthorized: false,
      // Hosts are IP addresses, for which Node sends no SNI unless told a name.
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
      ...(opts.minVersion ? { minVersion: opts.minVersion } : {}),
      ...(opts.maxVersion ? { maxVersion: opts.maxVersion } : {}),
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`probeTls ${opts.host}:${opts.port}: no handshake within ${opts.timeoutMs ?? 5000} ms`));
    }, opts.timeoutMs ?? 5000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const cert = socket.getPeerCertificate();
      let authorized = socket.authorized;
      let authorizationError = socket.authorizationError ? String(socket.authorizationError) : undefined;
      if (authorized && opts.servername) {
        const nameError = tls.checkServerIdentity(opts.servername, cert);
        if (nameError) {
          authorized = false;
          authorizationError = nameError.message;
        }
      }
      const probe: Probe = {
        authorized,
        fingerprint: cert.fingerprint256,
        san: cert.subjectaltname ?? '',
        issuer: String(cert.issuer?.CN ?? ''),
        protocol: socket.getProtocol(),
        ...(authorizationError !== undefined ? { authorizationError } : {}),
      };
      socket.end();
      resolve(probe);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface HttpsResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request on a fresh connection (or through `agent` for keep-alive). */
export function httpsGet(opts: {
  host: string;
  port: number;
  path: string;
  ca: string | string[];
  servername?: string;
  method?: string;
  headers?: Record<string, string>;
  agent?: https.Agent | false;
  timeoutMs?: number;
}): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: opts.host,
        port: opts.port,
        path: opts.path,
        method: opts.method ?? 'GET',
        ca: opts.ca,
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
        headers: opts.headers,
        agent: opts.agent ?? false,
        timeout: opts.timeoutMs ?? 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`httpsGet ${opts.path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `check` every `everyMs` until it returns true or `withinMs` passes; resolves to the last answer. */
export async function eventually(check: () => Promise<boolean> | boolean, { withinMs = 10_000, everyMs = 50 } = {}): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// The TCP connect and TLS handshake of `fedpeer check`, done with node:tls
// directly: the federation transport refuses a bad certificate before
// anything can be learned about it, while a diagnosis has to say why. So the
// handshake never rejects (`rejectUnauthorized: false`); the chain is judged
// by OpenSSL against the trust policy's own CA set (the same secure context
// outbound connections use), and the name by `tls.checkServerIdentity`
// against tls_name, as the policy would.
//
// The address dialled is the resolved one, checked against the blocklist by
// the caller, or the name a route's SOCKS proxy resolves (dialTarget, the
// same tunnel outbound requests use): no DNS lookup happens here.
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type DetailedPeerCertificate, type TLSSocket } from 'node:tls';
import { dialTarget } from '../federation/dial.js';
import { tlsCheckOf, type Target } from '../federation/exchange.js';
import { checkPins, pinsOf } from '../federation/pins.js';
import type { TlsPolicy } from '../federation/tls-policy.js';
import type { CertificateReport, TargetReport, TlsReport } from './types.js';

export interface TlsProbeOptions {
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** Wall clock for days_left. */
  now: number;
  /** Fires when nobody wants the result: the sockets are closed at once. */
  signal?: AbortSignal;
}

export type TlsProbeResult = Pick<TargetReport, 'tcp' | 'tls'>;

const MAX_CHAIN = 10;
const DAY = 24 * 3600_000;

/**
 * The embedded SCT list extension (RFC 6962 section 3.3), OID
 * 1.3.6.1.4.1.11129.2.4.2, as it appears in DER: tag 06, length 0A, then the
 * arcs base-128 encoded (1.3 -> 2B, 11129 -> D6 79). Searching the
 * certificate's bytes for it is enough: the encoded OID only occurs in an
 * extension's extnID, and parsing the extension list would add an ASN.1
 * decoder for one yes/no answer.
 */
const SCT_LIST_OID = Buffer.from([0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0xd6, 0x79, 0x02, 0x04, 0x02]);

export function hasEmbeddedScts(der: Buffer): boolean {
  return der.includes(SCT_LIST_OID);
}

/** One certificate, as the report shows it. */
export function describeCertificate(der: Buffer, now: number): CertificateReport {
  const x = new X509Certificate(der);
  const notAfter = new Date(x.validTo);
  return {
    subject: x.subject.split('\n').join(', '),
    issuer: x.issuer.split('\n').join(', '),
    subject_alt_names: x.subjectAltName ? x.subjectAltName.split(', ') : [],
    not_before: new Date(x.validFrom).toISOString(),
    not_after: notAfter.toISOString(),
    days_left: Math.floor(((notAfter.getTime() - now) / DAY) * 10) / 10,
    sha256: x.fingerprint256,
    public_key_sha256: pinsOf(x).publicKey,
    serial: x.serialNumber,
    sct: hasEmbeddedScts(der),
  };
}

/** The peer's chain, leaf first, as far as node links it (sent certificates, then the trust store's issuer). */
function chainOf(socket: TLSSocket, now: number): CertificateReport[] {
  const out: CertificateReport[] = [];
  let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cert?.raw && out.length < MAX_CHAIN && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    out.push(describeCertificate(cert.raw, now));
    // A self-signed root is its own issuer; the seen set ends the walk there.
    cert = cert.issuerCertificate;
  }
  return out;
}

function failedTls(check: string, error: string, trust: { verification: TlsReport['verification']; exempt_by: string | null }): TlsReport {
  return {
    ok: false,
    protocol: null,
    cipher: null,
    cipher_standard: null,
    chain: [],
    trusted: false,
    trust_error: null,
    name_valid: false,
    name_error: null,
    ...trust,
    pin_ok: null,
    accepted: false,
    check,
    error,
  };
}

/** TCP connect, then the TLS handshake with tls_name as SNI; each step bounded. */
export function probeTls(target: Target, policy: TlsPolicy, opts: TlsProbeOptions): Promise<TlsProbeResult> {
  const connection = policy.forConnection(target.tls_name, target.address, target.route);
  const verification = connection.pins !== undefined ? ('pinned' as const) : connection.verify ? ('strict' as const) : ('exempt' as const);
  const trust = { verification, exempt_by: connection.exemptBy ?? connection.pinnedBy ?? null };
  return new Promise<TlsProbeResult>((resolve) => {
    const started = performance.now();
    let settled = false;
    let tcpMs: number | null = null;
    let tlsSocket: TLSSocket | undefined;
    let raw: Socket | undefined;
    const finish = (result: TlsProbeResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      tlsSocket?.destroy();
      raw?.destroy();
      resolve(result);
    };
    const onAbort = (): void =>
      finish({ tcp: { ok: tcpMs !== null, ms: tcpMs, error: tcpMs === null ? 'cancelled' : null }, tls: tcpMs === null ? null : failedTls('aborted', 'cancelled: nobody waits for the result', trust) });
    if (opts.signal?.aborted) return resolve({ tcp: { ok: false, ms: null, error: 'cancelled' }, tls: null });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Through a proxy "TCP" is the tunnel: the proxy reached the server (an onion service may take seconds).
    let timer: NodeJS.Timeout = setTimeout(() => finish({ tcp: { ok: false, ms: null, error: `no TCP connection within ${opts.connectTimeoutMs} ms` }, tls: null }), opts.connectTimeoutMs);
    dialTarget(target, { connectTimeoutMs: opts.connectTimeoutMs, setupTimeoutMs: opts.connectTimeoutMs }).then(
      (socket) => {
        raw = socket;
        if (settled) socket.destroy();
        else connected(socket);
      },
      (e: Error & { check?: string }) => finish({ tcp: { ok: false, ms: null, error: e.message.replace(/^connect: /, '') }, tls: null }),
    );
    const connected = (raw: Socket): void => {
      tcpMs = Math.round(performance.now() - started);
      const tcp = { ok: true, ms: tcpMs, error: null };
      clearTimeout(timer);
      timer = setTimeout(() => finish({ tcp, tls: failedTls('timeout', `no TLS handshake within ${opts.handshakeTimeoutMs} ms`, trust) }), opts.handshakeTimeoutMs);
      // The name is judged below, so node's own identity check is switched off;
      // socket.authorized then reflects the chain alone.
      const socket = tlsConnect({ socket: raw, ...policy.diagnosticOptions(target.tls_name), checkServerIdentity: () => undefined });
      tlsSocket = socket;
      socket.on('error', (e: NodeJS.ErrnoException) => finish({ tcp, tls: failedTls(tlsCheckOf(e.code, e.message), `${e.code ?? 'error'}: ${e.message}`, trust) }));
      socket.once('secureConnect', () => {
        const chain = chainOf(socket, opts.now);
        const peer = socket.getPeerCertificate();
        const nameError = peer.raw ? checkServerIdentity(target.tls_name, peer) : new Error('the server sent no certificate');
        const trusted = socket.authorized;
        const nameValid = nameError === undefined;
        const x509 = socket.getPeerX509Certificate();
        const pin = connection.pins === undefined ? null : x509 ? checkPins(x509, connection.pins) : { ok: false, presented: null };
        const authorizationError = socket.authorizationError as unknown;
        finish({
          tcp,
          tls: {
            ok: true,
            protocol: socket.getProtocol() ?? null,
            cipher: socket.getCipher()?.name ?? null,
            cipher_standard: socket.getCipher()?.standardName ?? null,
            chain,
            trusted,
            trust_error: trusted ? null : authorizationError instanceof Error ? ((authorizationError as NodeJS.ErrnoException).code ?? authorizationError.message) : String(authorizationError ?? 'not trusted'),
            name_valid: nameValid,
            name_error: nameError?.message ?? null,
            ...trust,
            pin_ok: pin === null ? null : pin.ok,
            accepted: pin !== null ? pin.ok : !connection.verify || (trusted && nameValid),
            check: null,
            error: null,
          },
        });
      });
    };
  });
}

// Findings about one target: the connection, the certificate (above all
// the name it must carry, which depends on how the target was found) and
// the federation endpoints. Pure: facts in, findings out.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { hostPort } from '../federation/errors.js';
import { tlsCheckOf } from '../federation/exchange.js';
import type { FindingList } from './finding-list.js';
import type { CertificateReport, CheckFacts, TargetReport } from './types.js';

/** Certificates expiring within this many days get a warning. */
export const EXPIRY_WARNING_DAYS = 14;

/** The names a certificate is valid for: its SANs, or its CN when it has none. */
export function certificateNames(cert: CertificateReport): string[] {
  const sans = cert.subject_alt_names.flatMap((s) => {
    const m = /^(DNS|IP Address):(.*)$/.exec(s);
    return m ? [m[2]!] : [];
  });
  if (sans.length > 0) return sans;
  const cn = /(?:^|, )CN=([^,]+)/.exec(cert.subject)?.[1];
  return cn ? [cn] : [];
}

/** Whether the certificate is valid for `name`, by node's own matching rules (wildcards, IP SANs). */
export function certificateCovers(cert: CertificateReport, name: string): boolean {
  const cn = /(?:^|, )CN=([^,]+)/.exec(cert.subject)?.[1];
  const peer = { subject: cn ? { CN: cn } : {}, subjectaltname: cert.subject_alt_names.join(', ') } as unknown as PeerCertificate;
  return checkServerIdentity(name, peer) === undefined;
}

function list(names: readonly string[]): string {
  return names.length === 0 ? 'no name at all' : names.join(', ');
}

interface Context {
  facts: CheckFacts;
  /** The server name's host, lower-case (no port). */
  serverHost: string;
  /** Some target accepted a TCP connection. */
  anyConnected: boolean;
  out: FindingList;
}

function nameFindings(ctx: Context, t: TargetReport, leaf: CertificateReport, where: string): void {
  const { facts, serverHost, out } = ctx;
  const names = list(certificateNames(leaf));
  const delegated = facts.resolution.delegated_server;
  const route = facts.resolution.route;
  const srv = facts.srv.find((s) => s.used);
  const viaSrv = srv !== undefined && t.srv_target !== null && (route === 'srv' || route === 'srv-legacy');
  const srvHop = viaSrv ? `${srv.name} -> ${t.srv_target}:${t.port}` : '';
  if (delegated === null && viaSrv && certificateCovers(leaf, t.srv_target!)) {
    out.add({
      code: 'CERT_NAME_MISMATCH_SRV',
      severity: 'error',
      title: `The certificate is for the SRV target ${t.srv_target}, not the server name ${t.tls_name}`,
      explanation:
        `Reached through ${srvHop}, the certificate must be valid for ${t.tls_name} (the server name) but is valid only for ${names}. ` +
        'An SRV record only says where to connect; DNS is not authenticated, so the server there must prove the server name itself.',
      fix:
        `Serve a certificate for ${t.tls_name} there (SNI), or publish /.well-known/matrix/server {"m.server":"${t.srv_target}:${t.port}"} instead. ` +
        `With that delegation the certificate for ${t.srv_target} you already have is the right one.`,
      target: where,
    });
    return;
  }
  if (delegated !== null && certificateCovers(leaf, serverHost)) {
    const host = t.srv_target ?? t.tls_name;
    out.add({
      code: 'CERT_NAME_MISMATCH_DELEGATED',
      severity: 'error',
      title: `The certificate is for the delegating domain ${serverHost}, not the delegated name ${t.tls_name}`,
      explanation:
        `Reached through https://${serverHost}/.well-known/matrix/server {"m.server":"${delegated}"}${viaSrv ? ` and ${srvHop}` : ''}, ` +
        `the certificate must be valid for ${t.tls_name} (the delegated name) but is valid only for ${names}. ` +
        'The well-known file, fetched over HTTPS from the domain, proves the delegation; the server it names must then prove its own name.',
      fix:
        `Serve a certificate for ${t.tls_name} there (SNI), or remove the well-known delegation and publish an SRV record _matrix-fed._tcp.${serverHost} -> ${host}:${t.port} instead. ` +
        `Without the delegation the certificate for ${serverHost} you already have is the right one.`,
      target: where,
    });
    return;
  }
  const why = t.sni === null ? 'the IP address' : delegated !== null ? 'the delegated name' : 'the server name';
  out.add({
    code: 'CERT_NAME_MISMATCH',
    severity: 'error',
    title: `The certificate is not valid for ${t.tls_name}`,
    explanation:
      `The certificate must be valid for ${t.tls_name} (${why}) but is valid only for ${names}` +
      `${viaSrv ? `; reached through ${srvHop}, the SRV target's name does not count` : ''}.`,
    fix: `Serve a certificate that names ${t.tls_name} there (${t.sni === null ? 'no SNI is sent for an IP address, so as the default certificate' : `the SNI sent is ${t.sni}`}).`,
    target: where,
  });
}

function untrustedFix(code: string, chainLength: number, trust: string): string {
  if (code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' && chainLength === 1) {
    return 'If a public CA issued it, the server is not sending the intermediate certificate: configure the full chain (fullchain.pem, not cert.pem). ' +
      `In a private federation, every server must trust your CA (federation_custom_ca_list); this one trusts: ${trust}.`;
  }
  if (code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN') {
    return `Replace the self-signed certificate with one from a CA other servers trust (e.g. Let's Encrypt); in a private federation, add your CA to federation_custom_ca_list on every server (this one trusts: ${trust}).`;
  }
  return `Use a certificate from a CA other servers trust (e.g. Let's Encrypt), with its full chain; in a private federation, add your CA to federation_custom_ca_list on every server (this one trusts: ${trust}).`;
}

function certificateFindings(ctx: Context, t: TargetReport, where: string): void {
  const { facts, out } = ctx;
  const tls = t.tls!;
  const leaf = tls.chain[0];
  if (tls.verification === 'pinned') {
    // The pin replaces the CA chain and the name: nothing else about the certificate counts.
    if (tls.pin_ok !== true) {
      out.add({
        code: 'CERT_PIN_MISMATCH',
        severity: 'error',
        title: `The certificate of ${t.tls_name} matches no pin of ${tls.exempt_by}`,
        explanation:
          `${tls.exempt_by} pins the certificate of ${t.tls_name}, and the server presented certificate SHA-256 ${leaf?.sha256 ?? 'none'}, public key ${leaf?.public_key_sha256 ?? 'none'}. ` +
          'Either the server has a new certificate (and key), or this is not the server you pinned.',
        fix: `If the server changed its certificate on purpose, replace the pins with "${leaf?.public_key_sha256 ?? '<public key pin>'}" (the public key pin survives renewals that keep the key); otherwise leave the pin and find out who answers there.`,
        target: where,
      });
    }
    return;
  }
  if (tls.verification === 'exempt') {
    const would = !tls.trusted || !tls.name_valid ? ` Verified, it would be refused: ${[tls.trust_error, tls.name_error].filter(Boolean).join('; ')}.` : '';
    out.add({
      code: 'CERT_NOT_VERIFIED',
      severity: 'info',
      title: `Certificates of ${t.tls_name} are not verified`,
      explanation: `This server does not verify the certificate for ${t.tls_name} (${tls.exempt_by}), so any certificate is accepted there.${would}`,
      fix: null,
      target: where,
    });
    return;
  }
  if (leaf === undefined) return;
  if (!tls.name_valid) nameFindings(ctx, t, leaf, where);
  const checkedAt = Date.parse(facts.checked_at);
  const expired = tls.chain.find((c) => Date.parse(c.not_after) <= checkedAt);
  const early = tls.chain.find((c) => Date.parse(c.not_before) > checkedAt);
  const kind = tls.trust_error === null ? null : tlsCheckOf(tls.trust_error);
  if (expired || kind === 'certificate-expired') {
    const c = expired ?? leaf;
    const which = c === leaf ? `The certificate for ${list(certificateNames(leaf))}` : `The certificate ${c.subject} in the chain`;
    out.add({
      code: 'CERT_EXPIRED',
      severity: 'error',
      title: `The certificate expired on ${c.not_after.slice(0, 10)}`,
      explanation: `${which} expired on ${c.not_after} (${Math.abs(Math.ceil(c.days_left))} days ago). Servers refuse expired certificates.`,
      fix: 'Renew it (e.g. certbot renew), make the server load the new one (reload or restart it), and check that automatic renewal runs.',
      target: where,
    });
  } else if (early || kind === 'certificate-not-yet-valid') {
    const c = early ?? leaf;
    out.add({
      code: 'CERT_NOT_YET_VALID',
      severity: 'error',
      title: `The certificate is valid only from ${c.not_before.slice(0, 10)}`,
      explanation: `The certificate ${c.subject} is not valid before ${c.not_before}. Servers refuse it until then.`,
      fix: 'Check the clock of the machine that issued it and of this one; or serve the previous certificate until then.',
      target: where,
    });
  } else if (!tls.trusted) {
    const code = tls.trust_error ?? 'not trusted';
    out.add({
      code: 'CERT_UNTRUSTED',
      severity: 'error',
      title: 'The certificate chain does not lead to a trusted CA',
      explanation: `The certificate chain (issuer: ${leaf.issuer}) is not trusted by this server (OpenSSL: ${code}). Servers refuse the connection before sending any request.`,
      fix: untrustedFix(code, tls.chain.length, facts.trust),
      target: where,
    });
  } else if (leaf.days_left < EXPIRY_WARNING_DAYS) {
    out.add({
      code: 'CERT_EXPIRING_SOON',
      severity: 'warning',
      title: `The certificate expires in ${leaf.days_left} days`,
      explanation: `The certificate for ${list(certificateNames(leaf))} expires on ${leaf.not_after}, within ${EXPIRY_WARNING_DAYS} days. After that, servers refuse it.`,
      fix: 'Renew it now and check that automatic renewal runs (certbot renew --dry-run).',
      target: where,
    });
  }
  if (!leaf.sct) {
    out.add({
      code: 'NO_SCT',
      severity: 'info',
      title: 'No Certificate Transparency SCTs in the certificate',
      explanation:
        'The certificate carries no embedded SCTs, so it was not logged for Certificate Transparency. MSC1711 encourages CT-logged certificates; ' +
        'public CAs embed SCTs by default, so this is usual only for a private CA.',
      fix: 'Nothing to do in a private federation; on the public internet, use a certificate from a public CA.',
      target: where,
    });
  }
}

function endpointFindings(ctx: Context, t: TargetReport, where: string): void {
  const { facts, out } = ctx;
  if (t.version && !t.version.ok) {
    out.add({
      code: 'VERSION_FAILED',
      severity: 'warning',
      title: 'GET /_matrix/federation/v1/version failed',
      explanation: `The federation version endpoint did not answer properly: ${t.version.error}. It identifies the server to others; a failure usually means this port does not reach the homeserver's federation listener.`,
      fix: 'Forward /_matrix/ on this port to the homeserver (the listener with the federation resource).',
      target: where,
    });
  }
  const keys = t.keys;
  if (!keys || keys.ok) return;
  const failed = keys.checks.find((c) => !c.ok);
  if (failed === undefined) {
    out.add({
      code: 'KEY_FETCH_FAILED',
      severity: 'error',
      title: 'GET /_matrix/key/v2/server failed',
      explanation: `The server's key document could not be fetched: ${keys.error}. Without it no other server can verify anything ${facts.server_name} signs.`,
      fix: 'Forward /_matrix/key/ on this port to the homeserver (the listener with the keys or federation resource).',
      target: where,
    });
    return;
  }
  if (failed.check === 'server_name') {
    out.add({
      code: 'KEY_SERVER_NAME_MISMATCH',
      severity: 'error',
      title: `The key document is not for ${facts.server_name}`,
      explanation: `The key document served here names another server: ${failed.detail}. Servers discard keys published under another name, so nothing ${facts.server_name} signs can be verified.`,
      fix: `Point ${facts.server_name} (its well-known, SRV or address records) at the homeserver whose server_name is ${facts.server_name}, or set server_name: ${facts.server_name} in that homeserver's configuration (an existing server cannot change its name without a new database).`,
      target: where,
    });
  } else if (failed.check === 'self_signature') {
    out.add({
      code: 'KEY_BAD_SIGNATURE',
      severity: 'error',
      title: 'The key document is not signed by its own key',
      explanation: `The key document must be signed by the keys it lists: ${failed.detail}. Servers reject it, and with it every request and event from ${facts.server_name}.`,
      fix: 'Serve the homeserver\'s response unchanged (a proxy that rewrites or re-encodes JSON breaks the signature), and check that the signing key file belongs to this server.',
      target: where,
    });
  } else if (failed.check === 'valid_until_ts' && keys.valid_until !== null) {
    out.add({
      code: 'KEY_EXPIRED',
      severity: 'error',
      title: `The key document expired on ${keys.valid_until.slice(0, 10)}`,
      explanation: `${failed.detail}: servers do not accept these keys as current, so signatures made now cannot be verified.`,
      fix: 'Check the homeserver\'s clock (NTP), and that nothing caches or serves a stored copy of /_matrix/key/v2/server: it must be generated by the homeserver.',
      target: where,
    });
  } else {
    out.add({
      code: 'KEY_INVALID',
      severity: 'error',
      title: `The key document fails the ${failed.check} check`,
      explanation: `${failed.check}: ${failed.detail}. Servers reject a key document that fails any check.`,
      fix: 'Serve the homeserver\'s own /_matrix/key/v2/server: a JSON object with server_name, Ed25519 verify_keys, valid_until_ts and its signatures.',
      target: where,
    });
  }
}

export function targetFindings(ctx: Context, t: TargetReport): void {
  const where = hostPort(t.address, t.port);
  if (!t.tcp.ok && t.route !== null && t.route.via !== 'direct') {
    ctx.out.add({
      code: 'PROXY_FAILED',
      severity: ctx.anyConnected ? 'warning' : 'error',
      title: `Cannot reach ${where} through the SOCKS proxy`,
      explanation:
        `${t.route.rule} sends ${t.address} through ${t.route.via}, and that failed: ${t.tcp.error}. ` +
        'A proxied route never falls back to a direct connection, so nothing else was tried for this target.',
      fix:
        `If the proxy is not reachable, start it (Tor: systemctl start tor) or correct "via" in ${t.route.rule}. ` +
        'If the proxy answered but could not connect, the server is down or the name is wrong (for an onion service: its address, and that it is published).',
      target: where,
    });
    return;
  }
  if (!t.tcp.ok) {
    ctx.out.add({
      code: 'TCP_CONNECT_FAILED',
      severity: ctx.anyConnected ? 'warning' : 'error',
      title: `Cannot connect to ${where}`,
      explanation:
        `TCP connect to ${where} failed: ${t.tcp.error}.` +
        (ctx.anyConnected ? ' Other targets answer, so servers get through after trying this one, but each attempt costs them a failed connection.' : ' No target of this server accepts connections.'),
      fix: `Make sure the homeserver listens on port ${t.port} at ${t.address} and that no firewall blocks it: federation needs this port reachable from other servers.`,
      target: where,
    });
    return;
  }
  const tls = t.tls!;
  if (!tls.ok) {
    const plain = /wrong version number|http request/i.test(tls.error ?? '');
    ctx.out.add({
      code: 'TLS_HANDSHAKE_FAILED',
      severity: 'error',
      title: `TLS handshake with ${where} failed`,
      explanation: plain
        ? `The server at ${where} does not speak TLS (${tls.error}); it may be plain HTTP. Federation is HTTPS only.`
        : `The TLS handshake with ${where} (SNI ${t.sni ?? 'none'}) failed: ${tls.error}${tls.check === 'protocol-version' ? '; there is no TLS version both sides accept' : ''}.`,
      fix: plain
        ? `Serve HTTPS on port ${t.port}, with a certificate for ${t.tls_name}.`
        : tls.check === 'protocol-version'
          ? 'Enable TLS 1.2 and 1.3 on the server (servers refuse older versions).'
          : `Check the TLS configuration of the server at ${where}: it must answer the SNI ${t.sni ?? '(none, IP address)'} with a certificate.`,
      target: where,
    });
    return;
  }
  certificateFindings(ctx, t, where);
  endpointFindings(ctx, t, where);
}

export type { Context as TargetContext };

// The SNI certificate store: several certificate/key pairs, the one whose
// SANs match the SNI name is chosen on each handshake (exact name first, then
// a wildcard), the default (the first) for no SNI or an unknown name.
// Replacing the entries changes what new handshakes get; open connections
// keep theirs.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as tls from 'node:tls';

export interface CertificateSource {
  certPem: string;
  keyPem: string;
  /** Where it came from, for messages (a file path, "dev certificate", "acme:example.test"). */
  label: string;
}

export interface CertificateEntry {
  source: CertificateSource;
  leaf: X509Certificate;
  chain: X509Certificate[];
  dnsNames: string[];
  ipAddresses: string[];
  /** Leaf validity as epoch milliseconds. */
  notBefore: number;
  notAfter: number;
  context: tls.SecureContext;
}

export class CertificateError extends Error {
  constructor(
    readonly label: string,
    message: string,
  ) {
    super(`${label}: ${message}`);
    this.name = 'CertificateError';
  }
}

export interface LoadOptions {
  /** Lowest TLS version the context accepts; default TLSv1.2. */
  minVersion?: tls.SecureVersion;
  /** Epoch ms to judge validity against; default Date.now(). */
  now?: number;
}

export const DAY_MS = 24 * 3600_000;

export function splitPemChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

/** SAN entries of a certificate, lower-cased DNS names and IP addresses. */
export function subjectAltNames(cert: X509Certificate): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) dnsNames.push(part.slice(4).toLowerCase());
    else if (part.startsWith('IP Address:')) ipAddresses.push(part.slice(11).toLowerCase());
  }
  return { dnsNames, ipAddresses };
}

function describe(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ', ') || '(empty subject)';
}

function checkChain(label: string, chain: X509Certificate[], key: KeyObject): void {
  const leaf = chain[0]!;
  if (!leaf.checkPrivateKey(key)) {
    const at = chain.findIndex((c) => c.checkPrivateKey(key));
    if (at > 0) {
      throw new CertificateError(
        label,
        `the private key belongs to certificate ${at + 1} of ${chain.length} (${describe(chain[at]!)}), not the first: put the server certificate first, then its issuers`,
      );
    }
    throw new CertificateError(label, 'private key does not match the certificate');
  }
  for (let i = 0; i + 1 < chain.length; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new CertificateError(
        label,
        `chain order: certificate ${i + 2} (${describe(issuer)}) did not issue certificate ${i + 1} (${describe(cert)}); list the server certificate first, then each issuer in turn`,
      );
    }
  }
}

function checkValidity(label: string, chain: X509Certificate[], now: number): void {
  chain.forEach((cert, i) => {
    const what = i === 0 ? 'certificate' : `chain certificate ${i + 1} (${describe(cert)})`;
    if (Date.parse(cert.validFrom) > now) throw new CertificateError(label, `${what} is not valid until ${new Date(cert.validFrom).toISOString()}`);
    if (Date.parse(cert.validTo) < now) throw new CertificateError(label, `${what} expired on ${new Date(cert.validTo).toISOString()}: renew it`);
  });
}

/**
 * Parses and checks a PEM pair (key matches, chain in order, every certificate
 * currently valid) into a ready entry; throws CertificateError naming the source.
 */
export function loadCertificate(source: CertificateSource, opts: LoadOptions = {}): CertificateEntry {
  const pems = splitPemChain(source.certPem);
  if (pems.length === 0) throw new CertificateError(source.label, 'no PEM certificate found (expected "-----BEGIN CERTIFICATE-----")');
  let chain: X509Certificate[];
  try {
    chain = pems.map((p) => new X509Certificate(p));
  } catch (e) {
    throw new CertificateError(source.label, `cannot parse certificate: ${(e as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(source.keyPem);
  } catch (e) {
    throw new CertificateError(source.label, `cannot parse private key: ${(e as Error).message}`);
  }
  checkChain(source.label, chain, key);
  checkValidity(source.label, chain, opts.now ?? Date.now());
  const leaf = chain[0]!;
  const context = tls.createSecureContext({ cert: source.certPem, key: source.keyPem, minVersion: opts.minVersion ?? 'TLSv1.2' });
  return { source, leaf, chain, ...subjectAltNames(leaf), notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo), context };
}

/** A warning when the certificate expires within `days` of `now`, else undefined. */
export function expiryWarning(entry: CertificateEntry, now: number, days = 14): string | undefined {
  const left = entry.notAfter - now;
  if (left > days * DAY_MS) return undefined;
  return `${entry.source.label}: certificate expires on ${new Date(entry.notAfter).toISOString()} (in ${Math.max(0, Math.floor(left / DAY_MS))} days): renew it`;
}

function wildcardMatches(pattern: string, name: string): boolean {
  // A wildcard covers exactly one left-most label (RFC 6125 6.4.3).
  if (!pattern.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
}

/** Whether the certificate's SANs cover a host name or IP address. */
export function covers(entry: CertificateEntry, host: string): boolean {
  const name = host.toLowerCase();
  if (isIP(name) !== 0) return entry.ipAddresses.includes(name);
  return entry.dnsNames.includes(name) || entry.dnsNames.some((p) => wildcardMatches(p, name));
}

/** The hosts among `hosts` that no entry covers. */
export function uncoveredHosts(entries: readonly CertificateEntry[], hosts: readonly string[]): string[] {
  return hosts.filter((h) => !entries.some((e) => covers(e, h)));
}

export interface CertificateStore {
  /** The entry for an SNI name (or the default). */
  select(servername: string | undefined): CertificateEntry;
  entries(): readonly CertificateEntry[];
  /** Swap the whole set at once (the first entry is the default) and update attached servers. */
  replace(entries: CertificateEntry[]): void;
  /** Options for tls/https createServer: SNI selection plus the default certificate. */
  serverOptions(): tls.TlsOptions;
  /**
   * Keep a server's default context (what clients without SNI get; SNICallback
   * is not called for them) in step with replace().
   */
  attach(server: tls.Server): void;
  readonly minVersion: tls.SecureVersion;
}

interface Index {
  exact: Map<string, CertificateEntry>;
  /** Parent domain of a `*.` pattern -> entry. */
  wildcard: Map<string, CertificateEntry>;
  fallback: CertificateEntry;
}

// Maps keep the per-handshake lookup constant-time; the first entry listing a
// name wins, so configuration order decides between overlapping certificates.
function buildIndex(entries: CertificateEntry[]): Index {
  const exact = new Map<string, CertificateEntry>();
  const wildcard = new Map<string, CertificateEntry>();
  for (const e of entries) {
    for (const n of e.dnsNames) {
      const [map, key] = n.startsWith('*.') ? [wildcard, n.slice(2)] : [exact, n];
      if (!map.has(key)) map.set(key, e);
    }
  }
  return { exact, wildcard, fallback: entries[0]! };
}

export function createCertificateStore(initial: CertificateEntry[], opts: { minVersion?: tls.SecureVersion } = {}): CertificateStore {
  if (initial.length === 0) throw new Error('a TLS listener needs at least one certificate');
  const minVersion = opts.minVersion ?? 'TLSv1.2';
  let list = initial;
  let index = buildIndex(list);
  const servers = new Set<tls.Server>();
  const select = (servername: string | undefined): CertificateEntry => {
    if (!servername) return index.fallback;
    const name = servername.toLowerCase();
    const exact = index.exact.get(name);
    if (exact) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? index.wildcard.get(name.slice(dot + 1)) : undefined) ?? index.fallback;
  };
  const defaultOptions = (): tls.SecureContextOptions => ({ cert: list[0]!.source.certPem, key: list[0]!.source.keyPem, minVersion });
  const SNICallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => cb(null, select(servername).context);
  return {
    minVersion,
    select,
    entries: () => list,
    replace(entries) {
      if (entries.length === 0) throw new Error('a TLS listener needs at least one certificate');
      list = entries;
      index = buildIndex(list);
      for (const server of servers) server.setSecureContext(defaultOptions());
    },
    serverOptions: () => ({ ...defaultOptions(), SNICallback }),
    attach(server) {
      servers.add(server);
      server.once('close', () => servers.delete(server));
    },
  };
}

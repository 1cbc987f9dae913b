// The SNI certificate store: several certificate/key pairs, the one whose
// SANs match the SNI name is chosen on each handshake (exact name first, then
// a wildcard), the default for no SNI or an unknown name. Replacing the
// entries changes what new handshakes get; open connections keep theirs.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import * as tls from 'node:tls';
import { createSecureContext, type SecureContext } from 'node:tls';

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
  context: SecureContext;
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

/** Parses a PEM pair into a ready entry; throws CertificateError naming the source. */
export function loadCertificate(source: CertificateSource, extraOptions: tls.SecureContextOptions = {}): CertificateEntry {
  const pems = splitPemChain(source.certPem);
  if (pems.length === 0) throw new CertificateError(source.label, 'no PEM certificate found');
  let chain: X509Certificate[];
  try {
    chain = pems.map((p) => new X509Certificate(p));
  } catch (e) {
    throw new CertificateError(source.label, `cannot parse certificate: ${(e as Error).message}`);
  }
  const leaf = chain[0]!;
  let key;
  try {
    key = createPrivateKey(source.keyPem);
  } catch (e) {
    throw new CertificateError(source.label, `cannot parse private key: ${(e as Error).message}`);
  }
  if (!leaf.checkPrivateKey(key)) throw new CertificateError(source.label, 'private key does not match the certificate');
  const context = createSecureContext({ cert: source.certPem, key: source.keyPem, ...extraOptions });
  return { source, leaf, chain, ...subjectAltNames(leaf), context };
}

export interface CertificateStore {
  /** The entry for an SNI name (or the default). */
  select(servername: string | undefined): CertificateEntry;
  entries(): readonly CertificateEntry[];
  /** Swap the whole set at once; the first entry is the default. */
  replace(entries: CertificateEntry[]): void;
  /** Options for tls/https createServer: SNI selection plus the default certificate. */
  serverOptions(minVersion: tls.SecureVersion): tls.TlsOptions;
}

function matches(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  // A wildcard covers exactly one left-most label (RFC 6125 6.4.3).
  if (!pattern.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot + 1) === pattern.slice(2);
}

export function createCertificateStore(initial: CertificateEntry[]): CertificateStore {
  if (initial.length === 0) throw new Error('a TLS listener needs at least one certificate');
  let list = initial;
  const select = (servername: string | undefined): CertificateEntry => {
    if (!servername) return list[0]!;
    const name = servername.toLowerCase();
    return (
      list.find((e) => e.dnsNames.includes(name)) ??
      list.find((e) => e.dnsNames.some((p) => p.startsWith('*.') && matches(p, name))) ??
      list[0]!
    );
  };
  return {
    select,
    entries: () => list,
    replace(entries) {
      if (entries.length === 0) throw new Error('a TLS listener needs at least one certificate');
      list = entries;
    },
    serverOptions(minVersion) {
      return {
        minVersion,
        SNICallback: (servername, cb) => cb(null, select(servername).context),
        // The default context for clients without SNI is chosen per handshake too.
        cert: list[0]!.source.certPem,
        key: list[0]!.source.keyPem,
      };
    },
  };
}

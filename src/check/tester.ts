// The check report in the shape of matrix-org/matrix-federation-tester's
// /api/report (its main.go ServerReport, with gomatrixserverlib's KeyChecks),
// so tools built for the tester work against fedpeer. Pure: a CheckReport
// in, the tester's JSON out. docs/CHECK.md maps each field.
import { hostPort } from '../federation/errors.js';
import type { CertificateReport, CheckReport, TargetReport } from './types.js';

/** Go's `error` after the tester's touchUpReport: `{"Message": "..."}`. */
export interface TesterError {
  Message: string;
}

export interface TesterKeyChecks {
  AllChecksOK: boolean;
  MatchingServerName: boolean;
  FutureValidUntilTS: boolean;
  HasEd25519Key: boolean;
  AllEd25519ChecksOK: boolean | null;
  Ed25519Checks: Record<string, { ValidEd25519: boolean; MatchingSignature: boolean }>;
  ValidCertificates: boolean;
}

export interface TesterConnectionReport {
  Certificates: Array<{ SubjectCommonName: string; IssuerCommonName: string; SHA256Fingerprint: string; DNSNames: string[] | null }>;
  Cipher: { Version: string; CipherSuite: string };
  Checks: TesterKeyChecks;
  Errors: TesterError[];
  Ed25519VerifyKeys: Record<string, string> | null;
  Info: Record<string, never>;
  Keys: unknown;
}

export interface TesterReport {
  Error?: string;
  WellKnownResult: { 'm.server': string; result?: string; CacheExpiresAt: number };
  DNSResult: {
    SRVSkipped: boolean;
    SRVCName: string;
    SRVRecords: Array<{ Target: string; Port: number; Priority: number; Weight: number }> | null;
    SRVError: TesterError | null;
    Hosts: Record<string, { CName: string; Addrs: string[]; Error: TesterError | null }>;
    Addrs: string[] | null;
  };
  ConnectionReports: Record<string, TesterConnectionReport>;
  ConnectionErrors: Record<string, TesterError>;
  Version: { name?: string; version?: string; error?: string };
  FederationOK: boolean;
}

const fqdn = (name: string) => (name.endsWith('.') ? name : `${name}.`);

/** The value of the first `CN=` in an OpenSSL-style distinguished name ("CN=a, O=b"), or "". */
export function commonName(dn: string): string {
  return /(?:^|,\s*)CN=([^,]*)/.exec(dn)?.[1] ?? '';
}

/** "AB:CD:..." hex to unpadded base64 (gomatrixserverlib's Base64Bytes). */
function fingerprint(hex: string): string {
  return Buffer.from(hex.replace(/:/g, ''), 'hex').toString('base64').replace(/=+$/, '');
}

function certificate(c: CertificateReport): TesterConnectionReport['Certificates'][number] {
  const dns = c.subject_alt_names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
  return { SubjectCommonName: commonName(c.subject), IssuerCommonName: commonName(c.issuer), SHA256Fingerprint: fingerprint(c.sha256), DNSNames: dns.length > 0 ? dns : null };
}

/** "TLSv1.3" -> "TLS 1.3", as the tester names versions. */
function tlsVersion(protocol: string | null): string {
  const m = /^TLSv(\d(?:\.\d)?)$/.exec(protocol ?? '');
  return m ? `TLS ${m[1]!.includes('.') ? m[1] : `${m[1]}.0`}` : (protocol ?? '');
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function connectionReport(r: CheckReport, t: TargetReport): TesterConnectionReport {
  const tls = t.tls!;
  const keys = t.keys!;
  const raw = keys.raw;
  const now = Date.parse(r.checked_at);
  const results = keys.verify_keys ?? [];
  const ed25519Checks = Object.fromEntries(results.map((k) => [k.key_id, { ValidEd25519: k.valid_ed25519, MatchingSignature: k.signature === 'valid' }]));
  const hasEd25519 = results.length > 0;
  const allEd25519 = results.every((k) => k.signature === 'valid');
  // As gomatrixserverlib.CheckKeys: each check on its own, from the document itself.
  const matchingName = isObject(raw) && raw.server_name === r.server_name;
  const future = isObject(raw) && typeof raw.valid_until_ts === 'number' && raw.valid_until_ts > now;
  const keyChecksOk = matchingName && future && hasEd25519 && allEd25519;
  const validCertificates = tls.trusted && tls.name_valid;
  const errors: TesterError[] = [];
  if (!tls.trusted) errors.push({ Message: `certificate not trusted: ${tls.trust_error ?? 'unknown'}` });
  if (!tls.name_valid) errors.push({ Message: tls.name_error ?? `certificate not valid for ${t.tls_name}` });
  return {
    Certificates: tls.chain.map(certificate),
    Cipher: { Version: tlsVersion(tls.protocol), CipherSuite: tls.cipher_standard ?? tls.cipher ?? '' },
    Checks: {
      AllChecksOK: keyChecksOk && validCertificates,
      MatchingServerName: matchingName,
      FutureValidUntilTS: future,
      HasEd25519Key: hasEd25519,
      AllEd25519ChecksOK: hasEd25519 ? allEd25519 : null,
      Ed25519Checks: ed25519Checks,
      ValidCertificates: validCertificates,
    },
    Errors: errors,
    Ed25519VerifyKeys: keyChecksOk ? Object.fromEntries(results.filter((k) => k.signature === 'valid').map((k) => [k.key_id, k.key!])) : null,
    Info: {},
    Keys: raw ?? null,
  };
}

/** Why no key document came from a target: the tester's ConnectionErrors entry. */
function connectionError(t: TargetReport): string {
  if (!t.tcp.ok) return t.tcp.error ?? 'TCP connection failed';
  const tls = t.tls;
  if (tls && !tls.ok) return tls.error ?? 'TLS handshake failed';
  if (tls && !tls.accepted) {
    const why = !tls.trusted ? `its chain is not trusted (${tls.trust_error})` : !tls.name_valid ? (tls.name_error ?? `it is not valid for ${t.tls_name}`) : 'it was refused';
    return `the certificate was refused: ${why}; nothing is sent over a certificate federation would not accept`;
  }
  return t.keys?.error ?? 'no key document';
}

function dnsResult(r: CheckReport): TesterReport['DNSResult'] {
  const route = r.resolution.route;
  const skipped = route === 'explicit-port' || route === 'ip-literal' || r.srv.length === 0;
  const used = r.srv.find((s) => s.used) ?? r.srv.find((s) => s.outcome === 'found');
  const hosts: TesterReport['DNSResult']['Hosts'] = {};
  for (const t of r.resolution.targets) {
    const probed = r.targets.find((p) => p.address === t.address && p.port === t.port);
    const host = probed?.srv_target ?? t.tls_name;
    const entry = (hosts[host] ??= { CName: fqdn(host), Addrs: [], Error: null });
    if (!entry.Addrs.includes(t.address)) entry.Addrs.push(t.address);
  }
  const addrs = r.resolution.targets.map((t) => hostPort(t.address, t.port));
  const srvError = skipped || used !== undefined ? null : { Message: r.srv.map((s) => `${s.name}: ${s.error ?? 'no SRV records'}`).join('; ') };
  return {
    SRVSkipped: skipped,
    SRVCName: skipped || used === undefined ? '' : fqdn(used.name),
    SRVRecords: used === undefined || skipped ? null : used.records.map((x) => ({ Target: fqdn(x.target), Port: x.port, Priority: x.priority, Weight: x.weight })),
    SRVError: srvError,
    Hosts: hosts,
    Addrs: addrs.length > 0 ? addrs : null,
  };
}

export function testerReport(r: CheckReport): TesterReport {
  const wk = r.well_known;
  const checkedAtS = Math.floor(Date.parse(r.checked_at) / 1000);
  const ConnectionReports: Record<string, TesterConnectionReport> = {};
  const ConnectionErrors: Record<string, TesterError> = {};
  for (const t of r.targets) {
    const where = hostPort(t.address, t.port);
    if (t.tls?.accepted && t.keys?.status === 200 && t.keys.raw !== undefined && t.keys.raw !== null) ConnectionReports[where] = connectionReport(r, t);
    else ConnectionErrors[where] = { Message: connectionError(t) };
  }
  const version = r.targets.find((t) => t.version?.ok)?.version;
  const versionError = r.targets.find((t) => t.version && !t.version.ok)?.version?.error ?? (r.resolution.error?.message ?? 'no target answered /_matrix/federation/v1/version');
  return {
    WellKnownResult: {
      'm.server': wk?.m_server ?? '',
      ...(wk?.m_server ? {} : { result: wk?.error ?? 'No .well-known found' }),
      CacheExpiresAt: wk?.m_server && wk.header_cache_seconds !== null ? checkedAtS + wk.header_cache_seconds : 0,
    },
    DNSResult: dnsResult(r),
    ConnectionReports,
    ConnectionErrors,
    Version: version?.server ? { name: version.server.name, version: version.server.version } : { error: versionError },
    FederationOK: r.federation_ok,
  };
}

/** The tester's answer for a name that is not a server name: FederationOK false and the reason. */
export function invalidNameTesterReport(serverName: string): TesterReport {
  return {
    Error: `Invalid server name '${serverName}'`,
    WellKnownResult: { 'm.server': '', CacheExpiresAt: 0 },
    DNSResult: { SRVSkipped: false, SRVCName: '', SRVRecords: null, SRVError: null, Hosts: {}, Addrs: null },
    ConnectionReports: {},
    ConnectionErrors: {},
    Version: {},
    FederationOK: false,
  };
}

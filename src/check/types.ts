// The check report: what `fedpeer check --json` prints and the web page
// renders. Documented field by field in docs/CHECK.md; field names are
// snake_case like `fedpeer resolve --json`. The probe (probe.ts) gathers the
// facts, findings.ts judges them; nothing here does I/O.
import type { RouteReport } from '../federation/routes.js';
import type { KeyCheck } from '../matrix/server-keys.js';

export type { RouteReport };

export const REPORT_VERSION = 1;

export type Severity = 'error' | 'warning' | 'info';

/** Stable finding codes; the text around them may change, these do not. */
export type FindingCode =
  // Resolution
  | 'NO_ROUTE'
  | 'ONION_NO_ROUTE'
  | 'DNS_LOOKUP_FAILED'
  | 'SRV_NO_SERVICE'
  | 'SRV_TARGET_NO_ADDRESS'
  | 'ADDRESS_BLOCKED'
  | 'DEPRECATED_MATRIX_SRV'
  | 'WELL_KNOWN_REDIRECT'
  | 'WELL_KNOWN_SHORT_CACHE'
  | 'WELL_KNOWN_INVALID'
  | 'WELL_KNOWN_UNREACHABLE'
  // Per target: connection and certificate
  | 'TCP_CONNECT_FAILED'
  | 'PROXY_FAILED'
  | 'TLS_HANDSHAKE_FAILED'
  | 'CERT_NAME_MISMATCH_SRV'
  | 'CERT_NAME_MISMATCH_DELEGATED'
  | 'CERT_NAME_MISMATCH'
  | 'CERT_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'CERT_EXPIRING_SOON'
  | 'CERT_UNTRUSTED'
  | 'CERT_NOT_VERIFIED'
  | 'CERT_PIN_MISMATCH'
  | 'NO_SCT'
  | 'TARGETS_NOT_PROBED'
  // Per target: the federation endpoints
  | 'VERSION_FAILED'
  | 'KEY_FETCH_FAILED'
  | 'KEY_INVALID'
  | 'KEY_SERVER_NAME_MISMATCH'
  | 'KEY_BAD_SIGNATURE'
  | 'KEY_EXPIRED'
  // Client discovery (never affects federation_ok)
  | 'CLIENT_WELL_KNOWN_MISSING'
  | 'CLIENT_WELL_KNOWN_UNREACHABLE'
  | 'CLIENT_WELL_KNOWN_REDIRECT'
  | 'CLIENT_WELL_KNOWN_INVALID'
  | 'CLIENT_WELL_KNOWN_NO_CORS'
  | 'CLIENT_WELL_KNOWN_BASE_URL_UNREACHABLE';

export interface Finding {
  code: FindingCode;
  severity: Severity;
  /** One line. */
  title: string;
  /** What is wrong and why it matters, in plain language. */
  explanation: string;
  /** What to change; null when there is nothing to do. */
  fix: string | null;
  /** `address:port` of the targets it concerns; empty when it is about the name as a whole. */
  targets: string[];
}

/** How the targets were found (resolve's table: rows 1/3.1, 2/3.2, 3.3/4, 3.4/5, 3.5/6). */
export type Route = 'ip-literal' | 'explicit-port' | 'srv' | 'srv-legacy' | 'default-port';

export interface StepReport {
  step: string;
  lookup: string;
  outcome: 'found' | 'none' | 'failed' | 'skipped';
  detail: string;
  cached: boolean;
}

export interface TargetAddress {
  /** An IP address, or a name a route's SOCKS proxy resolves. */
  address: string;
  port: number;
  host: string;
  tls_name: string;
  /** The federation_routes rule that reaches it; null when none matched (direct). */
  route: RouteReport | null;
}

export interface ErrorReport {
  step: string;
  check: string;
  message: string;
}

export interface ResolutionReport {
  /** The well-known's m.server, or null. */
  delegated_server: string | null;
  /** Null when resolution failed. */
  route: Route | null;
  steps: StepReport[];
  /** In the order they are tried. */
  targets: TargetAddress[];
  error: ErrorReport | null;
}

export interface WellKnownReport {
  url: string;
  /** found: a valid m.server; none: 404 and other permanent answers; failed: unreachable, 5xx, bad body... */
  outcome: 'found' | 'none' | 'failed';
  responses: Array<{ url: string; status: number; location?: string }>;
  /** The 200 answer's body (first 4 KiB), or null. */
  body: string | null;
  m_server: string | null;
  /** How long a Synapse-like server caches this answer (or failure), seconds. */
  cache_seconds: number | null;
  /** What Cache-Control/Expires asked for, seconds, before clamping to [5 min, 48 h]; null when they say nothing. */
  header_cache_seconds: number | null;
  /** The failing check's token (status, json, m.server, dns, tls:certificate-name, ...), or null. */
  check: string | null;
  error: string | null;
}

export interface SrvReport {
  service: '_matrix-fed._tcp' | '_matrix._tcp';
  name: string;
  outcome: 'found' | 'none' | 'failed';
  records: Array<{ priority: number; weight: number; port: number; target: string }>;
  /** True when resolution took its targets from this lookup. */
  used: boolean;
  error: string | null;
}

export interface CertificateReport {
  subject: string;
  issuer: string;
  /** As OpenSSL writes them: "DNS:example.test", "IP Address:192.0.2.1". */
  subject_alt_names: string[];
  not_before: string;
  not_after: string;
  /** Days from checked_at to not_after (negative when expired), one decimal. */
  days_left: number;
  /** SHA-256 of the DER, colon-separated hex: a certificate pin for federation_routes. */
  sha256: string;
  /** `sha256/<base64>` of the SubjectPublicKeyInfo: a public key pin for federation_routes. */
  public_key_sha256: string;
  serial: string;
  /** Carries an embedded SCT list (Certificate Transparency, OID 1.3.6.1.4.1.11129.2.4.2). */
  sct: boolean;
}

export interface TlsReport {
  /** The handshake completed. */
  ok: boolean;
  protocol: string | null;
  /** OpenSSL's name (ECDHE-RSA-AES128-GCM-SHA256). */
  cipher: string | null;
  /** The IANA name (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256), as the federation tester reports it; always filled by the probe. */
  cipher_standard?: string | null;
  /** Leaf first, then issuers as far as known. */
  chain: CertificateReport[];
  /** The chain leads to a trusted CA and every certificate is in its validity period. */
  trusted: boolean;
  /** OpenSSL's verification code when not trusted (CERT_HAS_EXPIRED, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, ...). */
  trust_error: string | null;
  /** The leaf is valid for tls_name. */
  name_valid: boolean;
  name_error: string | null;
  /** strict: verified as above; exempt: federation_verify_certificates off, whitelisted or a route's trust: none; pinned: a route's pins decide. */
  verification: 'strict' | 'exempt' | 'pinned';
  /** The whitelist entry or route that exempts or pins. */
  exempt_by: string | null;
  /** pinned: whether the certificate or its public key matches a pin; null otherwise. */
  pin_ok: boolean | null;
  /** Outbound federation would accept this connection. */
  accepted: boolean;
  /** Handshake failure: tlsCheckOf token (protocol-version, handshake, timeout). */
  check: string | null;
  error: string | null;
}

export interface HttpCheckReport {
  ok: boolean;
  status: number | null;
  error: string | null;
}

export interface VersionReport extends HttpCheckReport {
  server: { name: string; version: string } | null;
}

/** One Ed25519 key of verify_keys and its self-signature. */
export interface KeyResult {
  key_id: string;
  /** Unpadded base64, as published; null when the entry has no "key" string. */
  key: string | null;
  /** The key decodes to 32 bytes. */
  valid_ed25519: boolean;
  /** valid / invalid: the document's signature by this key verifies or not; missing: it has none; not-checked: past the limit of keys verified. */
  signature: 'valid' | 'invalid' | 'missing' | 'not-checked';
  detail: string;
}

export interface KeysReport extends HttpCheckReport {
  /** Every check of the key document (src/matrix/server-keys.ts), in order; the first failure ends them. */
  checks: KeyCheck[];
  key_ids: string[];
  valid_until: string | null;
  // The probe always fills the two below (optional so reports made by hand, in tests, need not).
  /** Each Ed25519 key of verify_keys with its signature result, whatever the checks above stopped at. */
  verify_keys?: KeyResult[];
  /** The key document as received (parsed); null when it was not JSON or over 8 KiB. */
  raw?: unknown;
}

export interface TargetReport extends TargetAddress {
  /** The SNI sent; null for IP addresses. */
  sni: string | null;
  /** The SRV target host this address came from, when reached through SRV. */
  srv_target: string | null;
  tcp: { ok: boolean; ms: number | null; error: string | null };
  /** Null when TCP failed. */
  tls: TlsReport | null;
  /** Null when no request was sent (no connection, or the certificate was refused). */
  version: VersionReport | null;
  keys: KeysReport | null;
}

export interface ClientWellKnownReport {
  url: string;
  /** found: a JSON object with m.homeserver.base_url; none: 404; invalid: another body; failed: no answer. */
  outcome: 'found' | 'none' | 'invalid' | 'failed';
  status: number | null;
  body: string | null;
  /** The Access-Control-Allow-Origin header, or null. */
  cors: string | null;
  base_url: string | null;
  /** GET <base_url>/_matrix/client/versions: reachable when any HTTP answer comes. */
  base_url_check: { url: string; ok: boolean; status: number | null; error: string | null } | null;
  error: string | null;
}

/** What the probe gathers; findings.ts adds the verdict and findings. */
export interface CheckFacts {
  version: typeof REPORT_VERSION;
  server_name: string;
  checked_at: string;
  duration_ms: number;
  resolution: ResolutionReport;
  /** Null when resolution does not ask (IP literal, explicit port, invalid name). */
  well_known: WellKnownReport | null;
  /** Both lookups for the host SRV applies to; empty when it does not apply. */
  srv: SrvReport[];
  targets: TargetReport[];
  /** Targets found but not probed (over the limit). */
  targets_not_probed: number;
  /** Null for IP literals. */
  client_well_known: ClientWellKnownReport | null;
  /** The trust policy in words. */
  trust: string;
  dns_servers: string[];
}

export interface CheckReport extends CheckFacts {
  federation_ok: boolean;
  /** The verdict in one sentence. */
  verdict: string;
  /** Errors first, then warnings, then information. */
  findings: Finding[];
}

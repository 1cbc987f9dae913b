// The typed configuration every other layer reads. Field names are the
// homeserver.yaml keys in camelCase; durations end in `Ms` and are
// milliseconds, sizes are bytes. Every key with a default has it filled in,
// so only keys that are truly optional are `?:`. Paths are absolute.

export type TlsVersion = '1.2' | '1.3';

/** Synapse accepts these for `federation_client_minimum_tls_version`. */
export type ClientTlsVersion = '1' | '1.1' | '1.2' | '1.3';

export interface ResourceConfig {
  /** Synapse resource names: federation, keys, client, media, ... kept as written. */
  names: string[];
  compress: boolean;
}

interface ListenerCommon {
  /** 'http', 'acme', 'metrics', 'control' (fedpeer's control API), or any other type a Synapse file uses (metrics, manhole, ...). */
  type: string;
  tls: boolean;
  xForwarded: boolean;
  resources: ResourceConfig[];
}

export interface TcpListenerConfig extends ListenerCommon {
  kind: 'tcp';
  port: number;
  bindAddresses: string[];
}

/** Synapse's `path:` listeners. They never carry TLS (Synapse ignores `tls` on them). */
export interface UnixListenerConfig extends ListenerCommon {
  kind: 'unix';
  path: string;
  /** File mode of the socket; Synapse's default 0o666. */
  mode: number;
}

export type ListenerConfig = TcpListenerConfig | UnixListenerConfig;

export interface TlsCertificatePair {
  certificatePath: string;
  privateKeyPath: string;
}

export interface OldSigningKey {
  /** Unpadded base64 Ed25519 public key, as written. */
  key: string;
  expiredTs: number;
}

export interface SupportContact {
  matrixId?: string;
  emailAddress?: string;
  /** 'm.role.admin', 'm.role.security', or a namespaced role. */
  role: string;
}

export interface WellKnownSupport {
  contacts: SupportContact[];
  supportPage?: string;
}

export interface AcmeConfig {
  enabled: boolean;
  directoryUrl: string;
  /** CA that signs the ACME server's own certificate (pebble's, in tests). */
  caCertificatePath?: string;
  accountEmail?: string;
  /** Empty means "derive from server_name and the well-known delegation". */
  domains: string[];
  renewDaysBefore: number;
  storageDir: string;
  /** Directory an external web server serves /.well-known/acme-challenge/ from. */
  webroot?: string;
  /**
   * Synapse's legacy ACME listener: when set and no `type: acme` listener is
   * configured, HTTP-01 answers are served on this port.
   */
  port?: number;
  /** Addresses for that implicit listener (Synapse's acme.bind_addresses); absent means all. */
  bindAddresses?: string[];
}

export interface TrustedKeyServer {
  serverName: string;
  /** Key id -> unpadded base64 public key; absent means "accept whatever the server signs with". */
  verifyKeys?: Record<string, string>;
  acceptKeysInsecurely: boolean;
}

export interface TestUser {
  displayname?: string;
  avatarUrl?: string;
}

export interface NotaryConfig {
  /** Bytes. */
  maxBodySize: number;
  maxServers: number;
  maxKeysPerServer: number;
}

export interface LimitsConfig {
  connectionTimeoutMs: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  /** Bytes. */
  bodyLimit: number;
  maxConnections: number;
  rateLimit: { perSecond: number; burst: number };
  /** CIDRs whose X-Forwarded-For is believed on `x_forwarded` listeners (default loopback). */
  trustedProxies: string[];
}

/** How a route reaches its names: directly, or through a SOCKS5 proxy that resolves them. */
export type RouteVia =
  | { kind: 'direct' }
  | {
      kind: 'socks5h';
      host: string;
      port: number;
      username?: string;
      /** A secret: non-enumerable, so dumps of the config leave it out. */
      password?: string;
      /** The URL for messages, the password masked. */
      display: string;
    };

/** One `federation_routes` rule (docs/FEDERATION.md, "Routes"). */
export interface FederationRoute {
  /** The patterns as written, for messages. */
  match: string[];
  /** Globs matched against host names (Synapse's glob rules, as the whitelist). */
  names: string[];
  /** CIDRs (`address/prefix`) matched against IP literals and resolved addresses. */
  cidrs: string[];
  via: RouteVia;
  /** ca: the usual policy (CA list, whitelist); none: not verified; pin: the certificate or its key must match a pin. */
  trust: 'ca' | 'none' | 'pin';
  /** For trust: pin: `AB:CD:...` (certificate SHA-256) or `sha256/<base64>` (public key SHA-256). */
  pins: string[];
  /** A distinct SOCKS username per destination host, so a Tor proxy keeps their circuits apart. */
  isolate: boolean;
}

export interface FederationClientConfig {
  requestTimeoutMs: number;
  /** Bytes. */
  maxResponseSize: number;
  maxConnectionsPerDestination: number;
}

export interface Config {
  /** Absolute path of the file this came from; absent for the embedded default. */
  sourcePath?: string;
  /** Directory relative paths were resolved against. */
  baseDir: string;
  /** Top-level keys present in the file that fedpeer does not use, in file order. */
  ignoredKeys: string[];

  serverName: string;
  signingKeyPath: string;
  /** Synapse's inline `signing_key` line. A secret: non-enumerable, so dumps of the config leave it out. */
  signingKey?: string;
  /** Key id ("ed25519:abc") -> retired key. */
  oldSigningKeys: Record<string, OldSigningKey>;
  keyRefreshIntervalMs: number;
  listeners: ListenerConfig[];
  tlsCertificatePath?: string;
  tlsPrivateKeyPath?: string;
  /** Normalised to end in '/'. Absent when not configured (Synapse then serves no client well-known). */
  publicBaseurl?: string;
  serveServerWellknown: boolean;
  pidFile?: string;
  /** Bearer token of `type: control` listeners (else generated under data_dir). A secret: non-enumerable, like signingKey. */
  controlToken?: string;

  // TLS endpoint
  /** Extra certificate/key pairs chosen by SNI, in addition to tlsCertificatePath. */
  tlsCertificates: TlsCertificatePair[];
  tlsMinimumVersion: TlsVersion;
  /** Delegation target served as m.server in /.well-known/matrix/server. */
  wellKnownServer?: string;
  extraWellKnownClientContent: Record<string, unknown>;
  wellKnownSupport?: WellKnownSupport;
  wellKnownCacheMaxAgeMs: number;
  wellKnownDir?: string;
  acme: AcmeConfig;

  // Outbound federation
  federationVerifyCertificates: boolean;
  /** PEM files; empty means the system CAs. */
  federationCustomCaList: string[];
  federationCustomCaMode: 'replace' | 'append';
  /** Globs (`*.onion`) and CIDRs (`fc00::/8`), as written. */
  federationCertificateVerificationWhitelist: string[];
  federationClientMinimumTlsVersion: ClientTlsVersion;
  /**
   * CIDRs never dialled: the file's list (or Synapse's default), plus 0.0.0.0/32
   * and ::/128, which Synapse always adds. Like Synapse, a consumer should also
   * match IPv4 ranges against IPv4-mapped/-compatible and 6to4 IPv6 addresses.
   */
  ipRangeBlacklist: string[];
  /** CIDRs allowed even when blacklisted. */
  ipRangeWhitelist: string[];
  /** `dns.Resolver#setServers` strings; empty means the system resolvers. */
  federationDnsServers: string[];
  /** null: federate with everyone. */
  federationDomainWhitelist: string[] | null;
  /** Ordered; the first rule matching a name (or address) decides how it is reached. */
  federationRoutes: FederationRoute[];

  // Keys
  dataDir: string;
  trustedKeyServers: TrustedKeyServer[];
  /** User id -> profile. */
  testUsers: Record<string, TestUser>;
  notary: NotaryConfig;

  // Check page and hardening
  checkPage: { enabled: boolean };
  limits: LimitsConfig;
  federationClient: FederationClientConfig;
}

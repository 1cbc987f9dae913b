// The inbound TLS endpoint: certificates, the well-known files, ACME.
import { LETS_ENCRYPT_DIRECTORY } from './defaults.js';
import { ConfigError, describeValue } from './errors.js';
import { dnsName, serverName, userId } from './names.js';
import {
  type RawMap,
  bool,
  duration,
  field,
  indexOf,
  int,
  keyOf,
  list,
  map,
  oneOf,
  onlyKeys,
  opt,
  path,
  port,
  section,
  str,
  strList,
} from './read.js';
import type { AcmeConfig, Config, SupportContact, TlsCertificatePair, WellKnownSupport } from './types.js';

export const TLS_KEYS = [
  'tls_certificate_path',
  'tls_private_key_path',
  'tls_certificates',
  'tls_minimum_version',
  'well_known_server',
  'extra_well_known_client_content',
  'well_known_support',
  'well_known_cache_max_age',
  'well_known_dir',
  'acme',
] as const;

type TlsPart = Pick<
  Config,
  | 'tlsCertificatePath'
  | 'tlsPrivateKeyPath'
  | 'tlsCertificates'
  | 'tlsMinimumVersion'
  | 'wellKnownServer'
  | 'extraWellKnownClientContent'
  | 'wellKnownSupport'
  | 'wellKnownCacheMaxAgeMs'
  | 'wellKnownDir'
  | 'acme'
>;

export function parseTls(raw: RawMap, baseDir: string): TlsPart {
  const p = (v: unknown, k: string): string => path(v, k, baseDir);
  const certificatePath = opt(raw, '', 'tls_certificate_path', p, undefined);
  const privateKeyPath = opt(raw, '', 'tls_private_key_path', p, undefined);
  // One without the other is always a mistake, and would otherwise surface
  // later as a confusing TLS handshake failure.
  if (certificatePath !== undefined && privateKeyPath === undefined) {
    throw new ConfigError('tls_private_key_path', 'required when tls_certificate_path is set');
  }
  if (privateKeyPath !== undefined && certificatePath === undefined) {
    throw new ConfigError('tls_certificate_path', 'required when tls_private_key_path is set');
  }
  return {
    tlsCertificatePath: certificatePath,
    tlsPrivateKeyPath: privateKeyPath,
    tlsCertificates: opt(raw, '', 'tls_certificates', (v, k) => list(v, k).map((c, i) => pair(c, indexOf(k, i), baseDir)), []),
    tlsMinimumVersion: opt(raw, '', 'tls_minimum_version', (v, k) => oneOf(v, k, ['1.2', '1.3'] as const), '1.2'),
    wellKnownServer: opt(raw, '', 'well_known_server', serverName, undefined),
    extraWellKnownClientContent: opt(raw, '', 'extra_well_known_client_content', clientContent, {}),
    wellKnownSupport: opt(raw, '', 'well_known_support', support, undefined),
    wellKnownCacheMaxAgeMs: opt(raw, '', 'well_known_cache_max_age', duration, 60 * 60 * 1000),
    wellKnownDir: opt(raw, '', 'well_known_dir', p, undefined),
    acme: acme(raw, baseDir),
  };
}

function pair(value: unknown, key: string, baseDir: string): TlsCertificatePair {
  const m = map(value, key);
  onlyKeys(m, key, ['certificate_path', 'private_key_path']);
  const need = (name: string): string => {
    const v = field(m, name);
    if (v === undefined) throw new ConfigError(keyOf(key, name), 'required');
    return path(v, keyOf(key, name), baseDir);
  };
  return { certificatePath: need('certificate_path'), privateKeyPath: need('private_key_path') };
}

// Synapse refuses these two because it fills them itself; so does fedpeer.
function clientContent(value: unknown, key: string): Record<string, unknown> {
  const m = map(value, key);
  if ('m.homeserver' in m) {
    throw new ConfigError(entry(key, 'm.homeserver'), 'set public_baseurl instead');
  }
  if ('m.identity_server' in m) {
    throw new ConfigError(entry(key, 'm.identity_server'), 'not supported here (Synapse sets it from default_identity_server)');
  }
  return m;
}

function entry(key: string, name: string): string {
  return `${key}[${JSON.stringify(name)}]`;
}

// The spec's /.well-known/matrix/support: each contact needs a role and a way
// to reach it; the document needs contacts or a support page.
function support(value: unknown, key: string): WellKnownSupport {
  const m = map(value, key);
  onlyKeys(m, key, ['contacts', 'support_page']);
  const contacts = opt(m, key, 'contacts', (v, k) => list(v, k).map((c, i) => contact(c, indexOf(k, i))), []);
  const supportPage = opt(m, key, 'support_page', httpUrl, undefined);
  if (contacts.length === 0 && supportPage === undefined) {
    throw new ConfigError(key, 'needs at least one of "contacts" or "support_page"');
  }
  return supportPage === undefined ? { contacts } : { contacts, supportPage };
}

function contact(value: unknown, key: string): SupportContact {
  const m = map(value, key);
  onlyKeys(m, key, ['matrix_id', 'email_address', 'role']);
  const role = field(m, 'role');
  if (role === undefined) throw new ConfigError(keyOf(key, 'role'), 'required, e.g. "m.role.admin"');
  const c: SupportContact = { role: str(role, keyOf(key, 'role')) };
  const matrixId = opt(m, key, 'matrix_id', (v, k) => userId(str(v, k), k), undefined);
  const email = opt(m, key, 'email_address', email_, undefined);
  if (matrixId === undefined && email === undefined) {
    throw new ConfigError(key, 'needs "matrix_id" or "email_address"');
  }
  if (matrixId !== undefined) c.matrixId = matrixId;
  if (email !== undefined) c.emailAddress = email;
  return c;
}

function email_(value: unknown, key: string): string {
  const s = str(value, key);
  if (!/^[^\s@]+@[^\s@]+$/.test(s)) throw new ConfigError(key, `expected an email address, got ${describeValue(s)}`);
  return s;
}

function httpUrl(value: unknown, key: string): string {
  const s = str(value, key);
  let ok = false;
  try {
    const u = new URL(s);
    ok = u.protocol === 'https:' || u.protocol === 'http:';
  } catch {
    // reported below
  }
  if (!ok) throw new ConfigError(key, `expected an http or https URL, got ${describeValue(s)}`);
  return s;
}

const ACME_KEYS = [
  'enabled',
  'directory_url',
  'ca_certificate_path',
  'account_email',
  'domains',
  'renew_days_before',
  'storage_dir',
  'webroot',
  'port',
] as const;

// Synapse before 1.30 had its own ACME v1 section under the same name. Its
// keys are accepted so an old file still loads; `url` is dropped because
// ACME v1 endpoints no longer exist, the rest map onto fedpeer's keys
// (bind_addresses goes with port: the implicit HTTP-01 listener).
const LEGACY_ACME_KEYS = ['url', 'bind_addresses', 'reprovision_threshold', 'domain', 'account_key_file'] as const;

function acme(raw: RawMap, baseDir: string): AcmeConfig {
  const key = 'acme';
  const m = section(raw, key);
  onlyKeys(m, key, [...ACME_KEYS, ...LEGACY_ACME_KEYS]);
  const p = (v: unknown, k: string): string => path(v, k, baseDir);
  const legacyDomain = opt(m, key, 'domain', dnsName, undefined);
  const domains = opt(m, key, 'domains', (v, k) => strList(v, k).map((d, i) => dnsName(d, indexOf(k, i))), [] as string[]);
  if (domains.length === 0 && legacyDomain !== undefined) domains.push(legacyDomain);
  const legacyRenew = opt(m, key, 'reprovision_threshold', (v, k) => int(v, k, 1, 365), 30);
  const bindAddresses = opt(m, key, 'bind_addresses', strList, undefined);
  return {
    enabled: opt(m, key, 'enabled', bool, false),
    directoryUrl: opt(m, key, 'directory_url', httpUrl, LETS_ENCRYPT_DIRECTORY),
    caCertificatePath: opt(m, key, 'ca_certificate_path', p, undefined),
    accountEmail: opt(m, key, 'account_email', email_, undefined),
    domains,
    renewDaysBefore: opt(m, key, 'renew_days_before', (v, k) => int(v, k, 1, 365), legacyRenew),
    storageDir: opt(m, key, 'storage_dir', p, p('keys/acme', keyOf(key, 'storage_dir'))),
    webroot: opt(m, key, 'webroot', p, undefined),
    port: opt(m, key, 'port', port, undefined),
    ...(bindAddresses !== undefined ? { bindAddresses } : {}),
  };
}

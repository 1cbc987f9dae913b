// Outbound federation: whom to trust, what never to dial, how to resolve.
import { ALWAYS_BLOCKED, DEFAULT_IP_RANGE_BLACKLIST } from './defaults.js';
import { ConfigError, describeValue } from './errors.js';
import { formatCidr, isDnsServer, parseCidr } from './net.js';
import { parseRoutes } from './parse-routes.js';
import { type RawMap, bool, field, indexOf, list, oneOf, opt, path, str, strList } from './read.js';
import type { Config } from './types.js';

export const FEDERATION_KEYS = [
  'federation_verify_certificates',
  'federation_custom_ca_list',
  'federation_custom_ca_mode',
  'federation_certificate_verification_whitelist',
  'federation_client_minimum_tls_version',
  'ip_range_blacklist',
  'ip_range_whitelist',
  'federation_ip_range_blacklist',
  'federation_dns_servers',
  'federation_domain_whitelist',
  'federation_routes',
] as const;

type FederationPart = Pick<
  Config,
  | 'federationVerifyCertificates'
  | 'federationCustomCaList'
  | 'federationCustomCaMode'
  | 'federationCertificateVerificationWhitelist'
  | 'federationClientMinimumTlsVersion'
  | 'ipRangeBlacklist'
  | 'ipRangeWhitelist'
  | 'federationDnsServers'
  | 'federationDomainWhitelist'
  | 'federationRoutes'
>;

export function parseFederation(raw: RawMap, baseDir: string): FederationPart {
  return {
    federationVerifyCertificates: opt(raw, '', 'federation_verify_certificates', bool, true),
    federationCustomCaList: opt(raw, '', 'federation_custom_ca_list', (v, k) => caList(v, k, baseDir), []),
    federationCustomCaMode: opt(raw, '', 'federation_custom_ca_mode', (v, k) => oneOf(v, k, ['replace', 'append'] as const), 'replace'),
    federationCertificateVerificationWhitelist: opt(raw, '', 'federation_certificate_verification_whitelist', whitelist, []),
    // Synapse's default is "1"; fedpeer will not offer less than 1.2 unless asked.
    federationClientMinimumTlsVersion: opt(
      raw,
      '',
      'federation_client_minimum_tls_version',
      (v, k) => oneOf(v, k, ['1', '1.1', '1.2', '1.3'] as const),
      '1.2',
    ),
    ...ipRanges(raw),
    federationDnsServers: opt(raw, '', 'federation_dns_servers', dnsServers, []),
    federationDomainWhitelist: opt(raw, '', 'federation_domain_whitelist', strList, null),
    federationRoutes: opt(raw, '', 'federation_routes', parseRoutes, []),
  };
}

function caList(value: unknown, key: string, baseDir: string): string[] {
  const files = list(value, key).map((v, i) => path(v, indexOf(key, i), baseDir));
  // Synapse refuses an empty list: it would trust no CA at all.
  if (files.length === 0) {
    throw new ConfigError(key, 'lists no certificate files; remove the key to use the system CAs');
  }
  return files;
}

// Globs match server names; anything with a '/' is taken as a CIDR and must be one.
function whitelist(value: unknown, key: string): string[] {
  return strList(value, key).map((s, i) => {
    const k = indexOf(key, i);
    if (s.includes('/')) return cidr(s, k);
    // Synapse refuses IDNA names here; certificates carry the punycode form.
    if (!/^[\x21-\x7e]+$/.test(s)) {
      throw new ConfigError(k, `expected an ASCII glob such as "*.onion" or a CIDR, got ${describeValue(s)}`);
    }
    return s;
  });
}

function cidr(s: string, key: string): string {
  const c = parseCidr(s);
  if (!c) {
    throw new ConfigError(key, `expected an IP address or CIDR range such as "10.0.0.0/8" or "fc00::/7", got ${describeValue(s)}`);
  }
  return formatCidr(c);
}

function cidrList(value: unknown, key: string): string[] {
  return list(value, key).map((v, i) => cidr(str(v, indexOf(key, i)), indexOf(key, i)));
}

function ipRanges(raw: RawMap): Pick<Config, 'ipRangeBlacklist' | 'ipRangeWhitelist'> {
  // Synapse's older federation-only key replaces the general one for
  // federation, and comes with no whitelist; fedpeer only does federation.
  const legacy = field(raw, 'federation_ip_range_blacklist');
  const blacklist =
    legacy !== undefined
      ? cidrList(legacy, 'federation_ip_range_blacklist')
      : opt(raw, '', 'ip_range_blacklist', cidrList, [...DEFAULT_IP_RANGE_BLACKLIST]);
  const whitelist = legacy !== undefined ? [] : opt(raw, '', 'ip_range_whitelist', cidrList, []);
  for (const always of ALWAYS_BLOCKED) if (!blacklist.includes(always)) blacklist.push(always);
  return { ipRangeBlacklist: blacklist, ipRangeWhitelist: whitelist };
}

function dnsServers(value: unknown, key: string): string[] {
  return strList(value, key).map((s, i) => {
    if (!isDnsServer(s)) {
      throw new ConfigError(
        indexOf(key, i),
        `expected an IP address with an optional port ("192.0.2.53", "192.0.2.53:5353", "[2001:db8::53]:53"), got ${describeValue(s)}`,
      );
    }
    return s;
  });
}

// Hardening knobs for the inbound server and the outbound client, and the
// check page switch. All fedpeer's own sections, so unknown sub-keys are typos.
import { type RawMap, bool, duration, indexOf, int, keyOf, list, onlyKeys, opt, section, size, str } from './read.js';
import { ConfigError, describeValue } from './errors.js';
import { formatCidr, parseCidr } from './net.js';
import type { Config, FederationClientConfig, LimitsConfig } from './types.js';

export const LIMIT_KEYS = ['check_page', 'limits', 'federation_client'] as const;

const S = 1000;
const positive = (v: unknown, k: string): number => int(v, k, 1);

export function parseLimits(raw: RawMap): Pick<Config, 'checkPage' | 'limits' | 'federationClient'> {
  const page = section(raw, 'check_page');
  onlyKeys(page, 'check_page', ['enabled']);
  return {
    checkPage: { enabled: opt(page, 'check_page', 'enabled', bool, false) },
    limits: limits(raw),
    federationClient: federationClient(raw),
  };
}

function limits(raw: RawMap): LimitsConfig {
  const key = 'limits';
  const m = section(raw, key);
  onlyKeys(m, key, [
    'connection_timeout',
    'headers_timeout',
    'request_timeout',
    'keep_alive_timeout',
    'body_limit',
    'max_connections',
    'rate_limit',
    'trusted_proxies',
  ]);
  const rk = keyOf(key, 'rate_limit');
  const rate = section(m, 'rate_limit', key);
  onlyKeys(rate, rk, ['per_second', 'burst']);
  return {
    connectionTimeoutMs: opt(m, key, 'connection_timeout', duration, 10 * S),
    headersTimeoutMs: opt(m, key, 'headers_timeout', duration, 10 * S),
    requestTimeoutMs: opt(m, key, 'request_timeout', duration, 30 * S),
    keepAliveTimeoutMs: opt(m, key, 'keep_alive_timeout', duration, 5 * S),
    bodyLimit: opt(m, key, 'body_limit', size, 64 * 1024),
    maxConnections: opt(m, key, 'max_connections', positive, 1000),
    rateLimit: {
      perSecond: opt(rate, rk, 'per_second', positive, 10),
      burst: opt(rate, rk, 'burst', positive, 50),
    },
    // X-Forwarded-For is believed only from these peers (on `x_forwarded` listeners):
    // anyone else could name a new address per request and never be rate limited.
    trustedProxies: opt(m, key, 'trusted_proxies', proxies, ['127.0.0.0/8', '::1/128']),
  };
}

function proxies(value: unknown, key: string): string[] {
  return list(value, key).map((v, i) => {
    const k = indexOf(key, i);
    const c = parseCidr(str(v, k));
    if (!c) throw new ConfigError(k, `expected the IP address or CIDR range of a reverse proxy, such as "10.0.0.5" or "fd00::/8", got ${describeValue(v)}`);
    return formatCidr(c);
  });
}

function federationClient(raw: RawMap): FederationClientConfig {
  const key = 'federation_client';
  const m = section(raw, key);
  onlyKeys(m, key, ['request_timeout', 'max_response_size', 'max_connections_per_destination']);
  return {
    requestTimeoutMs: opt(m, key, 'request_timeout', duration, 60 * S),
    maxResponseSize: opt(m, key, 'max_response_size', size, 10 * 1024 * 1024),
    maxConnectionsPerDestination: opt(m, key, 'max_connections_per_destination', positive, 10),
  };
}

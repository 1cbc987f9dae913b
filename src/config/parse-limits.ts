// Hardening knobs for the inbound server and the outbound client, and the
// check page switch. All fedpeer's own sections, so unknown sub-keys are typos.
import { type RawMap, bool, duration, int, keyOf, onlyKeys, opt, section, size } from './read.js';
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
  };
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

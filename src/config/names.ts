// Matrix identifiers that appear as config values, checked with the same
// parser the protocol code uses so the two can never disagree.
import { parseServerName } from '../matrix/server-name.js';
import { ConfigError, describeValue } from './errors.js';
import { str } from './read.js';

const SHAPE = 'a host, IPv4 address or [IPv6] address with an optional :port';

/** host, IPv4, [IPv6], each with an optional :port. */
export function serverName(value: unknown, key: string): string {
  const s = str(value, key);
  try {
    parseServerName(s);
  } catch (e) {
    // The parser's message already quotes the value and says what is wrong with it.
    throw new ConfigError(key, `${(e as Error).message} (expected ${SHAPE})`, { cause: e });
  }
  return s;
}

/** A DNS name with no port: what a certificate is issued for. */
export function dnsName(value: unknown, key: string): string {
  const s = str(value, key);
  let parsed: ReturnType<typeof parseServerName> | undefined;
  try {
    parsed = parseServerName(s);
  } catch {
    // reported below
  }
  if (!parsed || parsed.kind !== 'dns' || parsed.port !== undefined) {
    throw new ConfigError(key, `expected a DNS name without a port, got ${describeValue(s)}`);
  }
  return s;
}

/** @localpart:server_name */
export function userId(value: string, key: string): string {
  const colon = value.indexOf(':');
  if (!value.startsWith('@') || colon < 2) {
    throw new ConfigError(key, `expected a user id such as "@alice:example.org", got ${describeValue(value)}`);
  }
  serverName(value.slice(colon + 1), key);
  return value;
}

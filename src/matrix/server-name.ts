// Server names per the spec appendix:
//   server_name = hostname [ ":" port ]      port = 1*5DIGIT
//   hostname    = IPv4address / "[" IPv6address "]" / dns-name
//   dns-name    = 1*255dns-char               dns-char = DIGIT / ALPHA / "-" / "."
import { isIPv4, isIPv6 } from 'node:net';

export type ServerNameKind = 'dns' | 'ipv4' | 'ipv6';

export interface ServerName {
  /** The host as written: a DNS name, an IPv4 address, or an IPv6 address without brackets. */
  host: string;
  port?: number;
  kind: ServerNameKind;
}

export class ServerNameError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid server name ${JSON.stringify(input)}: ${reason}`);
    this.name = 'ServerNameError';
  }
}

const DNS_NAME = /^[A-Za-z0-9.-]{1,255}$/;
const IPV4_SHAPE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]{2,45}$/;

function parsePort(input: string, text: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new ServerNameError(input, 'port must be 1 to 5 digits');
  const port = Number(text);
  if (port < 1 || port > 65535) throw new ServerNameError(input, 'port must be between 1 and 65535');
  return port;
}

export function parseServerName(input: string): ServerName {
  if (typeof input !== 'string' || input.length === 0) throw new ServerNameError(String(input), 'empty');
  let hostPart: string;
  let port: number | undefined;
  if (input.startsWith('[')) {
    const close = input.indexOf(']');
    if (close < 0) throw new ServerNameError(input, 'missing "]" after IPv6 address');
    hostPart = input.slice(1, close);
    const rest = input.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new ServerNameError(input, 'unexpected text after "]"');
      port = parsePort(input, rest.slice(1));
    }
    if (!IPV6_CHARS.test(hostPart) || !isIPv6(hostPart)) throw new ServerNameError(input, 'not a valid IPv6 address');
    return port === undefined ? { host: hostPart, kind: 'ipv6' } : { host: hostPart, port, kind: 'ipv6' };
  }
  const colon = input.lastIndexOf(':');
  if (colon >= 0 && input.indexOf(':') !== colon) throw new ServerNameError(input, 'IPv6 addresses must be in brackets');
  if (colon >= 0) {
    hostPart = input.slice(0, colon);
    port = parsePort(input, input.slice(colon + 1));
  } else {
    hostPart = input;
  }
  if (IPV4_SHAPE.test(hostPart)) {
    if (!isIPv4(hostPart)) throw new ServerNameError(input, 'not a valid IPv4 address');
    return port === undefined ? { host: hostPart, kind: 'ipv4' } : { host: hostPart, port, kind: 'ipv4' };
  }
  if (!DNS_NAME.test(hostPart)) {
    throw new ServerNameError(input, 'host may contain only letters, digits, "-" and "." (at most 255)');
  }
  return port === undefined ? { host: hostPart, kind: 'dns' } : { host: hostPart, port, kind: 'dns' };
}

export function isValidServerName(input: string): boolean {
  try {
    parseServerName(input);
    return true;
  } catch {
    return false;
  }
}

/** The host as it appears in a URL or Host header: IPv6 in brackets. */
export function urlHost(name: ServerName): string {
  return name.kind === 'ipv6' ? `[${name.host}]` : name.host;
}

export function formatServerName(name: ServerName): string {
  return name.port === undefined ? urlHost(name) : `${urlHost(name)}:${name.port}`;
}

/**
 * The form a server name is cached and de-duplicated under: lower case.
 * DNS names compare case-insensitively, and IPv6 hex digits and ports have
 * no case worth keeping apart, so `Example.ORG` and `example.org` are one
 * server, not two cache entries and two fetches.
 */
export function normaliseServerName(name: string): string {
  return name.toLowerCase();
}

// Address syntax checks for the outbound-network keys. The checks match what
// the consumers hand the values to (`net.BlockList#addSubnet`,
// `dns.Resolver#setServers`), so a config that loads cannot fail there later.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

function ipFamily(address: string): 'ipv4' | 'ipv6' | undefined {
  if (isIPv4(address)) return 'ipv4';
  // Zone ids (fe80::1%eth0) are meaningless in a range and BlockList rejects them.
  if (isIPv6(address) && !address.includes('%')) return 'ipv6';
  return undefined;
}

/**
 * "10.0.0.0/8", "fc00::/7", or a bare address (a single host, as Synapse's
 * netaddr reads it). Host bits below the prefix are allowed, as in Synapse.
 */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const family = ipFamily(address);
  if (!family) return undefined;
  const max = family === 'ipv4' ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const p = s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(p) || Number(p) > max) return undefined;
  return { address, prefix: Number(p), family };
}

/** Always written with a prefix, so consumers can split on '/'. */
export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

/** "1.1.1.1", "1.1.1.1:53", "::1", "[::1]", "[::1]:53". */
export function isDnsServer(s: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (bracketed) return ipFamily(bracketed[1]!) === 'ipv6' && validPort(bracketed[2]);
  const v4 = /^([^:]+)(?::(\d{1,5}))?$/.exec(s);
  if (v4) return isIPv4(v4[1]!) && validPort(v4[2]);
  return ipFamily(s) === 'ipv6';
}

function validPort(p: string | undefined): boolean {
  return p === undefined || (Number(p) >= 1 && Number(p) <= 65535);
}

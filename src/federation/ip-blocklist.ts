// The address blocklist: `ip_range_blacklist` minus `ip_range_whitelist`,
// checked against every address fedpeer is about to dial, after DNS has
// answered, so a name cannot rebind to a private address between check and
// connect.
//
// Like Synapse (synapse/config/server.py generate_ip_set), an IPv4 range also
// covers the IPv6 forms that carry an IPv4 address: IPv4-mapped
// (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and 6to4 (2002:AABB:CCDD::).
// Rather than widening the ranges, the embedded IPv4 address is extracted
// and checked too, which is equivalent.
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export interface AddressVerdict {
  blocked: boolean;
  /** The blacklist range that matched (when blocked), or the whitelist range that let it through. */
  rule?: string;
  /** Which list decided: blocked by the blacklist, or allowed by the whitelist despite it. */
  list?: 'ip_range_blacklist' | 'ip_range_whitelist';
}

export interface AddressPolicy {
  check(address: string): AddressVerdict;
}

interface RangeSet {
  list: BlockList;
  ranges: Array<{ cidr: string; one: BlockList }>;
}

function rangeSet(cidrs: readonly string[]): RangeSet {
  const list = new BlockList();
  const ranges = cidrs.map((cidr) => {
    const [address = '', prefix = ''] = cidr.split('/');
    const family = isIPv4(address) ? 'ipv4' : 'ipv6';
    const bits = prefix === '' ? (family === 'ipv4' ? 32 : 128) : Number(prefix);
    list.addSubnet(address, bits, family);
    const one = new BlockList();
    one.addSubnet(address, bits, family);
    return { cidr, one };
  });
  return { list, ranges };
}

/** Expands an IPv6 address into its 8 16-bit groups; undefined if it is not one. */
function groups(address: string): number[] | undefined {
  if (!isIPv6(address)) return undefined;
  let text = address.toLowerCase();
  // A trailing dotted quad stands for the last two groups.
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  const all = [...h, ...fill, ...t].map((g) => parseInt(g, 16));
  return all.length === 8 ? all : undefined;
}

function quadOf(hi: number, lo: number): string {
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** IPv4 addresses an IPv6 address carries (mapped, compatible, 6to4). */
export function embeddedIPv4(address: string): string[] {
  const g = groups(address);
  if (g === undefined) return [];
  const out: string[] = [];
  const zeros = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && g[5] === 0xffff) out.push(quadOf(g[6]!, g[7]!));
  // ::a.b.c.d, but not :: and ::1, which are IPv6's own unspecified and loopback.
  else if (zeros(0, 6) && (g[6] !== 0 || g[7]! > 1)) out.push(quadOf(g[6]!, g[7]!));
  if (g[0] === 0x2002) out.push(quadOf(g[1]!, g[2]!));
  return out;
}

function match(set: RangeSet, address: string): string | undefined {
  const candidates: Array<[string, 'ipv4' | 'ipv6']> = isIPv4(address)
    ? [[address, 'ipv4']]
    : [[address, 'ipv6'], ...embeddedIPv4(address).map((a): [string, 'ipv4'] => [a, 'ipv4'])];
  for (const [a, family] of candidates) {
    if (!set.list.check(a, family)) continue;
    // Which range, for the message; only on a hit, so the common path stays one check.
    return set.ranges.find((r) => r.one.check(a, family))?.cidr ?? 'unknown range';
  }
  return undefined;
}

export function createAddressPolicy(blacklist: readonly string[], whitelist: readonly string[]): AddressPolicy {
  const black = rangeSet(blacklist);
  const white = rangeSet(whitelist);
  return {
    check(address) {
      if (!isIPv4(address) && !isIPv6(address)) return { blocked: true, rule: 'not an IP address', list: 'ip_range_blacklist' };
      const hit = match(black, address);
      if (hit === undefined) return { blocked: false };
      const allowed = match(white, address);
      if (allowed !== undefined) return { blocked: false, rule: allowed, list: 'ip_range_whitelist' };
      return { blocked: true, rule: hit, list: 'ip_range_blacklist' };
    },
  };
}

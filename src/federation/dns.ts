// The DNS steps of server name resolution: SRV records and host addresses,
// cached for their TTL, with concurrent lookups of one record sharing one
// query. Which servers are asked is configuration (`federation_dns_servers`),
// defaulting to the system's resolvers, so sandboxes can run their own DNS.
import { promises as dnsPromises, getServers } from 'node:dns';
import { isIP } from 'node:net';
import { DnsQueryError, parseServerSpec, queryWire, type WireAnswer, type WireServer, type WireType } from './dns-wire.js';

export { DnsQueryError };

export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  /** Target host, without a trailing dot; "." (no service) is kept as ".". */
  target: string;
}

export interface SrvResult {
  records: SrvRecord[];
  /** Why there are no records: the name does not exist, or has no SRV. */
  none?: 'NXDOMAIN' | 'NODATA';
  cached: boolean;
  /** Set when a lookup failed and an expired answer was used instead. */
  stale?: string;
}

export interface AddressRecord {
  address: string;
  family: 4 | 6;
}

export interface AddressResult {
  /** IPv6 and IPv4 interleaved, IPv6 first (RFC 8305 section 4). */
  addresses: AddressRecord[];
  cached: boolean;
  /** One family failed while the other answered: what failed. */
  partialFailure?: string;
  /** How the addresses were found: the configured DNS servers, or the system's getaddrinfo. */
  via: 'dns' | 'getaddrinfo';
}

export interface DnsResolver {
  srv(name: string): Promise<SrvResult>;
  addresses(host: string): Promise<AddressResult>;
  /** The servers asked, as `host:port` strings. */
  readonly servers: readonly string[];
}

export interface DnsResolverOptions {
  /** `federation_dns_servers`; empty or absent means the system's resolvers. */
  servers?: readonly string[];
  /** Per query and server; default 5 s. */
  timeoutMs?: number;
  /** Rounds over the server list; default 2. */
  tries?: number;
  now?: () => number;
  /** How long "no such record" is cached when the answer carries no SOA; default 60 s. */
  negativeTtlMs?: number;
  /** Cap on any cached TTL; default 24 h. */
  maxTtlMs?: number;
  /** Cached answers kept; default 10,000 (oldest dropped first). */
  maxEntries?: number;
}

interface Entry {
  answer: WireAnswer;
  expiresAt: number;
}

/**
 * Resolvers used when nothing is configured. SRV still goes over the wire to
 * the system's resolvers (the ones /etc/resolv.conf names); host addresses
 * go through getaddrinfo as Synapse's do, so /etc/hosts entries count.
 */
export function createDnsResolver(opts: DnsResolverOptions = {}): DnsResolver {
  const configured = (opts.servers ?? []).length > 0;
  const specs = configured ? [...opts.servers!] : getServers();
  const servers: WireServer[] = specs.map(parseServerSpec);
  const wire = { timeoutMs: opts.timeoutMs ?? 5000, tries: opts.tries ?? 2 };
  const now = opts.now ?? Date.now;
  const negativeTtlMs = opts.negativeTtlMs ?? 60_000;
  const maxTtlMs = opts.maxTtlMs ?? 24 * 3600_000;
  const maxEntries = opts.maxEntries ?? 10_000;

  const cache = new Map<string, Entry>();
  const inflight = new Map<string, Promise<WireAnswer>>();

  function remember(key: string, answer: WireAnswer): void {
    const ttlMs = answer.ttlSeconds === undefined ? (answer.records.length === 0 ? negativeTtlMs : 0) : answer.ttlSeconds * 1000;
    // Re-inserting moves the key to the end, so the Map's order is oldest-first.
    cache.delete(key);
    cache.set(key, { answer, expiresAt: now() + Math.min(ttlMs, maxTtlMs) });
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
  }

  /** A cached or fresh answer; `stale` when a failed lookup fell back to an expired one. */
  async function lookup(name: string, type: WireType): Promise<{ answer: WireAnswer; cached: boolean; stale?: string }> {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = cache.get(key);
    if (hit && now() < hit.expiresAt) return { answer: hit.answer, cached: true };
    let pending = inflight.get(key);
    if (pending === undefined) {
      pending = queryWire(servers, name, type, wire).then(
        (answer) => {
          inflight.delete(key);
          remember(key, answer);
          return answer;
        },
        (err: unknown) => {
          inflight.delete(key);
          throw err;
        },
      );
      inflight.set(key, pending);
    }
    try {
      return { answer: await pending, cached: false };
    } catch (err) {
      // Synapse's SRV resolver falls back to what it had when DNS fails.
      const old = cache.get(key);
      if (old && type === 'SRV') return { answer: old.answer, cached: true, stale: (err as Error).message };
      throw err;
    }
  }

  async function srv(name: string): Promise<SrvResult> {
    const { answer, cached, stale } = await lookup(name, 'SRV');
    const records = answer.records.flatMap((r) => (r.type === 'SRV' ? [{ ...r.data, target: r.data.target.replace(/\.$/, '') || '.' }] : []));
    const result: SrvResult = { records, cached };
    if (records.length === 0) result.none = answer.rcode === 'NXDOMAIN' ? 'NXDOMAIN' : 'NODATA';
    if (stale !== undefined) result.stale = stale;
    return result;
  }

  const addressInflight = new Map<string, Promise<AddressResult>>();

  async function viaGetaddrinfo(host: string): Promise<AddressResult> {
    const key = host.toLowerCase();
    let pending = addressInflight.get(key);
    if (pending === undefined) {
      pending = dnsPromises
        .lookup(host, { all: true, verbatim: true })
        .then(
          (found): AddressResult => ({ addresses: interleave(found.map((f) => ({ address: f.address, family: f.family === 6 ? 6 : 4 }))), cached: false, via: 'getaddrinfo' }),
          (err: NodeJS.ErrnoException): AddressResult => {
            if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return { addresses: [], cached: false, via: 'getaddrinfo' };
            throw new DnsQueryError(err.code === 'EAI_AGAIN' ? 'ETIMEOUT' : 'ESERVFAIL', `${host} A/AAAA`, `getaddrinfo: ${err.message}`);
          },
        )
        .finally(() => addressInflight.delete(key));
      addressInflight.set(key, pending);
    }
    return pending;
  }

  async function addresses(host: string): Promise<AddressResult> {
    // An SRV target written as an address (against RFC 2782, but seen in the wild) needs no lookup.
    const literal = isIP(host);
    if (literal !== 0) return { addresses: [{ address: host, family: literal === 6 ? 6 : 4 }], cached: true, via: 'dns' };
    if (!configured) return viaGetaddrinfo(host);
    const [v6, v4] = await Promise.allSettled([lookup(host, 'AAAA'), lookup(host, 'A')]);
    const records: AddressRecord[] = [];
    const failures: string[] = [];
    let cached = true;
    for (const [settled, family] of [[v6, 6], [v4, 4]] as const) {
      if (settled.status === 'rejected') {
        failures.push((settled.reason as Error).message);
        continue;
      }
      cached &&= settled.value.cached;
      for (const r of settled.value.answer.records) if (r.type !== 'SRV') records.push({ address: r.data, family });
    }
    if (failures.length === 2 || (failures.length === 1 && records.length === 0)) {
      const reason = v4.status === 'rejected' ? v4.reason : (v6 as PromiseRejectedResult).reason;
      throw reason;
    }
    const result: AddressResult = { addresses: interleave(records), cached, via: 'dns' };
    if (failures.length > 0) result.partialFailure = failures.join('; ');
    return result;
  }

  return { srv, addresses, servers: servers.map((s) => (s.address.includes(':') ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`)) };
}

/** IPv6 first, then alternating families, each family in the order given. */
export function interleave(records: readonly AddressRecord[]): AddressRecord[] {
  const v6 = records.filter((r) => r.family === 6);
  const v4 = records.filter((r) => r.family === 4);
  const out: AddressRecord[] = [];
  for (let i = 0; i < Math.max(v6.length, v4.length); i++) {
    if (i < v6.length) out.push(v6[i]!);
    if (i < v4.length) out.push(v4[i]!);
  }
  return out;
}

/**
 * RFC 2782 ordering as Synapse does it: ascending priority; within one
 * priority, repeatedly pick a record with probability proportional to its
 * weight; records of weight 0 (or all left when the weights run out) follow
 * in random order. `random` returns [0, 1).
 */
export function orderSrv(records: readonly SrvRecord[], random: () => number): SrvRecord[] {
  const byPriority = new Map<number, SrvRecord[]>();
  for (const r of records) {
    const list = byPriority.get(r.priority) ?? [];
    list.push(r);
    byPriority.set(r.priority, list);
  }
  const out: SrvRecord[] = [];
  for (const priority of [...byPriority.keys()].sort((a, b) => a - b)) {
    const left = [...byPriority.get(priority)!];
    let total = left.reduce((sum, r) => sum + r.weight, 0);
    while (left.length > 0 && total > 0) {
      // An integer in [1, total], as RFC 2782 draws it.
      let pick = 1 + Math.floor(random() * total);
      let i = 0;
      for (; i < left.length - 1; i++) {
        pick -= left[i]!.weight;
        if (pick <= 0) break;
      }
      const [chosen] = left.splice(i, 1);
      out.push(chosen!);
      total -= chosen!.weight;
    }
    // Fisher-Yates for the zero-weight rest.
    for (let i = left.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [left[i], left[j]] = [left[j]!, left[i]!];
    }
    out.push(...left);
  }
  return out;
}

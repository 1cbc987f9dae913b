// One DNS question asked of a list of recursive resolvers over the wire
// (UDP, then TCP when the answer is truncated). fedpeer speaks DNS itself
// rather than through node:dns because node's resolver does not report SRV
// TTLs, and the spec's SRV step must cache answers for exactly their TTL;
// owning the client also means one question is one query (no search-domain
// suffixes, no hidden retries), which is what the concurrency guarantees are
// measured against.
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, isIPv4, isIPv6 } from 'node:net';
import * as packet from 'dns-packet';

export interface WireServer {
  address: string;
  port: number;
}

export type WireType = 'A' | 'AAAA' | 'SRV';

export type WireRecord =
  | { type: 'A' | 'AAAA'; data: string }
  | { type: 'SRV'; data: { priority: number; weight: number; port: number; target: string } };

export interface WireAnswer {
  rcode: 'NOERROR' | 'NXDOMAIN';
  /** Records of the asked type (CNAME links followed by the resolver are skipped). */
  records: WireRecord[];
  /** Smallest TTL among the chain, or the negative TTL from the SOA; undefined when the server gave none. */
  ttlSeconds?: number;
}

/** A question that no server answered usefully. `code` mirrors node:dns codes. */
export class DnsQueryError extends Error {
  constructor(
    readonly code: 'ETIMEOUT' | 'ESERVFAIL' | 'EREFUSED' | 'EBADRESP' | 'ECONNREFUSED' | 'ENOTIMP',
    readonly question: string,
    detail: string,
  ) {
    super(`${question}: ${detail}`);
    this.name = 'DnsQueryError';
  }
}

/** "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53", as `dns.Resolver#setServers` takes them. */
export function parseServerSpec(spec: string): WireServer {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (bracketed && isIPv6(bracketed[1]!)) return { address: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  if (isIPv6(spec)) return { address: spec, port: 53 };
  const v4 = /^([^:]+)(?::(\d+))?$/.exec(spec);
  if (v4 && isIPv4(v4[1]!)) return { address: v4[1]!, port: Number(v4[2] ?? 53) };
  throw new Error(`DNS server ${JSON.stringify(spec)}: expected an IP address with an optional port`);
}

const RCODES: Record<number, DnsQueryError['code'] | 'NOERROR' | 'NXDOMAIN'> = {
  0: 'NOERROR',
  1: 'EBADRESP',
  2: 'ESERVFAIL',
  3: 'NXDOMAIN',
  4: 'ENOTIMP',
  5: 'EREFUSED',
};

export interface WireOptions {
  timeoutMs: number;
  /** Rounds over the whole server list. */
  tries: number;
}

/**
 * Asks `servers` in order, `tries` rounds, until one gives NOERROR or
 * NXDOMAIN. Total time is bounded by servers x tries x timeoutMs (doubled at
 * most for a TCP retry).
 */
export async function queryWire(servers: readonly WireServer[], name: string, type: WireType, opts: WireOptions): Promise<WireAnswer> {
  const question = `${name} ${type}`;
  let last: DnsQueryError = new DnsQueryError('ETIMEOUT', question, 'no DNS server configured');
  for (let round = 0; round < opts.tries; round++) {
    for (const server of servers) {
      try {
        return await askOne(server, name, type, opts.timeoutMs);
      } catch (e) {
        last = e instanceof DnsQueryError ? e : new DnsQueryError('EBADRESP', question, (e as Error).message);
      }
    }
  }
  throw last;
}

async function askOne(server: WireServer, name: string, type: WireType, timeoutMs: number): Promise<WireAnswer> {
  const id = randomInt(65536);
  const query = packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
  let reply = await overUdp(server, query, id, name, type, timeoutMs);
  // A truncated answer has no usable records: ask again over TCP (RFC 7766).
  if (reply.flag_tc) reply = await overTcp(server, query, id, name, type, timeoutMs);
  return interpret(reply, name, type, server);
}

function interpret(reply: packet.DecodedPacket, name: string, type: WireType, server: WireServer): WireAnswer {
  const question = `${name} ${type}`;
  const rcode = RCODES[(reply.flags ?? 0) & 0xf] ?? 'EBADRESP';
  const at = `${server.address}:${server.port}`;
  if (rcode !== 'NOERROR' && rcode !== 'NXDOMAIN') throw new DnsQueryError(rcode, question, `${at} answered ${rcode.slice(1)}`);
  const answers = reply.answers ?? [];
  const records: WireRecord[] = [];
  const ttls: number[] = [];
  for (const a of answers) {
    const ttl = (a as { ttl?: number }).ttl ?? 0;
    if (a.type === 'CNAME') ttls.push(ttl);
    if (a.type !== type) continue;
    ttls.push(ttl);
    if ((a.type === 'A' || a.type === 'AAAA') && typeof a.data === 'string') records.push({ type: a.type, data: a.data });
    if (a.type === 'SRV') {
      const d = a.data;
      records.push({ type: 'SRV', data: { priority: d.priority ?? 0, weight: d.weight ?? 0, port: d.port ?? 0, target: d.target } });
    }
  }
  if (records.length === 0) {
    // RFC 2308: a negative answer lives as long as min(SOA TTL, SOA minimum).
    const soa = (reply.authorities ?? []).find((a) => a.type === 'SOA');
    if (soa && soa.type === 'SOA') ttls.push(Math.min(soa.ttl ?? 0, soa.data.minimum ?? 0));
  }
  const result: WireAnswer = { rcode, records };
  if (ttls.length > 0) result.ttlSeconds = Math.min(...ttls);
  return result;
}

function matches(reply: packet.DecodedPacket, id: number, name: string, type: WireType): boolean {
  const q = reply.questions?.[0];
  // Answers for another question (a late reply, a spoof attempt) are ignored.
  return reply.id === id && reply.type === 'response' && q !== undefined && q.type === type && q.name.toLowerCase() === name.toLowerCase().replace(/\.$/, '');
}

function overUdp(server: WireServer, query: Buffer, id: number, name: string, type: WireType, timeoutMs: number): Promise<packet.DecodedPacket> {
  const question = `${name} ${type}`;
  return new Promise((resolve, reject) => {
    const socket = createSocket(isIPv6(server.address) ? 'udp6' : 'udp4');
    let done = false;
    const finish = (err: Error | undefined, reply?: packet.DecodedPacket): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => finish(new DnsQueryError('ETIMEOUT', question, `no answer from ${server.address}:${server.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('error', (e: NodeJS.ErrnoException) =>
      finish(new DnsQueryError(e.code === 'ECONNREFUSED' ? 'ECONNREFUSED' : 'EBADRESP', question, `${server.address}:${server.port}: ${e.message}`)),
    );
    socket.on('message', (msg, rinfo) => {
      if (rinfo.address !== server.address || rinfo.port !== server.port) return;
      let reply: packet.DecodedPacket;
      try {
        reply = packet.decode(msg);
      } catch {
        return;
      }
      if (matches(reply, id, name, type)) finish(undefined, reply);
    });
    socket.connect(server.port, server.address, () => socket.send(query));
  });
}

const MAX_TCP_MESSAGE = 65535;

function overTcp(server: WireServer, query: Buffer, id: number, name: string, type: WireType, timeoutMs: number): Promise<packet.DecodedPacket> {
  const question = `${name} ${type}`;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.address, port: server.port });
    let pending = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | undefined, reply?: packet.DecodedPacket): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => finish(new DnsQueryError('ETIMEOUT', question, `no TCP answer from ${server.address}:${server.port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('error', (e: NodeJS.ErrnoException) =>
      finish(new DnsQueryError(e.code === 'ECONNREFUSED' ? 'ECONNREFUSED' : 'EBADRESP', question, `${server.address}:${server.port} over TCP: ${e.message}`)),
    );
    socket.on('connect', () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(query.length);
      socket.write(Buffer.concat([prefix, query]));
    });
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length > MAX_TCP_MESSAGE + 2) return finish(new DnsQueryError('EBADRESP', question, 'oversized TCP answer'));
      if (pending.length < 2) return;
      const length = pending.readUInt16BE(0);
      if (pending.length < 2 + length) return;
      let reply: packet.DecodedPacket;
      try {
        reply = packet.decode(pending.subarray(2, 2 + length));
      } catch (e) {
        return finish(new DnsQueryError('EBADRESP', question, `undecodable TCP answer: ${(e as Error).message}`));
      }
      if (!matches(reply, id, name, type)) return finish(new DnsQueryError('EBADRESP', question, 'TCP answer for another question'));
      finish(undefined, reply);
    });
    socket.on('end', () => finish(new DnsQueryError('EBADRESP', question, 'TCP connection closed before a full answer')));
  });
}

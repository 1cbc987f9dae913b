// A small DNS server for tests: UDP and TCP on the same loopback address and port,
// the wire format by dns-packet. Code under test reaches it the way production code
// reaches a real resolver, `new dns.promises.Resolver()` + `setServers([hostPort])`,
// so the real c-ares client path (truncation, TCP retry, timeouts) is exercised.
//
// It answers like a recursive resolver would: CNAME chains are followed and the
// whole chain plus the final records are returned; unknown names are NXDOMAIN and a
// known name without the asked type is NOERROR with no answers (NODATA). Names are
// matched case-insensitively. Per-name behaviours simulate broken upstreams.
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, isIPv4, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import * as packet from 'dns-packet';

export type DnsRecordType = 'A' | 'AAAA' | 'SRV' | 'CNAME';
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}
export interface RecordData {
  A: string;
  AAAA: string;
  SRV: SrvRecord;
  CNAME: string;
}
/** nxdomain/servfail answer with that rcode; timeout never answers; notimp-srv answers NOTIMP to SRV queries only. */
export type DnsBehaviour = 'servfail' | 'timeout' | 'nxdomain' | 'notimp-srv' | 'normal';

export interface ReceivedQuery {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
}

export interface DnsServerOptions {
  /** Loopback address to bind; default 127.0.0.53 (pass your block's address). */
  address?: string;
  /** 0 (default) picks a free port, the same one for UDP and TCP. */
  port?: number;
  /** UDP answers larger than this get the TC bit and no records; default 512. */
  udpMaxSize?: number;
}

export interface DnsServer {
  address: string;
  port: number;
  /** For `Resolver#setServers`: "127.2.1.1:5353" or "[::1]:5353". */
  hostPort: string;
  /**
   * Replace the `type` records of `name` (default TTL 60s). An empty list keeps the
   * name known without records of that type, so it answers NODATA. A CNAME is
   * followed for every other type asked of that name.
   */
  set<T extends DnsRecordType>(name: string, type: T, records: RecordData[T] | readonly RecordData[T][], ttl?: number): void;
  /** Forget a name (then NXDOMAIN) or one type of it (then NODATA). */
  remove(name: string, type?: DnsRecordType): void;
  setBehaviour(name: string, behaviour: DnsBehaviour): void;
  /** Queries received, optionally for one name and/or type; a UDP try and its TCP retry count twice. */
  queries(name?: string, type?: string): number;
  /** Every query received since start or the last resetCounts(), in order. */
  readonly received: readonly ReceivedQuery[];
  resetCounts(): void;
  close(): Promise<void>;
}

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4 } as const;
const MAX_CHAIN = 8;
const DEFAULT_TTL = 60;

interface RRSet {
  ttl: number;
  data: unknown[];
}

function canon(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

export async function startDnsServer(options: DnsServerOptions = {}): Promise<DnsServer> {
  const address = options.address ?? '127.0.0.53';
  const family = isIP(address);
  if (family === 0) throw new Error(`startDnsServer: address must be an IP address, got ${JSON.stringify(address)}`);
  const udpMaxSize = options.udpMaxSize ?? 512;

  const zone = new Map<string, Map<DnsRecordType, RRSet>>();
  const behaviours = new Map<string, DnsBehaviour>();
  const received: ReceivedQuery[] = [];

  /** The response for one decoded query, or undefined to stay silent. */
  function respond(query: packet.DecodedPacket, transport: 'udp' | 'tcp'): Buffer | undefined {
    const questions = query.questions ?? [];
    const question = questions[0];
    if (question) received.push({ name: canon(question.name), type: question.type, transport });
    const reply = (rcode: number, answers: packet.Answer[] = []): Buffer =>
      packet.encode({
        type: 'response',
        id: query.id ?? 0,
        // A recursive resolver: echo RD, offer RA, never claim authority.
        flags: ((query.flags ?? 0) & packet.RECURSION_DESIRED) | packet.RECURSION_AVAILABLE | rcode,
        questions,
        answers,
      });
    const opcode = ((query.flags ?? 0) >> 11) & 0xf;
    if (opcode !== 0) return reply(RCODE.NOTIMP);
    if (question === undefined || questions.length !== 1) return reply(RCODE.FORMERR);

    const result = resolve(question);
    if (result === 'drop') return undefined;
    let full: Buffer;
    try {
      full = reply(result.rcode, result.answers);
    } catch {
      return reply(RCODE.SERVFAIL);
    }
    if (transport === 'udp' && full.length > udpMaxSize) {
      // Too big for plain UDP: say so and let the client retry over TCP.
      return packet.encode({
        type: 'response',
        id: query.id ?? 0,
        flags: ((query.flags ?? 0) & packet.RECURSION_DESIRED) | packet.RECURSION_AVAILABLE | packet.TRUNCATED_RESPONSE,
        questions,
      });
    }
    return full;
  }

  function resolve(question: packet.Question): 'drop' | { rcode: number; answers: packet.Answer[] } {
    const answers: packet.Answer[] = [];
    // The first owner name is echoed as asked; later ones are CNAME targets as set.
    let owner = question.name;
    const seen = new Set<string>();
    for (;;) {
      const name = canon(owner);
      const behaviour = behaviours.get(name) ?? 'normal';
      if (behaviour === 'timeout') return 'drop';
      if (behaviour === 'servfail') return { rcode: RCODE.SERVFAIL, answers: [] };
      if (behaviour === 'notimp-srv' && question.type === 'SRV') return { rcode: RCODE.NOTIMP, answers: [] };
      const node = zone.get(name);
      if (behaviour === 'nxdomain' || node === undefined) return { rcode: RCODE.NXDOMAIN, answers };
      const cname = node.get('CNAME');
      const target = cname?.data[0] as string | undefined;
      if (cname && target !== undefined && question.type !== 'CNAME') {
        answers.push({ type: 'CNAME', class: 'IN', name: owner, ttl: cname.ttl, data: target } as packet.Answer);
        seen.add(name);
        // A loop or an overlong chain is what a real resolver gives up on.
        if (seen.has(canon(target)) || seen.size > MAX_CHAIN) return { rcode: RCODE.SERVFAIL, answers: [] };
        owner = target;
        continue;
      }
      const rrset = node.get(question.type as DnsRecordType);
      for (const data of rrset?.data ?? []) {
        answers.push({ type: question.type, class: 'IN', name: owner, ttl: rrset?.ttl ?? DEFAULT_TTL, data } as packet.Answer);
      }
      return { rcode: RCODE.NOERROR, answers };
    }
  }

  function decode(buf: Buffer): packet.DecodedPacket | undefined {
    try {
      const query = packet.decode(buf);
      return query.type === 'query' ? query : undefined;
    } catch {
      return undefined;
    }
  }

  // --- transports -----------------------------------------------------------

  const tcpSockets = new Set<Socket>();
  const onUdp = (udp: UdpSocket) => (msg: Buffer, rinfo: RemoteInfo): void => {
    const query = decode(msg);
    if (query === undefined) return;
    const response = respond(query, 'udp');
    if (response) udp.send(response, rinfo.port, rinfo.address);
  };
  const onTcp = (socket: Socket): void => {
    tcpSockets.add(socket);
    socket.on('close', () => tcpSockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      // Each message is prefixed by its 2-byte length; clients may pipeline.
      while (pending.length >= 2) {
        const length = pending.readUInt16BE(0);
        if (pending.length < 2 + length) break;
        const query = decode(pending.subarray(2, 2 + length));
        pending = pending.subarray(2 + length);
        if (query === undefined) {
          socket.destroy();
          return;
        }
        const response = respond(query, 'tcp');
        if (response) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(response.length);
          socket.write(Buffer.concat([prefix, response]));
        }
      }
    });
  };

  const { udp, tcp, port } = await bindBoth(address, family, options.port ?? 0, onUdp, onTcp);

  const server: DnsServer = {
    address,
    port,
    hostPort: family === 6 ? `[${address}]:${port}` : `${address}:${port}`,
    set(name, type, records, ttl = DEFAULT_TTL) {
      const list = (Array.isArray(records) ? records : [records]) as unknown[];
      validate(name, type, list);
      const key = canon(name);
      let node = zone.get(key);
      if (node === undefined) {
        node = new Map();
        zone.set(key, node);
      }
      node.set(type, { ttl, data: list.map((r) => (type === 'SRV' ? { ...(r as SrvRecord) } : r)) });
    },
    remove(name, type) {
      if (type === undefined) zone.delete(canon(name));
      else zone.get(canon(name))?.delete(type);
    },
    setBehaviour(name, behaviour) {
      if (behaviour === 'normal') behaviours.delete(canon(name));
      else behaviours.set(canon(name), behaviour);
    },
    queries(name, type) {
      const wanted = name === undefined ? undefined : canon(name);
      return received.filter((q) => (wanted === undefined || q.name === wanted) && (type === undefined || q.type === type)).length;
    },
    received,
    resetCounts() {
      received.length = 0;
    },
    async close() {
      for (const socket of tcpSockets) socket.destroy();
      await Promise.all([
        new Promise<void>((done) => udp.close(() => done())),
        new Promise<void>((done) => tcp.close(() => done())),
      ]);
    },
  };
  return server;
}

/** Check records when they are set, so a typo fails the test there and not as a silent SERVFAIL. */
function validate(name: string, type: DnsRecordType, records: unknown[]): void {
  const fail = (why: string): never => {
    throw new Error(`dns set ${name} ${type}: ${why}`);
  };
  if (canon(name) === '') fail('empty name');
  for (const r of records) {
    switch (type) {
      case 'A':
        if (typeof r !== 'string' || !isIPv4(r)) fail(`not an IPv4 address: ${JSON.stringify(r)}`);
        break;
      case 'AAAA':
        if (typeof r !== 'string' || !isIPv6(r)) fail(`not an IPv6 address: ${JSON.stringify(r)}`);
        break;
      case 'CNAME':
        if (typeof r !== 'string' || canon(r) === '') fail(`not a name: ${JSON.stringify(r)}`);
        break;
      case 'SRV': {
        const s = r as Partial<SrvRecord>;
        const u16 = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;
        if (!u16(s.priority) || !u16(s.weight) || !u16(s.port) || typeof s.target !== 'string') {
          fail(`want {priority, weight, port, target}, got ${JSON.stringify(r)}`);
        }
        break;
      }
    }
  }
  if (type === 'CNAME' && records.length > 1) fail('a name has at most one CNAME');
}

async function bindBoth(
  address: string,
  family: number,
  port: number,
  onUdp: (udp: UdpSocket) => (msg: Buffer, rinfo: RemoteInfo) => void,
  onTcp: (socket: Socket) => void,
): Promise<{ udp: UdpSocket; tcp: TcpServer; port: number }> {
  // With an ephemeral port, UDP picks it and TCP must get the same number; if that
  // TCP port happens to be busy, start over with a fresh UDP port.
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket(family === 6 ? 'udp6' : 'udp4');
    udp.on('message', onUdp(udp));
    await new Promise<void>((done, fail) => {
      udp.once('error', fail);
      udp.bind({ address, port, exclusive: true }, () => {
        udp.off('error', fail);
        // A failed send to a vanished client must not crash the test process.
        udp.on('error', () => undefined);
        done();
      });
    });
    const bound = udp.address().port;
    const tcp = createServer(onTcp);
    try {
      await new Promise<void>((done, fail) => {
        tcp.once('error', fail);
        tcp.listen({ host: address, port: bound, exclusive: true }, () => {
          tcp.off('error', fail);
          done();
        });
      });
      return { udp, tcp, port: bound };
    } catch (err) {
      udp.close();
      if (port !== 0 || attempt >= 10 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
}

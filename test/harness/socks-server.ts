// A SOCKS5 server for tests (RFC 1928 CONNECT, RFC 1929 username/password),
// speaking the wire protocol byte for byte, bound to one loopback address.
// It stands in for Tor's SocksPort: names are never looked up anywhere;
// a name in `hosts` is dialled at its mapped loopback address (as Tor maps an
// onion address to the service behind it), any other name is refused the way
// Tor refuses an onion service it cannot find (extended reply 0xF0), and IP
// addresses are dialled as they are. Every CONNECT is recorded, with the
// credentials that came with it (Tor's IsolateSOCKSAuth keys circuits on them).
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';

export interface SocksRequest {
  /** RFC 1929 credentials, when the client authenticated. */
  username?: string;
  password?: string;
  addressType: 'ipv4' | 'domain' | 'ipv6';
  host: string;
  port: number;
  /** What the server did: tunnelled, refused with a reply code, or failed to reach the mapped address. */
  outcome: 'connected' | 'refused' | 'unreachable';
  reply: number;
}

/**
 * normal: as described; refuse: every CONNECT gets `refuseWith` (default 2, not allowed by ruleset);
 * silent: accepts TCP and never answers; close: closes right after the greeting; http: answers like an HTTP server.
 */
export type SocksBehaviour = 'normal' | 'refuse' | 'silent' | 'close' | 'http';

export interface SocksServerOptions {
  address: string;
  /** Default 9050, Tor's SocksPort. */
  port?: number;
  /** Names (case-insensitive) -> the IP address dialled for them, keeping the port asked. */
  hosts?: Record<string, string>;
  /** Require these credentials (method 0x02 only); default: accept "no authentication" and any credentials offered. */
  credentials?: { username: string; password: string };
}

export interface SocksServer {
  address: string;
  port: number;
  /** `socks5h://127.x.y.z:9050` */
  url: string;
  requests: SocksRequest[];
  /** TCP connections accepted, handshakes finished or not. */
  connections: number;
  map(name: string, address: string): void;
  setBehaviour(b: SocksBehaviour, refuseWith?: number): void;
  close(): Promise<void>;
}

function readAddress(buf: Buffer, atyp: number): { host: string; length: number } | undefined | null {
  if (atyp === 0x01) return buf.length < 4 ? undefined : { host: [...buf.subarray(0, 4)].join('.'), length: 4 };
  if (atyp === 0x04) {
    if (buf.length < 16) return undefined;
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(i).toString(16));
    return { host: groups.join(':'), length: 16 };
  }
  if (atyp === 0x03) {
    if (buf.length < 1 || buf.length < 1 + buf[0]!) return undefined;
    return { host: buf.subarray(1, 1 + buf[0]!).toString('latin1'), length: 1 + buf[0]! };
  }
  return null;
}

export async function startSocksServer(opts: SocksServerOptions): Promise<SocksServer> {
  const hosts = new Map(Object.entries(opts.hosts ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const requests: SocksRequest[] = [];
  const sockets = new Set<Socket>();
  let behaviour: SocksBehaviour = 'normal';
  let refuseWith = 2;
  let connections = 0;

  const server: Server = createServer((client) => {
    connections++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (behaviour === 'silent') return;
    if (behaviour === 'http') {
      client.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'done' = 'greeting';
    let username: string | undefined;
    let password: string | undefined;
    const reply = (rep: number): void => void client.write(Buffer.from([0x05, rep, 0x00, 0x01, 0, 0, 0, 0, 0, 0]));

    const onData = (chunk: Buffer): void => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (stage === 'greeting') {
          if (buf.length < 2 || buf.length < 2 + buf[1]!) return;
          if (buf[0] !== 0x05) return void client.destroy();
          const methods = [...buf.subarray(2, 2 + buf[1]!)];
          buf = buf.subarray(2 + buf[1]!);
          if (behaviour === 'close') return void client.destroy();
          const method = opts.credentials ? (methods.includes(0x02) ? 0x02 : 0xff) : methods.includes(0x02) ? 0x02 : methods.includes(0x00) ? 0x00 : 0xff;
          client.write(Buffer.from([0x05, method]));
          if (method === 0xff) return void client.end();
          stage = method === 0x02 ? 'auth' : 'request';
        } else if (stage === 'auth') {
          if (buf.length < 2) return;
          const ulen = buf[1]!;
          if (buf.length < 2 + ulen + 1) return;
          const plen = buf[2 + ulen]!;
          if (buf.length < 3 + ulen + plen) return;
          username = buf.subarray(2, 2 + ulen).toString('utf8');
          password = buf.subarray(3 + ulen, 3 + ulen + plen).toString('utf8');
          buf = buf.subarray(3 + ulen + plen);
          const ok = !opts.credentials || (opts.credentials.username === username && opts.credentials.password === password);
          client.write(Buffer.from([0x01, ok ? 0x00 : 0x01]));
          if (!ok) return void client.end();
          stage = 'request';
        } else if (stage === 'request') {
          if (buf.length < 4) return;
          if (buf[0] !== 0x05 || buf[1] !== 0x01) {
            reply(0x07);
            return void client.end();
          }
          const address = readAddress(buf.subarray(4), buf[3]!);
          if (address === null) {
            reply(0x08);
            return void client.end();
          }
          if (address === undefined || buf.length < 4 + address.length + 2) return;
          const port = buf.readUInt16BE(4 + address.length);
          const addressType = buf[3] === 0x01 ? 'ipv4' : buf[3] === 0x04 ? 'ipv6' : 'domain';
          buf = buf.subarray(4 + address.length + 2);
          stage = 'done';
          client.off('data', onData);
          const record: SocksRequest = { addressType, host: address.host, port, outcome: 'refused', reply: 0, ...(username !== undefined ? { username, password: password! } : {}) };
          requests.push(record);
          const mapped = addressType === 'domain' ? hosts.get(address.host.toLowerCase()) : address.host;
          const refuse = behaviour === 'refuse' ? refuseWith : mapped === undefined ? (address.host.endsWith('.onion') ? 0xf0 : 0x04) : 0;
          if (refuse !== 0) {
            record.reply = refuse;
            reply(refuse);
            return void client.end();
          }
          const upstream = connect({ host: mapped!, port });
          upstream.on('error', () => {
            if (record.outcome === 'refused') {
              Object.assign(record, { outcome: 'unreachable', reply: 0x05 });
              reply(0x05);
            }
            client.destroy();
          });
          upstream.once('connect', () => {
            record.outcome = 'connected';
            sockets.add(upstream);
            upstream.on('close', () => sockets.delete(upstream));
            reply(0x00);
            if (buf.length > 0) upstream.write(buf);
            client.pipe(upstream);
            upstream.pipe(client);
          });
          client.on('close', () => upstream.destroy());
          return;
        } else {
          return;
        }
      }
    };
    client.on('data', onData);
  });

  const port = opts.port ?? 9050;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, opts.address, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  const host = isIP(opts.address) === 6 ? `[${opts.address}]` : opts.address;
  return {
    address: opts.address,
    port: bound,
    url: `socks5h://${host}:${bound}`,
    requests,
    get connections() {
      return connections;
    },
    map: (name, address) => void hosts.set(name.toLowerCase(), address),
    setBehaviour(b, rep = 2) {
      behaviour = b;
      refuseWith = rep;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

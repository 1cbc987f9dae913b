// A SOCKS5 client (RFC 1928, username/password from RFC 1929), CONNECT
// only: the tunnel a federation route opens through Tor or another proxy.
// Names are sent to the proxy as names (ATYP 3), so the proxy resolves them
// and fedpeer never asks DNS (what `socks5h://` means).
//
// Every stage is bounded by one deadline, every failure says which stage
// and what the proxy answered (Tor's extended onion-service replies
// included), and the bytes read are capped by the protocol's own sizes.
import { connect, isIP, type Socket } from 'node:net';

export interface SocksProxy {
  host: string;
  port: number;
  /** The proxy's URL for messages, with any password masked. */
  display: string;
}

export interface SocksConnectOptions {
  proxy: SocksProxy;
  /** What the proxy dials: a host name (resolved by the proxy) or an IP address. */
  host: string;
  port: number;
  /** Sent with RFC 1929 username/password authentication; without it only "no authentication" is offered. */
  auth?: { username: string; password: string };
  /** The whole exchange: TCP connect to the proxy, greeting, authentication and CONNECT. */
  timeoutMs: number;
}

export type SocksFailure = 'proxy-unreachable' | 'proxy-timeout' | 'proxy-auth' | 'proxy-refused' | 'proxy-protocol';

export class SocksError extends Error {
  constructor(
    readonly code: SocksFailure,
    message: string,
    /** The proxy's REP byte, when it refused the CONNECT. */
    readonly reply?: number,
  ) {
    super(message);
    this.name = 'SocksError';
  }
}

/** RFC 1928 section 6, then Tor's extended replies for onion services (socks-extensions.txt, ExtendedErrors). */
export const SOCKS_REPLIES: Readonly<Record<number, string>> = {
  1: 'general SOCKS server failure',
  2: 'connection not allowed by ruleset',
  3: 'network unreachable',
  4: 'host unreachable',
  5: 'connection refused',
  6: 'TTL expired',
  7: 'command not supported',
  8: 'address type not supported',
  0xf0: 'onion service descriptor can not be found',
  0xf1: 'onion service descriptor is invalid',
  0xf2: 'onion service introduction failed',
  0xf3: 'onion service rendezvous failed',
  0xf4: 'onion service missing client authorization',
  0xf5: 'onion service wrong client authorization',
  0xf6: 'onion service invalid address',
  0xf7: 'onion service introduction timed out',
};

const NO_AUTH = 0x00;
const USER_PASS = 0x02;

/** The 16 bytes of an IPv6 address (with an optional trailing dotted quad). */
export function ipv6Bytes(address: string): Buffer {
  let text = address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...new Array<string>(tail === undefined ? 0 : 8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** DST.ADDR with its ATYP, as CONNECT carries it. */
export function socksAddress(host: string): Buffer {
  const family = isIP(host);
  if (family === 4) return Buffer.from([0x01, ...host.split('.').map(Number)]);
  if (family === 6) return Buffer.concat([Buffer.from([0x04]), ipv6Bytes(host)]);
  const name = Buffer.from(host, 'ascii');
  if (name.length === 0 || name.length > 255) throw new SocksError('proxy-protocol', `cannot ask a SOCKS proxy for ${JSON.stringify(host)}: a name must be 1-255 bytes`);
  return Buffer.concat([Buffer.from([0x03, name.length]), name]);
}

/** Bytes of a CONNECT reply once its first 5 are known (VER REP RSV ATYP and the first address byte). */
function replyLength(head: Buffer): number | undefined {
  switch (head[3]) {
    case 0x01:
      return 4 + 4 + 2;
    case 0x04:
      return 4 + 16 + 2;
    case 0x03:
      return 4 + 1 + head[4]! + 2;
    default:
      return undefined;
  }
}

/**
 * Opens a TCP connection to the proxy and asks it to CONNECT to host:port.
 * Resolves with the socket, paused, carrying the tunnel; rejects with a
 * SocksError naming the proxy, the stage and the reason.
 */
export function socksConnect(opts: SocksConnectOptions): Promise<Socket> {
  const { proxy } = opts;
  const where = `SOCKS proxy ${proxy.display}`;
  const dest = `${isIP(opts.host) === 6 ? `[${opts.host}]` : opts.host}:${opts.port}`;
  let request: Buffer;
  try {
    request = Buffer.concat([Buffer.from([0x05, 0x01, 0x00]), socksAddress(opts.host), Buffer.from([opts.port >> 8, opts.port & 0xff])]);
  } catch (e) {
    return Promise.reject(e);
  }

  return new Promise<Socket>((resolve, reject) => {
    type Stage = 'connect' | 'greeting' | 'auth' | 'connect-reply';
    let stage: Stage = 'connect';
    let buffered = Buffer.alloc(0);
    let settled = false;
    const socket = connect({ host: proxy.host, port: proxy.port });

    const fail = (err: SocksError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    const timer = setTimeout(() => {
      const during = stage === 'connect' ? 'to accept the connection' : stage === 'connect-reply' ? `to connect to ${dest}` : 'to answer the greeting';
      fail(new SocksError('proxy-timeout', `${where} took longer than ${opts.timeoutMs} ms ${during}`));
    }, opts.timeoutMs);

    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (stage === 'connect') fail(new SocksError('proxy-unreachable', `${where} is not reachable: ${e.message}`));
      else fail(new SocksError('proxy-protocol', `${where}: connection failed during the SOCKS handshake: ${e.message}`));
    });
    socket.on('close', () => fail(new SocksError('proxy-protocol', `${where} closed the connection during the SOCKS handshake (stage: ${stage})`)));
    socket.once('connect', () => {
      stage = 'greeting';
      socket.write(Buffer.from(opts.auth ? [0x05, 0x01, USER_PASS] : [0x05, 0x01, NO_AUTH]));
    });

    const notSocks = (b: number): SocksError => {
      const http = buffered.subarray(0, 4).toString('latin1') === 'HTTP';
      return new SocksError('proxy-protocol', `${where} does not speak SOCKS5 (first byte 0x${b.toString(16).padStart(2, '0')}${http ? ', an HTTP answer: is this an HTTP proxy or Tor\'s HTTPTunnelPort rather than its SocksPort?' : ''})`);
    };

    const sendConnect = (): void => {
      stage = 'connect-reply';
      socket.write(request);
    };

    // Consumes what the current stage needs; leaves anything else buffered.
    const advance = (): void => {
      while (!settled) {
        if (stage === 'greeting') {
          if (buffered.length < 2) return;
          if (buffered[0] !== 0x05) return fail(notSocks(buffered[0]!));
          const method = buffered[1]!;
          buffered = buffered.subarray(2);
          if (method === 0xff || (method !== NO_AUTH && method !== USER_PASS) || (method === USER_PASS && !opts.auth)) {
            const offered = opts.auth ? 'username/password' : 'no authentication';
            return fail(new SocksError('proxy-auth', `${where} accepts none of the authentication methods offered (${offered})${opts.auth ? '' : '; does it need a username and password in via?'}`));
          }
          if (method === USER_PASS) {
            const user = Buffer.from(opts.auth!.username, 'utf8');
            const pass = Buffer.from(opts.auth!.password, 'utf8');
            stage = 'auth';
            socket.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
          } else {
            sendConnect();
          }
        } else if (stage === 'auth') {
          if (buffered.length < 2) return;
          const status = buffered[1]!;
          buffered = buffered.subarray(2);
          if (status !== 0x00) return fail(new SocksError('proxy-auth', `${where} refused the username and password (status ${status})`));
          sendConnect();
        } else if (stage === 'connect-reply') {
          if (buffered.length < 5) return;
          if (buffered[0] !== 0x05) return fail(notSocks(buffered[0]!));
          const rep = buffered[1]!;
          if (rep !== 0x00) {
            const why = SOCKS_REPLIES[rep] ?? 'unknown reply';
            return fail(new SocksError('proxy-refused', `${where} could not connect to ${dest}: ${why} (SOCKS reply 0x${rep.toString(16).padStart(2, '0')})`, rep));
          }
          const length = replyLength(buffered);
          if (length === undefined) return fail(new SocksError('proxy-protocol', `${where} answered CONNECT with an unknown address type ${buffered[3]}`));
          if (buffered.length < length) return;
          // The target has not been sent a byte yet, and TLS speaks first: nothing may follow the reply.
          if (buffered.length > length) return fail(new SocksError('proxy-protocol', `${where} sent ${buffered.length - length} unexpected bytes after its CONNECT reply`));
          settled = true;
          clearTimeout(timer);
          socket.removeAllListeners('data');
          socket.removeAllListeners('close');
          socket.removeAllListeners('error');
          // From here the TLS layer on top reports failures; this only keeps a late error from going unhandled.
          socket.on('error', () => undefined);
          socket.pause();
          resolve(socket);
          return;
        } else {
          return;
        }
      }
    };

    socket.on('data', (chunk: Buffer) => {
      // The longest message a proxy sends is a reply with a 255-byte name: 262 bytes.
      if (buffered.length + chunk.length > 512) return fail(new SocksError('proxy-protocol', `${where} sent more than a SOCKS5 handshake holds`));
      buffered = Buffer.concat([buffered, chunk]);
      advance();
    });
  });
}

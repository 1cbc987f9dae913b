// The SOCKS5 client against two real servers: the harness's (which maps
// names the way Tor maps onion addresses, and can misbehave on purpose) and
// Debian's microsocks, an independent implementation. Plus raw scripted
// servers for the protocol violations no real server commits.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { block } from './harness/addresses.js';
import { startSocksServer } from './harness/socks-server.js';
import { requireTool } from './harness/tools.js';
import { eventually } from './harness/tls-probe.js';
import { ipv6Bytes, socksAddress, socksConnect, SocksError, SOCKS_REPLIES } from '../src/federation/socks.js';

const addr = block('socks');

/** A plain TCP echo server standing in for the target behind the proxy. */
async function echoServer(address: string, port: number): Promise<{ server: Server; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('data', (d) => s.write(Buffer.concat([Buffer.from('echo:'), d])));
  });
  await new Promise<void>((resolve) => server.listen(port, address, resolve));
  return {
    server,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP server that answers the SOCKS greeting and request with fixed bytes. */
async function scripted(address: string, answers: Buffer[]): Promise<{ close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    let i = 0;
    s.on('data', () => {
      const next = answers[i++];
      if (next) s.write(next);
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(1080, address, resolve));
  return {
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  socket.resume();
  const answer = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
  socket.write(text);
  return answer;
}

const target = await echoServer(addr(1, 1), 7000);
t.teardown(() => target.close());
const proxy = await startSocksServer({ address: addr(0, 9), hosts: { 'abcdefghijklmnop.onion': addr(1, 1) } });
t.teardown(() => proxy.close());
const via = { host: proxy.address, port: proxy.port, display: proxy.url };

t.test('address encoding (RFC 1928 section 5)', async (t) => {
  t.same([...socksAddress('127.101.1.1')], [0x01, 127, 101, 1, 1]);
  t.same([...socksAddress('xyz.onion')], [0x03, 9, ...Buffer.from('xyz.onion')]);
  t.same(ipv6Bytes('2001:db8::1').toString('hex'), '20010db8000000000000000000000001');
  t.same(ipv6Bytes('::ffff:10.0.0.1').toString('hex'), '00000000000000000000ffff0a000001');
  t.same(ipv6Bytes('fe80::').toString('hex'), 'fe800000000000000000000000000000');
  t.same(socksAddress('::1')[0], 0x04);
  t.throws(() => socksAddress(`${'a'.repeat(256)}.onion`), /1-255 bytes/);
  await t.rejects(socksConnect({ proxy: via, host: 'x'.repeat(300), port: 1, timeoutMs: 1000 }), /1-255 bytes/);
});

t.test('a name is sent to the proxy unresolved and the tunnel carries bytes both ways', async (t) => {
  const before = proxy.requests.length;
  const socket = await socksConnect({ proxy: via, host: 'abcdefghijklmnop.onion', port: 7000, timeoutMs: 2000 });
  t.equal(await roundTrip(socket, 'hello'), 'echo:hello');
  socket.destroy();
  t.match(proxy.requests[before], { addressType: 'domain', host: 'abcdefghijklmnop.onion', port: 7000, outcome: 'connected' });
  t.notOk(proxy.requests[before]!.username, 'no authentication offered without credentials');
});

t.test('IPv4 and IPv6 destinations go as addresses', async (t) => {
  const before = proxy.requests.length;
  const socket = await socksConnect({ proxy: via, host: addr(1, 1), port: 7000, timeoutMs: 2000 });
  t.equal(await roundTrip(socket, 'v4'), 'echo:v4');
  socket.destroy();
  t.match(proxy.requests[before], { addressType: 'ipv4', host: addr(1, 1), port: 7000 });
  proxy.setBehaviour('refuse', 2);
  const err = await socksConnect({ proxy: via, host: '2001:db8::7', port: 8448, timeoutMs: 2000 }).catch((e) => e);
  proxy.setBehaviour('normal');
  t.match(proxy.requests[before + 1], { addressType: 'ipv6', host: '2001:db8:0:0:0:0:0:7', port: 8448 });
  t.match(err, { code: 'proxy-refused', reply: 2, message: /could not connect to \[2001:db8::7\]:8448: connection not allowed by ruleset \(SOCKS reply 0x02\)/ });
});

t.test('credentials are sent with RFC 1929', async (t) => {
  const before = proxy.requests.length;
  const socket = await socksConnect({ proxy: via, host: 'abcdefghijklmnop.onion', port: 7000, auth: { username: 'abcdefghijklmnop.onion', password: 'p' }, timeoutMs: 2000 });
  socket.destroy();
  t.match(proxy.requests[before], { username: 'abcdefghijklmnop.onion', password: 'p' });
});

t.test('refusals name the proxy, the destination and the reason', async (t) => {
  const err = await socksConnect({ proxy: via, host: 'unknown56.onion', port: 443, timeoutMs: 2000 }).catch((e) => e);
  t.ok(err instanceof SocksError);
  t.match(err, { code: 'proxy-refused', reply: 0xf0 });
  t.equal(err.message, `SOCKS proxy ${proxy.url} could not connect to unknown56.onion:443: onion service descriptor can not be found (SOCKS reply 0xf0)`);
  const unreachable = await socksConnect({ proxy: via, host: addr(1, 2), port: 7000, timeoutMs: 2000 }).catch((e) => e);
  t.match(unreachable, { code: 'proxy-refused', reply: 5, message: /connection refused/ });
  proxy.setBehaviour('refuse', 0x42);
  const odd = await socksConnect({ proxy: via, host: addr(1, 1), port: 7000, timeoutMs: 2000 }).catch((e) => e);
  proxy.setBehaviour('normal');
  t.match(odd, { code: 'proxy-refused', message: /unknown reply \(SOCKS reply 0x42\)/ });
  t.equal(Object.keys(SOCKS_REPLIES).length, 16);
});

t.test('a proxy that is down, silent, closes or is not SOCKS', async (t) => {
  const down = await socksConnect({ proxy: { host: addr(0, 10), port: 9050, display: 'socks5h://down' }, host: 'a.onion', port: 1, timeoutMs: 2000 }).catch((e) => e);
  t.match(down, { code: 'proxy-unreachable', message: /^SOCKS proxy socks5h:\/\/down is not reachable: connect ECONNREFUSED/ });
  for (const [behaviour, code, message] of [
    ['silent', 'proxy-timeout', /took longer than 300 ms to answer the greeting/],
    ['close', 'proxy-protocol', /closed the connection during the SOCKS handshake \(stage: greeting\)/],
    ['http', 'proxy-protocol', /does not speak SOCKS5 \(first byte 0x48, an HTTP answer: is this an HTTP proxy or Tor's HTTPTunnelPort/],
  ] as const) {
    proxy.setBehaviour(behaviour);
    const err = await socksConnect({ proxy: via, host: 'abcdefghijklmnop.onion', port: 7000, timeoutMs: 300 }).catch((e) => e);
    t.match(err, { code, message }, behaviour);
  }
  proxy.setBehaviour('normal');
});

t.test('authentication: required, wrong, or not offered', async (t) => {
  const strict = await startSocksServer({ address: addr(0, 11), credentials: { username: 'u', password: 'right' }, hosts: { 'abcdefghijklmnop.onion': addr(1, 1) } });
  t.teardown(() => strict.close());
  const v = { host: strict.address, port: strict.port, display: strict.url };
  const none = await socksConnect({ proxy: v, host: 'abcdefghijklmnop.onion', port: 7000, timeoutMs: 2000 }).catch((e) => e);
  t.match(none, { code: 'proxy-auth', message: /accepts none of the authentication methods offered \(no authentication\); does it need a username and password in via\?/ });
  const wrong = await socksConnect({ proxy: v, host: 'abcdefghijklmnop.onion', port: 7000, auth: { username: 'u', password: 'wrong' }, timeoutMs: 2000 }).catch((e) => e);
  t.match(wrong, { code: 'proxy-auth', message: /refused the username and password \(status 1\)/ });
  const right = await socksConnect({ proxy: v, host: 'abcdefghijklmnop.onion', port: 7000, auth: { username: 'u', password: 'right' }, timeoutMs: 2000 });
  t.equal(await roundTrip(right, 'auth'), 'echo:auth');
  right.destroy();
});

t.test('protocol violations from a scripted server', async (t) => {
  const cases: Array<[string, Buffer[], string, RegExp]> = [
    ['method not offered', [Buffer.from([5, 0x02])], 'proxy-auth', /accepts none of the authentication methods offered \(no authentication\)/],
    ['unknown address type', [Buffer.from([5, 0]), Buffer.from([5, 0, 0, 9, 0, 0, 0, 0, 0, 0])], 'proxy-protocol', /unknown address type 9/],
    ['bytes after the reply', [Buffer.from([5, 0]), Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x16, 3])], 'proxy-protocol', /2 unexpected bytes after its CONNECT reply/],
    ['not SOCKS5 in the reply', [Buffer.from([5, 0]), Buffer.from([4, 0x5a, 0, 0, 0, 0, 0, 0])], 'proxy-protocol', /does not speak SOCKS5 \(first byte 0x04\)/],
    ['far too much', [Buffer.alloc(600, 5)], 'proxy-protocol', /more than a SOCKS5 handshake holds/],
  ];
  for (const [i, [name, answers, code, message]] of cases.entries()) {
    const server = await scripted(addr(2, i + 1), answers);
    const err = await socksConnect({ proxy: { host: addr(2, i + 1), port: 1080, display: 'socks5h://scripted' }, host: 'x.onion', port: 1, timeoutMs: 2000 }).catch((e) => e);
    await server.close();
    t.match(err, { name: 'SocksError', code, message }, name);
  }
  // A reply with a name as its bound address (ATYP 3), split across reads.
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    sockets.push(s);
    s.once('data', () => {
      s.write(Buffer.from([5, 0]));
      s.once('data', () => {
        s.write(Buffer.from([5, 0, 0, 3, 4]));
        setTimeout(() => s.write(Buffer.from([...Buffer.from('host'), 0, 80])), 20);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(1080, addr(2, 10), resolve));
  const socket = await socksConnect({ proxy: { host: addr(2, 10), port: 1080, display: 'socks5h://scripted' }, host: 'x.onion', port: 1, timeoutMs: 2000 });
  t.ok(socket.readable, 'a domain-typed reply split over two reads completes the handshake');
  socket.destroy();
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

t.test('Debian microsocks, an independent SOCKS5 server', async (t) => {
  if (!requireTool(t, 'microsocks')) return;
  const child: ChildProcess = spawn('microsocks', ['-i', addr(0, 12), '-p', '1080', '-u', 'fed', '-P', 'peer'], { stdio: 'ignore' });
  t.teardown(() => void child.kill());
  const v = { host: addr(0, 12), port: 1080, display: 'socks5h://microsocks' };
  // It listens once it has started.
  const started = await eventually(
    async () => {
      const s = await socksConnect({ proxy: v, host: addr(1, 1), port: 7000, auth: { username: 'fed', password: 'peer' }, timeoutMs: 500 }).catch(() => undefined);
      s?.destroy();
      return s !== undefined;
    },
    { withinMs: 5000, everyMs: 50 },
  );
  t.ok(started, 'microsocks answers');
  const before = target.connections();
  const socket = await socksConnect({ proxy: v, host: addr(1, 1), port: 7000, auth: { username: 'fed', password: 'peer' }, timeoutMs: 2000 });
  t.equal(await roundTrip(socket, 'micro'), 'echo:micro');
  socket.destroy();
  t.ok(target.connections() > before, 'microsocks dialled the target');
  const wrong = await socksConnect({ proxy: v, host: addr(1, 1), port: 7000, auth: { username: 'fed', password: 'nope' }, timeoutMs: 2000 }).catch((e) => e);
  t.match(wrong, { code: 'proxy-auth', message: /refused the username and password/ });
  const none = await socksConnect({ proxy: v, host: addr(1, 1), port: 7000, timeoutMs: 2000 }).catch((e) => e);
  t.match(none, { code: 'proxy-auth' });
  const refused = await socksConnect({ proxy: v, host: addr(1, 1), port: 7001, auth: { username: 'fed', password: 'peer' }, timeoutMs: 2000 }).catch((e) => e);
  t.match(refused, { code: 'proxy-refused', message: /could not connect to 127\.101\.1\.1:7001: .* \(SOCKS reply 0x0\d\)/ });
});

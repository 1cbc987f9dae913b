import t from 'tap';
import { promises as dns } from 'node:dns';
import { connect, createServer } from 'node:net';
import * as packet from 'dns-packet';
import { startDnsServer, type DnsServer } from './harness/dns-server.js';
import { block } from './harness/addresses.js';

// Harness self-tests share 127.2; harness-dns.test.ts owns 127.2.1.x (see addresses.ts).
const addr = (d: number): string => block('harness')(1, d);

function resolverFor(server: DnsServer, options: { timeout?: number; tries?: number } = {}): dns.Resolver {
  const resolver = new dns.Resolver({ timeout: 1000, tries: 1, ...options });
  resolver.setServers([server.hostPort]);
  return resolver;
}

/** Start a server that is closed when test `t` ends. */
async function started(t: { teardown(fn: () => unknown): void }, address: string, port = 0): Promise<DnsServer> {
  const server = await startDnsServer({ address, port });
  t.teardown(() => server.close());
  return server;
}

t.test('SRV, A and AAAA through a real Resolver', async (t) => {
  const server = await started(t, addr(1));
  t.equal(server.hostPort, `${addr(1)}:${server.port}`);
  server.set('_matrix-fed._tcp.example.test', 'SRV', [
    { priority: 10, weight: 5, port: 8448, target: 'matrix.example.test' },
    { priority: 20, weight: 0, port: 443, target: 'backup.example.test' },
  ]);
  server.set('matrix.example.test', 'A', [addr(2), addr(3)], 300);
  server.set('matrix.example.test', 'AAAA', ['::1'], 120);
  const r = resolverFor(server);

  const srv = await r.resolveSrv('_matrix-fed._tcp.example.test');
  t.same(
    srv.sort((a, b) => a.priority - b.priority),
    [
      { name: 'matrix.example.test', port: 8448, priority: 10, weight: 5 },
      { name: 'backup.example.test', port: 443, priority: 20, weight: 0 },
    ],
  );
  t.same((await r.resolve4('matrix.example.test', { ttl: true })).sort((a, b) => a.address.localeCompare(b.address)), [
    { address: addr(2), ttl: 300 },
    { address: addr(3), ttl: 300 },
  ]);
  t.same(await r.resolve6('matrix.example.test', { ttl: true }), [{ address: '::1', ttl: 120 }]);
  t.same(await r.resolve4('MATRIX.Example.Test'), [addr(2), addr(3)], 'names are case-insensitive');

  t.equal(server.queries('matrix.example.test', 'A'), 2);
  t.equal(server.queries('Matrix.Example.Test'), 3, 'count by name, any type');
  t.equal(server.queries(undefined, 'SRV'), 1);
  t.equal(server.queries(), 4);
  server.resetCounts();
  t.equal(server.queries(), 0);
  t.same(server.received, []);
});

t.test('CNAME chains are answered like a recursive resolver', async (t) => {
  const server = await started(t, addr(4));
  server.set('alias.example.test', 'CNAME', 'middle.example.test', 30);
  server.set('middle.example.test', 'CNAME', ['final.example.test']);
  server.set('final.example.test', 'A', [addr(5)], 300);
  server.set('srvalias.example.test', 'CNAME', '_matrix._tcp.final.example.test');
  server.set('_matrix._tcp.final.example.test', 'SRV', { priority: 0, weight: 0, port: 8449, target: 'final.example.test' });
  server.set('dangling.example.test', 'CNAME', 'nowhere.example.test');
  server.set('loop1.example.test', 'CNAME', 'loop2.example.test');
  server.set('loop2.example.test', 'CNAME', 'loop1.example.test');
  const r = resolverFor(server);

  // c-ares reports the smallest TTL along the chain, as with a real resolver.
  t.same(await r.resolve4('alias.example.test', { ttl: true }), [{ address: addr(5), ttl: 30 }]);
  t.same(await r.resolveCname('alias.example.test'), ['middle.example.test'], 'CNAME asked directly is not followed');
  t.same(await r.resolveSrv('srvalias.example.test'), [{ name: 'final.example.test', port: 8449, priority: 0, weight: 0 }]);
  // The wire answer is NOERROR with only the CNAMEs; c-ares turns that into an
  // empty list rather than ENODATA, so code under test must treat [] as "none".
  t.same(await r.resolve6('alias.example.test'), [], 'chain ends at a name without AAAA');
  await t.rejects(r.resolve4('dangling.example.test'), { code: 'ENOTFOUND' }, 'chain ends at an unknown name');
  await t.rejects(r.resolve4('loop1.example.test'), { code: 'ESERVFAIL' }, 'loops are a server failure');
  t.equal(server.queries('middle.example.test'), 0, 'the server follows the chain itself');
});

t.test('NXDOMAIN, NODATA, SERVFAIL, timeout and back to normal', async (t) => {
  const server = await started(t, addr(6));
  server.set('host.example.test', 'A', [addr(7)]);
  server.set('empty.example.test', 'AAAA', []);
  const r = resolverFor(server);

  await t.rejects(r.resolve4('unknown.example.test'), { code: 'ENOTFOUND' }, 'unknown name');
  await t.rejects(r.resolve6('host.example.test'), { code: 'ENODATA' }, 'known name, other type');
  await t.rejects(r.resolve4('empty.example.test'), { code: 'ENODATA' });
  await t.rejects(r.resolve6('empty.example.test'), { code: 'ENODATA' }, 'empty list is NODATA');
  await t.rejects(r.resolveSrv('_matrix-fed._tcp.host.example.test'), { code: 'ENOTFOUND' });

  server.setBehaviour('Host.example.test', 'servfail');
  await t.rejects(r.resolve4('host.example.test'), { code: 'ESERVFAIL' });
  server.setBehaviour('host.example.test', 'nxdomain');
  await t.rejects(r.resolve4('host.example.test'), { code: 'ENOTFOUND' }, 'nxdomain overrides records');
  server.setBehaviour('host.example.test', 'timeout');
  const quick = resolverFor(server, { timeout: 200, tries: 1 });
  const t0 = Date.now();
  await t.rejects(quick.resolve4('host.example.test'), { code: 'ETIMEOUT' });
  t.ok(Date.now() - t0 < 3000, 'gave up quickly');
  t.equal(server.queries('host.example.test', 'A'), 3, 'the unanswered query was still counted');
  server.setBehaviour('host.example.test', 'normal');
  t.same(await r.resolve4('host.example.test'), [addr(7)]);

  server.remove('host.example.test', 'A');
  await t.rejects(r.resolve4('host.example.test'), { code: 'ENODATA' }, 'removing a type leaves NODATA');
  server.remove('host.example.test');
  await t.rejects(r.resolve4('host.example.test'), { code: 'ENOTFOUND' }, 'removing the name gives NXDOMAIN');
});

t.test('large answers: TC over UDP, full answer over TCP', async (t) => {
  const server = await started(t, addr(8));
  const many = Array.from({ length: 60 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
  server.set('big.example.test', 'A', many);
  server.set('small.example.test', 'A', [addr(9)]);
  const r = resolverFor(server);

  t.same((await r.resolve4('big.example.test')).sort(), [...many].sort());
  t.same(
    server.received.filter((q) => q.name === 'big.example.test').map((q) => q.transport),
    ['udp', 'tcp'],
    'c-ares retried over TCP after the truncated UDP answer',
  );
  await r.resolve4('small.example.test');
  t.same(server.received.filter((q) => q.name === 'small.example.test').map((q) => q.transport), ['udp']);

  // Several pipelined queries on one TCP connection, length-prefixed.
  const socket = connect({ host: server.address, port: server.port });
  t.teardown(() => socket.destroy());
  const replies = await new Promise<packet.DecodedPacket[]>((done, fail) => {
    let buf = Buffer.alloc(0);
    const got: packet.DecodedPacket[] = [];
    socket.on('error', fail);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        got.push(packet.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (got.length === 2) done(got);
    });
    socket.write(
      Buffer.concat([
        packet.streamEncode({ type: 'query', id: 7, questions: [{ type: 'A', name: 'big.example.test' }] }),
        packet.streamEncode({ type: 'query', id: 8, questions: [{ type: 'A', name: 'nope.example.test' }] }),
      ]),
    );
  });
  t.equal(replies[0]?.id, 7);
  t.equal(replies[0]?.answers?.length, 60);
  t.equal(replies[0]?.flag_tc, false);
  t.equal(replies[1]?.id, 8);
  t.equal((replies[1] as unknown as { rcode: string }).rcode, 'NXDOMAIN');
});

t.test('the real DNS port 53, and a fixed port shared by UDP and TCP', async (t) => {
  const on53 = await started(t, addr(10), 53);
  on53.set('x.example.test', 'A', [addr(11)]);
  const r = new dns.Resolver({ timeout: 1000, tries: 1 });
  r.setServers([addr(10)]); // no port: 53
  t.same(await r.resolve4('x.example.test'), [addr(11)]);

  await t.rejects(startDnsServer({ address: addr(10), port: 53 }), { code: 'EADDRINUSE' }, 'a taken port is an error');
  await t.rejects(startDnsServer({ address: 'localhost' }), /address must be an IP address/);
});

// Some CI containers have no ::1; skip rather than fail there.
const hasIpv6 = await new Promise<boolean>((done) => {
  const probe = createServer();
  probe.once('error', () => done(false));
  probe.listen({ host: '::1', port: 0 }, () => probe.close(() => done(true)));
});

t.test('IPv6 loopback', { skip: hasIpv6 ? false : 'no ::1 on this host' }, async (t) => {
  const server = await started(t, '::1');
  t.equal(server.hostPort, `[::1]:${server.port}`);
  server.set('v6.example.test', 'AAAA', ['fd00::1']);
  t.same(await resolverFor(server).resolve6('v6.example.test'), ['fd00::1']);
});

t.test('bad records fail when set, not as a silent SERVFAIL later', async (t) => {
  const server = await started(t, addr(12));
  t.throws(() => server.set('a.test', 'A', ['::1']), /dns set a.test A: not an IPv4 address/);
  t.throws(() => server.set('a.test', 'AAAA', ['127.0.0.1']), /not an IPv6 address/);
  t.throws(() => server.set('a.test', 'CNAME', ['b.test', 'c.test']), /at most one CNAME/);
  t.throws(() => server.set('a.test', 'SRV', [{ priority: 1, weight: 1, port: 70000, target: 'x' }]), /want \{priority, weight, port, target\}/);
  t.throws(() => server.set('.', 'A', ['127.0.0.1']), /empty name/);
});

t.test('malformed and unusual queries', async (t) => {
  const server = await started(t, addr(13));
  server.set('known.example.test', 'A', [addr(14)]);
  const { createSocket } = await import('node:dgram');
  const udp = createSocket('udp4');
  t.teardown(() => udp.close());
  const ask = (msg: Buffer): Promise<packet.DecodedPacket | undefined> =>
    new Promise((done) => {
      const timer = setTimeout(() => {
        udp.off('message', onMessage);
        done(undefined);
      }, 300);
      const onMessage = (reply: Buffer): void => {
        clearTimeout(timer);
        done(packet.decode(reply));
      };
      udp.once('message', onMessage);
      udp.send(msg, server.port, server.address);
    });

  t.equal(await ask(Buffer.from('garbage')), undefined, 'garbage is ignored');
  const txt = await ask(packet.encode({ type: 'query', id: 1, flags: packet.RECURSION_DESIRED, questions: [{ type: 'TXT', name: 'known.example.test' }] }));
  t.equal((txt as unknown as { rcode: string }).rcode, 'NOERROR', 'other types on a known name are NODATA');
  t.equal(txt?.answers?.length, 0);
  t.ok(txt?.flag_rd && txt.flag_ra && !txt.flag_aa, 'RD echoed, RA set, not authoritative');
  const none = await ask(packet.encode({ type: 'query', id: 2, questions: [] }));
  t.equal((none as unknown as { rcode: string }).rcode, 'FORMERR');
  const update = await ask(packet.encode({ type: 'query', id: 3, flags: 5 << 11, questions: [{ type: 'A', name: 'known.example.test' }] }));
  t.equal((update as unknown as { rcode: string }).rcode, 'NOTIMP');
});

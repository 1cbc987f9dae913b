// Server name resolution against the real DNS server and real HTTPS
// well-known servers on 127.20.x.y, step by step as the spec orders them.
import t from 'tap';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestHttpsServer } from './harness/https-server.js';
import { orderSrv, interleave } from '../src/federation/dns.js';
import { FederationError } from '../src/federation/errors.js';

const world = await federationWorld('resolver');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

const servers: TestHttpsServer[] = [];
t.teardown(() => Promise.all(servers.map((s) => s.close())));

/** An HTTPS well-known server for `name` at `address`:443, answering `body` (or a status). */
async function wellKnown(name: string, address: string, answer: unknown, status = 200): Promise<TestHttpsServer> {
  const leaf = await pki.leaf([name]);
  const server = await startHttpsServer({
    address,
    port: 443,
    certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
    handler: (_req, res) => {
      const body = typeof answer === 'string' ? answer : JSON.stringify(answer);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    },
  });
  servers.push(server);
  dns.set(name, 'A', address);
  return server;
}

const client = await world.client();
const resolve = (name: string) => client.resolveServerName(name);

t.test('IP literals: the address itself, port or 8448, no well-known, no DNS', async (t) => {
  dns.resetCounts();
  const v4 = await resolve(addr(1, 1));
  t.same(v4.targets, [{ address: addr(1, 1), port: 8448, host: addr(1, 1), tls_name: addr(1, 1) }]);
  const v4p = await resolve(`${addr(1, 1)}:8000`);
  t.same(v4p.targets, [{ address: addr(1, 1), port: 8000, host: `${addr(1, 1)}:8000`, tls_name: addr(1, 1) }]);
  const v6 = await resolve('[::1]');
  t.same(v6.targets, [{ address: '::1', port: 8448, host: '[::1]', tls_name: '::1' }]);
  const v6p = await resolve('[::1]:1234');
  t.same(v6p.targets, [{ address: '::1', port: 1234, host: '[::1]:1234', tls_name: '::1' }]);
  t.equal(v6p.steps[0]?.step, 'ip-literal');
  t.equal(dns.received.length, 0, 'no DNS query for an IP literal');
});

t.test('name with explicit port: AAAA/A, that port, no well-known, no SRV', async (t) => {
  dns.set('port.test', 'A', addr(1, 2));
  dns.set('port.test', 'AAAA', '::1');
  dns.resetCounts();
  const r = await resolve('Port.test:8443');
  t.same(r.targets, [
    { address: '::1', port: 8443, host: 'Port.test:8443', tls_name: 'port.test' },
    { address: addr(1, 2), port: 8443, host: 'Port.test:8443', tls_name: 'port.test' },
  ]);
  t.equal(dns.queries('_matrix-fed._tcp.port.test'), 0);
  t.equal(dns.queries('port.test', 'A'), 1);
  t.equal(dns.queries('port.test', 'AAAA'), 1);
  t.same(r.steps.map((s) => s.step), ['explicit-port', 'address']);
});

t.test('well-known delegation to an IP literal, with and without port', async (t) => {
  await wellKnown('wk-ip.test', addr(2, 1), { 'm.server': `${addr(2, 2)}:9000` });
  const r = await resolve('wk-ip.test');
  t.same(r.targets, [{ address: addr(2, 2), port: 9000, host: `${addr(2, 2)}:9000`, tls_name: addr(2, 2) }]);
  t.equal(r.delegatedTo, `${addr(2, 2)}:9000`);
  await wellKnown('wk-ip6.test', addr(2, 3), { 'm.server': '[::1]' });
  const r6 = await resolve('wk-ip6.test');
  t.same(r6.targets, [{ address: '::1', port: 8448, host: '[::1]', tls_name: '::1' }]);
  t.same(r6.steps.map((s) => s.step), ['well-known', 'delegated-ip-literal']);
});

t.test('well-known delegation to a name with port: AAAA/A of it, no SRV', async (t) => {
  await wellKnown('wk-port.test', addr(2, 4), { 'm.server': 'hs.wk-port.test:8449' });
  dns.set('hs.wk-port.test', 'A', addr(2, 5));
  dns.resetCounts();
  const r = await resolve('wk-port.test');
  t.same(r.targets, [{ address: addr(2, 5), port: 8449, host: 'hs.wk-port.test:8449', tls_name: 'hs.wk-port.test' }]);
  t.equal(dns.queries('_matrix-fed._tcp.hs.wk-port.test'), 0);
});

t.test('well-known delegation to a name: _matrix-fed SRV of the delegated name; Host and certificate are the delegated name', async (t) => {
  await wellKnown('wk-srv.test', addr(2, 6), { 'm.server': 'hs.wk-srv.test' });
  dns.set('_matrix-fed._tcp.hs.wk-srv.test', 'SRV', { priority: 0, weight: 0, port: 8500, target: 'box.wk-srv.test' });
  dns.set('_matrix._tcp.hs.wk-srv.test', 'SRV', { priority: 0, weight: 0, port: 1, target: 'legacy.wk-srv.test' });
  dns.set('box.wk-srv.test', 'A', addr(2, 7));
  dns.resetCounts();
  const r = await resolve('wk-srv.test');
  t.same(r.targets, [{ address: addr(2, 7), port: 8500, host: 'hs.wk-srv.test', tls_name: 'hs.wk-srv.test' }]);
  t.equal(dns.queries('_matrix._tcp.hs.wk-srv.test'), 0, 'legacy SRV not asked when _matrix-fed has records');
  t.same(r.steps.map((s) => s.step), ['well-known', 'srv', 'srv-target']);
});

t.test('delegated name: legacy _matrix SRV only when _matrix-fed has none, then 8448', async (t) => {
  await wellKnown('wk-legacy.test', addr(2, 8), { 'm.server': 'hs.wk-legacy.test' });
  dns.set('_matrix._tcp.hs.wk-legacy.test', 'SRV', { priority: 0, weight: 0, port: 8501, target: 'old.wk-legacy.test' });
  dns.set('old.wk-legacy.test', 'A', addr(2, 9));
  const r = await resolve('wk-legacy.test');
  t.same(r.targets, [{ address: addr(2, 9), port: 8501, host: 'hs.wk-legacy.test', tls_name: 'hs.wk-legacy.test' }]);
  t.same(r.steps.map((s) => `${s.step}:${s.outcome}`), ['well-known:found', 'srv:none', 'srv-legacy:found', 'srv-target:found']);

  await wellKnown('wk-plain.test', addr(2, 10), { 'm.server': 'hs.wk-plain.test' });
  dns.set('hs.wk-plain.test', 'A', addr(2, 11));
  const p = await resolve('wk-plain.test');
  t.same(p.targets, [{ address: addr(2, 11), port: 8448, host: 'hs.wk-plain.test', tls_name: 'hs.wk-plain.test' }]);
  t.same(p.steps.map((s) => `${s.step}:${s.outcome}`), ['well-known:found', 'srv:none', 'srv-legacy:none', 'address:found']);
});

t.test('no valid well-known: SRV, legacy SRV and 8448 on the original name, certificate for it', async (t) => {
  await wellKnown('nowk.test', addr(3, 1), { error: 'nope' }, 404);
  dns.set('_matrix-fed._tcp.nowk.test', 'SRV', { priority: 0, weight: 0, port: 8600, target: 'hs.nowk.test' });
  dns.set('hs.nowk.test', 'A', addr(3, 2));
  const r = await resolve('nowk.test');
  t.same(r.targets, [{ address: addr(3, 2), port: 8600, host: 'nowk.test', tls_name: 'nowk.test' }]);
  t.equal(r.steps[0]?.outcome, 'none');
  t.match(r.steps[0]?.detail, /404/);

  // No A record at all for the well-known: the fetch fails, SRV follows.
  dns.set('_matrix._tcp.legacy-only.test', 'SRV', { priority: 0, weight: 0, port: 8601, target: 'hs.legacy-only.test' });
  dns.set('hs.legacy-only.test', 'A', addr(3, 3));
  const l = await resolve('legacy-only.test');
  t.same(l.targets, [{ address: addr(3, 3), port: 8601, host: 'legacy-only.test', tls_name: 'legacy-only.test' }]);
  t.same(l.steps.map((s) => `${s.step}:${s.outcome}`), ['well-known:failed', 'srv:none', 'srv-legacy:found', 'srv-target:found']);

  dns.set('bare.test', 'A', addr(3, 4));
  const b = await resolve('bare.test');
  t.same(b.targets, [{ address: addr(3, 4), port: 8448, host: 'bare.test', tls_name: 'bare.test' }]);
});

t.test('SRV priority and weight: lower priority first, weighted draw within one', async (t) => {
  dns.set('_matrix-fed._tcp.weights.test', 'SRV', [
    { priority: 10, weight: 0, port: 1, target: 'late.weights.test' },
    { priority: 0, weight: 1, port: 2, target: 'light.weights.test' },
    { priority: 0, weight: 3, port: 3, target: 'heavy.weights.test' },
  ]);
  dns.set('late.weights.test', 'A', addr(4, 1));
  dns.set('light.weights.test', 'A', addr(4, 2));
  dns.set('heavy.weights.test', 'A', addr(4, 3));
  // random 0.99: the draw is 4 of 4, past light's 1, so heavy goes first.
  const high = await world.client({ random: () => 0.99 });
  t.same((await high.resolveServerName('weights.test')).targets.map((x) => x.port), [3, 2, 1]);
  // random 0: the draw is 1, light (listed first) goes first.
  const low = await world.client({ random: () => 0 });
  t.same((await low.resolveServerName('weights.test')).targets.map((x) => x.port), [2, 3, 1]);
});

t.test('orderSrv: weights give proportional first picks; zero weights come last', async (t) => {
  let state = 1;
  const random = () => ((state = (state * 48271) % 2147483647) / 2147483647);
  const firsts: Record<string, number> = {};
  const records = [
    { priority: 0, weight: 10, port: 1, target: 'a' },
    { priority: 0, weight: 30, port: 2, target: 'b' },
    { priority: 0, weight: 0, port: 3, target: 'z' },
  ];
  for (let i = 0; i < 4000; i++) {
    const o = orderSrv(records, random);
    firsts[o[0]!.target] = (firsts[o[0]!.target] ?? 0) + 1;
    t.equal(o[2]!.target, 'z');
  }
  t.ok(firsts.b! / 4000 > 0.7 && firsts.b! / 4000 < 0.8, `b first ${firsts.b} of 4000 (expect ~3000)`);
  t.notOk(firsts.z);
  t.same(orderSrv([{ priority: 0, weight: 0, port: 1, target: 'x' }, { priority: 0, weight: 0, port: 2, target: 'y' }], () => 0).length, 2);
  t.same(
    interleave([{ address: 'a', family: 4 }, { address: 'b', family: 4 }, { address: 'c', family: 6 }]).map((r) => r.address),
    ['c', 'a', 'b'],
  );
});

t.test('a single "." SRV target: service not offered, no fallback', async (t) => {
  dns.set('_matrix-fed._tcp.dot.test', 'SRV', { priority: 0, weight: 0, port: 0, target: '.' });
  dns.set('dot.test', 'A', addr(4, 4));
  dns.resetCounts();
  const err = await resolve('dot.test').catch((e: unknown) => e);
  t.type(err, FederationError);
  t.match(err, { step: 'srv', check: 'service-unavailable' });
  t.equal(dns.queries('_matrix._tcp.dot.test'), 0);
});

t.test('SRV lookup failing (SERVFAIL) fails resolution; NXDOMAIN falls through', async (t) => {
  dns.set('servfail.test', 'A', addr(4, 5));
  dns.set('_matrix-fed._tcp.servfail.test', 'SRV', []);
  dns.setBehaviour('_matrix-fed._tcp.servfail.test', 'servfail');
  await t.rejects(resolve('servfail.test'), { name: 'FederationError', step: 'srv', check: 'ESERVFAIL' });
  const err = (await resolve('servfail.test').catch((e: unknown) => e)) as FederationError;
  t.ok(Array.isArray(err.steps) && err.steps.length >= 2, 'steps travel with the error');
});

t.test('a DNS server answering NOTIMP to SRV queries: no SRV records, as Synapse has it; on to 8448', async (t) => {
  dns.set('notimp.test', 'A', addr(4, 8));
  dns.setBehaviour('_matrix-fed._tcp.notimp.test', 'notimp-srv');
  dns.setBehaviour('_matrix._tcp.notimp.test', 'notimp-srv');
  const r = await resolve('notimp.test');
  t.same(r.targets, [{ address: addr(4, 8), port: 8448, host: 'notimp.test', tls_name: 'notimp.test' }]);
  t.same(r.steps.filter((s) => s.step.startsWith('srv')).map((s) => s.outcome), ['none', 'none']);
  t.match(r.steps.find((s) => s.step === 'srv')?.detail, /does not implement SRV queries/);
});

t.test('a name with 2,000 A records yields at most 16 targets', async (t) => {
  const { MAX_TARGETS } = await import('../src/federation/resolver.js');
  dns.set('thousands.test', 'A', Array.from({ length: 2000 }, (_, i) => addr(5 + Math.floor(i / 250), i % 250)));
  const r = await resolve('thousands.test:8448');
  t.equal(r.targets.length, MAX_TARGETS);
  t.equal(MAX_TARGETS, 16);
  t.match(r.steps.at(-1), { outcome: 'skipped', detail: /2000 addresses found; only the first 16 are tried/ });
});

t.test('SRV target without addresses is skipped; none left is an error, not a fallback', async (t) => {
  dns.set('_matrix-fed._tcp.holes.test', 'SRV', [
    { priority: 0, weight: 0, port: 1, target: 'missing.holes.test' },
    { priority: 1, weight: 0, port: 2, target: 'there.holes.test' },
  ]);
  dns.set('there.holes.test', 'A', addr(4, 6));
  const r = await resolve('holes.test');
  t.same(r.targets.map((x) => x.port), [2]);
  t.match(r.steps.find((s) => s.lookup.startsWith('missing'))?.detail, /skipped/);

  dns.set('_matrix-fed._tcp.allholes.test', 'SRV', { priority: 0, weight: 0, port: 1, target: 'missing.allholes.test' });
  dns.set('allholes.test', 'A', addr(4, 7));
  await t.rejects(resolve('allholes.test'), { name: 'FederationError', step: 'srv', check: 'no-target-address' });
});

t.test('CNAME chains are followed for addresses', async (t) => {
  dns.set('alias.test', 'CNAME', 'real.alias.test');
  dns.set('real.alias.test', 'A', addr(4, 8));
  const r = await resolve('alias.test:8448');
  t.same(r.targets.map((x) => x.address), [addr(4, 8)]);
});

t.test('SRV and address answers are cached for their TTL', async (t) => {
  let now = 1_000_000;
  const c = await world.client({ now: () => now });
  dns.set('_matrix-fed._tcp.ttl.test', 'SRV', { priority: 0, weight: 0, port: 8448, target: 'hs.ttl.test' }, 30);
  dns.set('hs.ttl.test', 'A', addr(4, 9), 300);
  dns.resetCounts();
  await c.resolveServerName('ttl.test');
  now += 29_000;
  const again = await c.resolveServerName('ttl.test');
  t.equal(dns.queries('_matrix-fed._tcp.ttl.test'), 1);
  t.ok(again.steps.find((s) => s.step === 'srv')?.cached);
  now += 2_000;
  await c.resolveServerName('ttl.test');
  t.equal(dns.queries('_matrix-fed._tcp.ttl.test'), 2, 'asked again after 30 s');
  t.equal(dns.queries('hs.ttl.test', 'A'), 1, 'A still cached (300 s)');
});

t.test('an SRV lookup failing after a cached answer expired uses the stale answer', async (t) => {
  let now = 5_000_000;
  const c = await world.client({ now: () => now });
  dns.set('_matrix-fed._tcp.stale.test', 'SRV', { priority: 0, weight: 0, port: 8448, target: 'hs.stale.test' }, 10);
  dns.set('hs.stale.test', 'A', addr(4, 10));
  await c.resolveServerName('stale.test');
  now += 60_000;
  dns.setBehaviour('_matrix-fed._tcp.stale.test', 'servfail');
  const r = await c.resolveServerName('stale.test');
  t.same(r.targets.map((x) => x.address), [addr(4, 10)]);
  t.match(r.steps.find((s) => s.step === 'srv')?.detail, /stale/);
});

t.test('concurrent resolutions share one well-known fetch and one query per record', async (t) => {
  const c = await world.client();
  const server = await wellKnown('busy.test', addr(5, 1), { 'm.server': 'hs.busy.test' });
  dns.set('hs.busy.test', 'A', addr(5, 2));
  dns.resetCounts();
  const all = await Promise.all(Array.from({ length: 100 }, () => c.resolveServerName('busy.test')));
  t.equal(all.length, 100);
  t.equal(server.requests.length, 1);
  for (const [name, type] of [['busy.test', 'A'], ['busy.test', 'AAAA'], ['_matrix-fed._tcp.hs.busy.test', 'SRV'], ['_matrix._tcp.hs.busy.test', 'SRV'], ['hs.busy.test', 'A'], ['hs.busy.test', 'AAAA']] as const) {
    t.equal(dns.queries(name, type), 1, `${name} ${type} asked once`);
  }
});

t.test('blocked addresses are dropped; none left is an error', async (t) => {
  dns.set('mixed.test', 'A', [addr(200, 1), addr(6, 1)]);
  const r = await resolve('mixed.test:8448');
  t.same(r.targets.map((x) => x.address), [addr(6, 1)]);
  t.match(r.steps.find((s) => s.step === 'blocklist')?.detail, /127\.0\.0\.0\/8/);
  dns.set('blocked.test', 'A', addr(200, 2));
  await t.rejects(resolve('blocked.test:8448'), { name: 'FederationError', step: 'blocklist', check: 'ip_range_blacklist' });
  await t.rejects(resolve('[::ffff:127.20.200.3]'), { name: 'FederationError', step: 'blocklist' }, 'IPv4-mapped IPv6 of a blocked range');
  await t.rejects(resolve('127.20.200.3'), { name: 'FederationError', step: 'blocklist' });
});

t.test('bad server names and missing hosts', async (t) => {
  await t.rejects(resolve('bad name'), { name: 'FederationError', step: 'server-name', check: 'grammar' });
  await t.rejects(resolve('nothing.test:8448'), { name: 'FederationError', step: 'dns', check: 'no-address' });
  dns.set('slow.test', 'A', addr(6, 2));
  dns.setBehaviour('slow.test', 'timeout');
  await t.rejects(resolve('slow.test:8448'), { name: 'FederationError', step: 'dns', check: 'ETIMEOUT' });
});

t.test('DNS client: truncated UDP answers are asked again over TCP', async (t) => {
  const many = Array.from({ length: 40 }, (_, i) => addr(7, i + 1));
  dns.set('many.test', 'A', many);
  dns.resetCounts();
  const r = await resolve('many.test:8448');
  t.equal(r.targets.length, 16, '40 addresses, the first 16 tried');
  t.same(dns.received.filter((q) => q.name === 'many.test' && q.type === 'A').map((q) => q.transport), ['udp', 'tcp']);
});

t.test('DNS client: server specs, an unreachable server, the getaddrinfo path', async (t) => {
  const { parseServerSpec } = await import('../src/federation/dns-wire.js');
  const { createDnsResolver } = await import('../src/federation/dns.js');
  t.same(parseServerSpec('127.0.0.1'), { address: '127.0.0.1', port: 53 });
  t.same(parseServerSpec('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353 });
  t.same(parseServerSpec('::1'), { address: '::1', port: 53 });
  t.same(parseServerSpec('[::1]:5353'), { address: '::1', port: 5353 });
  t.throws(() => parseServerSpec('dns.example'), /expected an IP address/);

  // Nothing listens on 127.20.0.54: the query fails fast, for every try.
  const dead = createDnsResolver({ servers: [`${addr(0, 54)}:53`], timeoutMs: 300, tries: 2 });
  await t.rejects(dead.srv('_matrix-fed._tcp.x.test'), { name: 'DnsQueryError', code: /ECONNREFUSED|ETIMEOUT/ });
  t.same(dead.servers, [`${addr(0, 54)}:53`]);

  // No servers configured: host addresses through getaddrinfo (/etc/hosts), as Synapse does.
  const system = createDnsResolver({});
  const local = await system.addresses('localhost');
  t.equal(local.via, 'getaddrinfo');
  t.ok(local.addresses.some((a) => a.address === '127.0.0.1' || a.address === '::1'));
  const literal = await system.addresses('127.0.0.1');
  t.same(literal.addresses, [{ address: '127.0.0.1', family: 4 }]);
});

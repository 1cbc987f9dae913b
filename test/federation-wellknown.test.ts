// The /.well-known/matrix/server fetch and its cache, against real HTTPS
// servers on 127.21.x.y:443: redirects, bad bodies, limits, and Synapse's
// cache lifetimes driven by an injected clock.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer, type TestHttpsServer } from './harness/https-server.js';
import { buildFederationParts } from '../src/federation/client.js';
import { cachePeriodFromHeaders, createWellKnownResolver, WELL_KNOWN_MAX_BYTES } from '../src/federation/well-known.js';

const world = await federationWorld('wellknown-fetch');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;
interface Site {
  server: TestHttpsServer;
  handle: Handler;
}
const sites: Site[] = [];
t.teardown(() => Promise.all(sites.map((s) => s.server.close())));

/** An HTTPS server for `name` at 127.21.c.d:443 whose handler a test can swap. */
async function site(name: string, c: number, d: number, handle: Handler, certNames = [name]): Promise<Site> {
  const leaf = await pki.leaf(certNames);
  const s = { handle } as Site;
  s.server = await startHttpsServer({ address: addr(c, d), port: 443, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: (req, res) => s.handle(req, res) });
  dns.set(name, 'A', addr(c, d));
  sites.push(s);
  return s;
}

const json = (body: unknown, headers: Record<string, string> = {}, status = 200): Handler => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};

let clock = 1_700_000_000_000;
const now = () => clock;
const parts = await buildFederationParts({ config: world.config(), now, random: () => 0.5, dnsTimeoutMs: 300 });
t.teardown(() => parts.transport.close());
const sleeps: number[] = [];
const wk = (opts: { random?: () => number; timeoutMs?: number } = {}) =>
  createWellKnownResolver({ dns: parts.dns, routes: parts.routes, transport: parts.transport, now, random: opts.random ?? (() => 0.5), sleep: async (ms) => void sleeps.push(ms), timeoutMs: opts.timeoutMs ?? 3000 });

const MIN = 60_000;
const HOUR = 60 * MIN;

t.test('a valid answer; Host and SNI are the server name', async (t) => {
  const s = await site('ok.test', 1, 1, json({ 'm.server': 'hs.ok.test:443' }));
  const r = await wk().get('ok.test');
  t.equal(r.server, 'hs.ok.test:443');
  t.equal(r.cached, false);
  t.match(s.server.requests, [{ host: 'ok.test', sni: 'ok.test', path: '/.well-known/matrix/server', method: 'GET' }]);
});

t.test('redirects: relative and to another host, at most 20, no loops, HTTPS only', async (t) => {
  await site('target.test', 1, 3, json({ 'm.server': 'moved.test' }));
  const hops = await site('hops.test', 1, 2, (req, res) => {
    const n = Number(/n=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    const limit = Number(/limit=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    if (req.url === '/.well-known/matrix/server') return void res.writeHead(302, { location: '/hop?n=1&limit=3' }).end();
    if (req.url?.startsWith('/loop')) return void res.writeHead(301, { location: '/loop' }).end();
    if (req.url?.startsWith('/plain')) return void res.writeHead(302, { location: 'http://target.test/.well-known/matrix/server' }).end();
    if (n < limit) return void res.writeHead(307, { location: `/hop?n=${n + 1}&limit=${limit}` }).end();
    res.writeHead(308, { location: 'https://target.test/.well-known/matrix/server' }).end();
  });
  const r = await wk().get('hops.test');
  t.equal(r.server, 'moved.test');
  t.equal(hops.server.requests.length, 4);
  t.match(r.detail, /target\.test.*-> 200/);

  // 20 redirects are followed: 19 hops then the jump to target.test.
  hops.handle = (req, res) => {
    const n = Number(/n=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    if (n < 19) return void res.writeHead(302, { location: `/hop?n=${n + 1}` }).end();
    res.writeHead(302, { location: 'https://target.test/.well-known/matrix/server' }).end();
  };
  t.equal((await wk().get('hops.test')).server, 'moved.test', 'exactly 20 redirects');
  hops.handle = (req, res) => {
    const n = Number(/n=(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    if (n < 20) return void res.writeHead(302, { location: `/hop?n=${n + 1}` }).end();
    res.writeHead(302, { location: 'https://target.test/.well-known/matrix/server' }).end();
  };
  const tooMany = await wk().get('hops.test');
  t.equal(tooMany.server, null);
  t.equal(tooMany.check, 'redirects');

  hops.handle = (_req, res) => void res.writeHead(302, { location: '/loop' }).end();
  t.equal((await wk().get('hops.test')).check, 'redirect-loop');
  hops.handle = (_req, res) => void res.writeHead(302, { location: 'http://target.test/.well-known/matrix/server' }).end();
  t.equal((await wk().get('hops.test')).check, 'redirect');
});

t.test('a redirect to a blocked address is refused', async (t) => {
  dns.set('private.test', 'A', addr(200, 1));
  await site('toprivate.test', 1, 4, (_req, res) => void res.writeHead(302, { location: 'https://private.test/x' }).end());
  const r = await wk().get('toprivate.test');
  t.equal(r.server, null);
  t.match(r.detail, /ip_range_blacklist/);
});

t.test('invalid bodies are no well-known', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['notjson.test', '{"m.server": ', 'json'],
    ['array.test', '["m.server"]', 'json'],
    ['missing.test', { other: 1 }, 'm.server'],
    ['number.test', { 'm.server': 42 }, 'm.server'],
    ['badname.test', { 'm.server': 'not a name' }, 'm.server'],
  ];
  let d = 10;
  for (const [name, body, check] of cases) {
    await site(name, 2, d++, json(body));
    const r = await wk().get(name);
    t.equal(r.server, null, name);
    t.equal(r.check, check, name);
  }
});

t.test('body limit: under 51,200 bytes, declared or streamed', async (t) => {
  const big = JSON.stringify({ 'm.server': 'x.test', pad: 'x'.repeat(WELL_KNOWN_MAX_BYTES) });
  await site('big.test', 3, 1, json(big));
  t.equal((await wk().get('big.test')).check, 'max-bytes');
  await site('bigchunked.test', 3, 2, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    for (let i = 0; i < 60; i++) res.write(' '.repeat(1024));
    res.end('{"m.server":"x.test"}');
  });
  t.equal((await wk().get('bigchunked.test')).check, 'max-bytes');
  const fits = JSON.stringify({ 'm.server': 'fits.test', pad: 'x'.repeat(WELL_KNOWN_MAX_BYTES - 100) });
  await site('fits.test', 3, 3, json(fits));
  t.equal((await wk().get('fits.test')).server, 'fits.test');
  // Exactly 51,200 bytes streamed without Content-Length: too large, as Synapse has it (its reader stops at length >= 50 KiB).
  const exact = (n: number) => (_req: unknown, res: import('node:http').ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const head = '{"m.server":"exact.test","pad":"';
    res.write(head);
    res.write('x'.repeat(n - head.length - 2));
    res.end('"}');
  };
  await site('exact.test', 3, 5, exact(51_200));
  t.equal((await wk().get('exact.test')).check, 'max-bytes', '51,200 bytes streamed: too large');
  await site('under.test', 3, 6, exact(51_199));
  t.equal((await wk().get('under.test')).server, 'exact.test', '51,199 bytes streamed: accepted');
});

t.test('a slow server times out', async (t) => {
  await site('slow.test', 3, 4, () => undefined);
  const started = performance.now();
  const r = await wk({ timeoutMs: 300 }).get('slow.test');
  t.equal(r.server, null);
  t.match(r.check, /timeout/);
  t.ok(performance.now() - started < 2000);
});

t.test('404 and 500: no well-known, failure cached 1 h with jitter', async (t) => {
  const s404 = await site('404.test', 4, 1, json({ errcode: 'M_NOT_FOUND' }, {}, 404));
  const s500 = await site('500.test', 4, 2, json('oops', {}, 500));
  const w = wk({ random: () => 0 });
  t.equal((await w.get('404.test')).check, 'status');
  t.equal((await w.get('500.test')).check, 'status');
  // random 0: the failure lifetime is 0.9 h; refetched in its last 20%.
  clock += 0.9 * HOUR * 0.8 - 1000;
  t.ok((await w.get('404.test')).cached);
  t.equal(s404.server.requests.length, 1);
  clock += 2000;
  await w.get('404.test');
  t.equal(s404.server.requests.length, 2);
  t.equal(s500.server.requests.length, 1);
});

t.test('cache lifetimes from headers, clamped to [5 min, 48 h]', async (t) => {
  const cases: Array<[string, Record<string, string>, number]> = [
    ['maxage.test', { 'cache-control': 'public, max-age=3600' }, HOUR],
    ['short.test', { 'cache-control': 'max-age=10' }, 5 * MIN],
    ['long.test', { 'cache-control': 'max-age=999999' }, 48 * HOUR],
    ['nostore.test', { 'cache-control': 'no-store' }, 5 * MIN],
    ['expires.test', { expires: new Date(clock + 2 * HOUR).toUTCString() }, 2 * HOUR],
    ['badexpires.test', { expires: '0' }, 5 * MIN],
    ['default.test', {}, 24 * HOUR],
  ];
  let d = 1;
  for (const [name, headers, lifetime] of cases) {
    const s = await site(name, 5, d++, json({ 'm.server': `hs.${name}` }, headers));
    const w = wk();
    const start = clock;
    t.equal((await w.get(name)).server, `hs.${name}`);
    // Fresh until 80% of the lifetime, refetched after.
    clock = start + lifetime * 0.8 - 2000;
    t.ok((await w.get(name)).cached, `${name} cached just before 80%`);
    clock = start + lifetime * 0.8 + 2000;
    await w.get(name);
    t.equal(s.server.requests.length, 2, `${name} refetched after 80% of ${lifetime / MIN} min`);
    clock = start;
  }
});

t.test('cachePeriodFromHeaders reads headers as Synapse does', async (t) => {
  const at = Date.parse('2024-01-01T00:00:00Z');
  t.equal(cachePeriodFromHeaders([], at), undefined);
  t.equal(cachePeriodFromHeaders(['Cache-Control', 'max-age=60'], at), 60_000);
  t.equal(cachePeriodFromHeaders(['Cache-Control', 'max-age=0'], at), 0);
  t.equal(cachePeriodFromHeaders(['Cache-Control', 'max-age', 'Expires', 'Mon, 01 Jan 2024 00:01:00 GMT'], at), 60_000, 'max-age without a value falls to Expires');
  t.equal(cachePeriodFromHeaders(['Cache-Control', 'max-age=abc'], at), undefined);
  t.equal(cachePeriodFromHeaders(['cache-control', 'max-age=60, No-Store'], at), 0);
  t.equal(cachePeriodFromHeaders(['Expires', 'Mon, 01 Jan 2024 00:01:00 GMT', 'Expires', 'Mon, 01 Jan 2024 00:02:00 GMT'], at), 120_000, 'the last Expires');
  t.equal(cachePeriodFromHeaders(['Expires', 'garbage'], at), 0);
});

t.test('default lifetime has +-10% jitter', async (t) => {
  for (const [random, factor] of [[0, 0.9], [0.999999, 1.1]] as const) {
    const name = `jitter${factor * 10}.test`;
    const s = await site(name, 6, factor === 0.9 ? 1 : 2, json({ 'm.server': 'hs.jitter.test' }));
    const w = wk({ random: () => random });
    const start = clock;
    await w.get(name);
    clock = start + 24 * HOUR * factor * 0.8 - 60_000;
    await w.get(name);
    t.equal(s.server.requests.length, 1);
    clock = start + 24 * HOUR * factor * 0.8 + 60_000;
    await w.get(name);
    t.equal(s.server.requests.length, 2);
    clock = start;
  }
});

t.test('a cached answer survives a temporary failure during refetch; a permanent one replaces it for 2 min', async (t) => {
  const s = await site('flaky.test', 7, 1, json({ 'm.server': 'hs.flaky.test' }, { 'cache-control': 'max-age=3600' }));
  const w = wk();
  const start = clock;
  await w.get('flaky.test');
  clock = start + 0.9 * HOUR;
  s.handle = json('down', {}, 503);
  sleeps.length = 0;
  const kept = await w.get('flaky.test');
  t.equal(kept.server, 'hs.flaky.test');
  t.match(kept.detail, /keeping cached/);
  t.equal(s.server.requests.length, 1 + 3, 'a name that had a valid answer is tried 3 times');
  t.same(sleeps, [500, 500]);

  // Past the lifetime, nothing to keep: the failure is cached for 2 min (it had a valid answer recently).
  clock = start + 1.01 * HOUR;
  s.handle = json({ errcode: 'M_NOT_FOUND' }, {}, 404);
  const gone = await w.get('flaky.test');
  t.equal(gone.server, null);
  t.match(gone.detail, /failure cached 2 min/);
  const before = s.server.requests.length;
  clock += 1.5 * MIN;
  await w.get('flaky.test');
  t.equal(s.server.requests.length, before, 'still cached at 1.5 min');
  clock += 1 * MIN;
  s.handle = json({ 'm.server': 'back.flaky.test' });
  t.equal((await w.get('flaky.test')).server, 'back.flaky.test');
  clock = start;
});

t.test('certificate for the wrong name: no well-known', async (t) => {
  await site('wrongcert.test', 8, 1, json({ 'm.server': 'x.test' }), ['other.test']);
  const r = await wk().get('wrongcert.test');
  t.equal(r.server, null);
  t.match(r.check, /certificate-name/);
});

t.test('concurrent lookups share one fetch', async (t) => {
  const s = await site('shared.test', 8, 2, async (_req, res) => {
    await new Promise((r) => setTimeout(r, 50));
    json({ 'm.server': 'hs.shared.test' })(_req, res);
  });
  const w = wk();
  const results = await Promise.all(Array.from({ length: 50 }, () => w.get('shared.test')));
  t.ok(results.every((r) => r.server === 'hs.shared.test'));
  t.equal(s.server.requests.length, 1);
});

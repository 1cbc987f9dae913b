// The check page's checks are outbound work done for a visitor: when every
// visitor waiting for a check has left, the check stops, whether it is still
// queued or already running (its connections closed at once), and is not
// cached. Past the answer bound the visitor gets 503 and the check goes on,
// cached for whoever asks next. Against a tar pit (TCP accepted, TLS never
// answered), whose open connections show what the check still holds.
import t from 'tap';
import Fastify from 'fastify';
import { pino } from 'pino';
import * as http from 'node:http';
import { federationWorld } from './harness/federation.js';
import { tarPit } from './harness/tar-pit.js';
import { eventually } from './harness/tls-probe.js';
import { createCheckPageService } from '../src/check/page.js';
import { registerCheckPage, CHECK_PAGE_PATH } from '../src/server/routes/check-page.js';
import { installErrorHandlers } from '../src/server/matrix-errors.js';
import { createRateLimiter } from '../src/server/rate-limit.js';
import type { CheckReport } from '../src/check/types.js';

const world = await federationWorld('check-cancel');
const { dns, addr } = world;
t.teardown(() => world.close());

const pit = await tarPit(t, addr(1, 1));
for (let i = 0; i < 10; i++) dns.set(`slow${i}.test`, 'A', addr(1, 1));

/** A service whose handshakes wait `handshakeTimeoutMs` (long: only a cancel ends them early). */
const service = (handshakeTimeoutMs: number) =>
  createCheckPageService({
    config: world.config(),
    path: CHECK_PAGE_PATH,
    dnsServers: [dns.hostPort],
    connectTimeoutMs: 1000,
    handshakeTimeoutMs,
    requestTimeoutMs: 2000,
    wellKnownTimeoutMs: 1000,
    dnsTimeoutMs: 500,
  });

t.test('a running check every visitor left is cancelled at once, and not cached', async (t) => {
  const page = await service(60_000);
  const c = new AbortController();
  const report = page.report('slow0.test', { client: '192.0.2.1', signal: c.signal });
  t.ok(await eventually(() => pit.size === 1), 'the check is in its TLS handshake with the tar pit');
  const left = performance.now();
  c.abort();
  await t.rejects(report, { name: 'AbandonedError' }, 'the visitor is answered at once');
  t.ok(await eventually(() => pit.size === 0, { withinMs: 5000, everyMs: 10 }), 'the connection is closed');
  const closedMs = performance.now() - left;
  t.ok(closedMs < 5000, `closed ${closedMs.toFixed(0)} ms after the visitor left (the handshake bound is 60 s)`);
  // Not cached: the next ask runs the check again.
  const again = new AbortController();
  const second = page.report('slow0.test', { client: '192.0.2.2', signal: again.signal });
  t.ok(await eventually(() => pit.size === 1), 'asked again, it runs again');
  again.abort();
  await t.rejects(second, { name: 'AbandonedError' });
  t.ok(await eventually(() => pit.size === 0, { withinMs: 5000, everyMs: 10 }));
});

t.test('a check two visitors wait for goes on when one leaves, and stops when both have', async (t) => {
  const page = await service(60_000);
  const a = new AbortController();
  const b = new AbortController();
  const first = page.report('slow1.test', { client: '192.0.2.1', signal: a.signal });
  const second = page.report('slow1.test', { client: '192.0.2.2', signal: b.signal });
  t.ok(await eventually(() => pit.size === 1), 'one run, one connection');
  a.abort();
  await t.rejects(first, { name: 'AbandonedError' });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(pit.size, 1, 'still running for the second visitor');
  b.abort();
  await t.rejects(second, { name: 'AbandonedError' });
  t.ok(await eventually(() => pit.size === 0, { withinMs: 5000, everyMs: 10 }), 'closed once nobody waits');
});

t.test('a check waiting in the queue whose visitor left never starts', async (t) => {
  const page = await createCheckPageService({ config: world.config(), path: CHECK_PAGE_PATH, dnsServers: [dns.hostPort], maxConcurrent: 1, connectTimeoutMs: 1000, handshakeTimeoutMs: 60_000, wellKnownTimeoutMs: 1000, dnsTimeoutMs: 500 });
  const hold = new AbortController();
  const running = page.report('slow2.test', { client: '192.0.2.1', signal: hold.signal });
  t.ok(await eventually(() => pit.size === 1));
  const queued = new AbortController();
  const waiting = page.report('slow3.test', { client: '192.0.2.2', signal: queued.signal });
  queued.abort();
  await t.rejects(waiting, { name: 'AbandonedError' });
  hold.abort();
  await t.rejects(running, { name: 'AbandonedError' });
  t.ok(await eventually(() => pit.size === 0, { withinMs: 5000, everyMs: 10 }));
  await new Promise((r) => setTimeout(r, 300));
  t.equal(pit.size, 0, 'the dropped check never connected once the slot was free');
});

t.test('through the page: a visitor who disconnects cancels; past the bound the check goes on and is cached', async (t) => {
  const page = await service(1500);
  const app = Fastify({ logger: false });
  installErrorHandlers(app, pino({ level: 'silent' }));
  registerCheckPage(app, { service: page, limiter: createRateLimiter({ perSecond: 100, burst: 100 }), answerWithinMs: 700 });
  await app.listen({ host: addr(2, 1), port: 8080 });
  t.teardown(() => app.close());
  const get = (name: string, abort?: () => boolean) =>
    new Promise<{ status: number; body: string; ms: number }>((resolve, reject) => {
      const started = performance.now();
      const req = http.get({ host: addr(2, 1), port: 8080, path: `${CHECK_PAGE_PATH}?server_name=${name}&format=json`, agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - started }));
      });
      req.on('error', reject);
      if (abort) void eventually(abort).then(() => req.destroy(new Error('visitor left')));
    });

  // Disconnects as soon as the check reaches the tar pit.
  const gone = get('slow4.test', () => pit.size === 1);
  await t.rejects(gone, /visitor left/);
  const left = performance.now();
  t.ok(await eventually(() => pit.size === 0, { withinMs: 5000, everyMs: 10 }), 'the check stopped with its visitor');
  t.ok(performance.now() - left < 1400, 'before its own handshake bound (1.5 s) would have ended it');

  // Answered 503 at the bound (0.7 s), while the check goes on to its handshake bound (1.5 s) ...
  const late = await get('slow5.test');
  t.equal(late.status, 503);
  t.match(JSON.parse(late.body), { errcode: 'M_LIMIT_EXCEEDED' });
  t.equal(pit.size, 1, 'the check still runs after the 503');
  t.ok(await eventually(() => pit.size === 0, { withinMs: 5000, everyMs: 10 }));
  // ... and its report is what the next ask gets, at once.
  const cached = await get('slow5.test');
  t.equal(cached.status, 200);
  const report = JSON.parse(cached.body) as CheckReport;
  t.equal(report.targets[0]?.tls?.check, 'timeout', 'the finished check: the handshake timed out');
  t.ok(cached.ms < 500, `answered from the cache in ${cached.ms.toFixed(0)} ms`);
});

// The access line from the node listener: sync and async routes, errors
// before the handler, 404s, and a client that leaves early, over real HTTP.
import t, { type Test } from 'tap';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify from 'fastify';
import { block } from './harness/addresses.js';
import { accessLogged, requestId, tagRoutes } from '../src/server/access-log.js';
import { installJsonBodyParser } from '../src/server/json-body.js';
import { installErrorHandlers } from '../src/server/matrix-errors.js';
import { captureLogger } from './harness/server-fixture.js';

const addr = block('access-log');

interface Line {
  reqId: string;
  method: string;
  route: string | null;
  status: number;
  ms: number;
}

async function serve(t: Test) {
  const log = captureLogger();
  const app = Fastify({ logger: false, genReqId: requestId });
  tagRoutes(app);
  installErrorHandlers(app, log.logger);
  installJsonBodyParser(app);
  let release: () => void = () => {};
  app.get('/sync', (_req, reply) => reply.send({ ok: true }));
  app.get('/items/:id', async (_req, reply) => {
    await sleep(20);
    return reply.code(201).send({ ok: true });
  });
  app.post('/json', async (req) => ({ got: req.body }));
  app.get('/hang', (_req, reply) => {
    release = () => void reply.send({ late: true });
  });
  await app.ready();
  const server = http.createServer(accessLogged(app.routing as http.RequestListener, log.accessLog));
  await new Promise<void>((resolve) => server.listen(0, addr(1, 1), resolve));
  t.teardown(async () => {
    release();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await app.close();
  });
  const port = (server.address() as AddressInfo).port;
  const lines = () => log.lines().filter((l) => l.msg === 'request') as unknown as Line[];
  return { port, lines, release: () => release() };
}

function call(port: number, path: string, opts: { method?: string; body?: string; abortAfterMs?: number } = {}) {
  return new Promise<number>((resolve, reject) => {
    const req = http.request({ host: addr(1, 1), port, path, method: opts.method ?? 'GET', headers: opts.body ? { 'content-type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e) => (opts.abortAfterMs ? resolve(-1) : reject(e)));
    if (opts.abortAfterMs) setTimeout(() => req.destroy(), opts.abortAfterMs);
    req.end(opts.body);
  });
}

async function until(cond: () => boolean) {
  for (let i = 0; i < 200 && !cond(); i++) await sleep(5);
}

t.test('one line per request, with the route pattern, status and duration', async (t) => {
  const s = await serve(t);
  t.equal(await call(s.port, '/sync'), 200);
  t.equal(await call(s.port, '/items/42?x=1'), 201);
  t.equal(await call(s.port, '/nowhere'), 404);
  t.equal(await call(s.port, '/json', { method: 'POST', body: '{"a":1}' }), 200);
  t.equal(await call(s.port, '/json', { method: 'POST', body: '{bad json' }), 400);
  await until(() => s.lines().length >= 5);
  const lines = s.lines();
  t.match(lines, [
    { method: 'GET', route: '/sync', status: 200 },
    { method: 'GET', route: '/items/:id', status: 201 },
    { method: 'GET', route: null, status: 404 },
    { method: 'POST', route: '/json', status: 200 },
    { method: 'POST', route: '/json', status: 400 },
  ]);
  t.ok(lines[1]!.ms >= 15, `an async route's time includes its wait (${lines[1]!.ms} ms)`);
  t.equal(new Set(lines.map((l) => l.reqId)).size, 5, 'each request its own id');
  t.ok(lines.every((l) => /^req-[0-9a-z]+$/.test(l.reqId)), 'ids in Fastify\'s form');
});

t.test('a client that leaves before its answer is logged with 499', async (t) => {
  const s = await serve(t);
  t.equal(await call(s.port, '/hang', { abortAfterMs: 50 }), -1);
  await until(() => s.lines().length >= 1);
  t.match(s.lines(), [{ route: '/hang', status: 499 }]);
  s.release(); // the late answer goes nowhere and adds no line
  await sleep(20);
  t.equal(s.lines().length, 1);
});

t.test('concurrent async requests keep their own id and route', async (t) => {
  const s = await serve(t);
  const statuses = await Promise.all([...Array(20).keys()].map((i) => call(s.port, i % 2 ? '/items/1' : '/sync')));
  t.same(new Set(statuses), new Set([200, 201]));
  await until(() => s.lines().length >= 20);
  const lines = s.lines();
  t.equal(lines.length, 20);
  t.ok(lines.every((l) => (l.route === '/sync' ? l.status === 200 : l.route === '/items/:id' && l.status === 201)), 'route and status always belong together');
  t.equal(new Set(lines.map((l) => l.reqId)).size, 20);
});

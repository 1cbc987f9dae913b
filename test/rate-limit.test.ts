import t from 'tap';
import Fastify from 'fastify';
import { pino } from 'pino';
import { createRateLimiter, rateLimitHook } from '../src/server/rate-limit.js';
import { installErrorHandlers, addRoute } from '../src/server/matrix-errors.js';

t.test('token buckets: burst, refill, retry hint, bounded memory', async (t) => {
  let now = 0;
  const rl = createRateLimiter({ perSecond: 2, burst: 3, now: () => now, maxClients: 100 });
  t.same([rl.take('a'), rl.take('a'), rl.take('a')], [0, 0, 0], 'burst of 3');
  t.equal(rl.take('a'), 500, 'next token in 500 ms');
  t.equal(rl.take('b'), 0, 'other clients unaffected');
  now += 500;
  t.equal(rl.take('a'), 0);
  now += 10_000;
  t.same([rl.take('a'), rl.take('a'), rl.take('a'), rl.take('a') > 0], [0, 0, 0, true], 'refill capped at burst');
  for (let i = 0; i < 1000; i++) rl.take(`10.0.${i >> 8}.${i & 255}`);
  t.equal(rl.size, 100, 'at most maxClients buckets');
});

t.test('429 M_LIMIT_EXCEEDED with retry_after_ms', async (t) => {
  const app = Fastify();
  installErrorHandlers(app, pino({ level: 'silent' }));
  addRoute(app, '/x', { GET: async () => ({ ok: true }) }, { preHandler: rateLimitHook(createRateLimiter({ perSecond: 1, burst: 2 })) });
  await app.ready();
  t.teardown(() => app.close());
  const codes = [];
  for (let i = 0; i < 3; i++) codes.push((await app.inject({ url: '/x', remoteAddress: '192.0.2.1' })).statusCode);
  t.same(codes, [200, 200, 429]);
  const r = await app.inject({ url: '/x', remoteAddress: '192.0.2.1' });
  t.match(r.json(), { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: Number });
  t.ok(r.json().retry_after_ms > 0 && r.json().retry_after_ms <= 1000);
  t.equal((await app.inject({ url: '/x', remoteAddress: '192.0.2.2' })).statusCode, 200);
});

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

t.test('X-Forwarded-For is believed only from limits.trusted_proxies', async (t) => {
  const { buildApp } = await import('../src/server/app.js');
  const { defaultConfig } = await import('../src/config/load.js');
  const { createKeyPublisher } = await import('../src/server/key-document.js');
  const { generateSigningKey } = await import('../src/matrix/signing-key.js');
  const config = defaultConfig({ baseDir: '/tmp', raw: { server_name: 'rl.test', limits: { rate_limit: { per_second: 1, burst: 1 }, trusted_proxies: ['10.0.0.5'] } } });
  const keyPublisher = createKeyPublisher({ serverName: 'rl.test', signingKeys: [generateSigningKey()], oldVerifyKeys: {}, refreshIntervalMs: 86_400_000, now: Date.now });
  const remoteKeys = { getServerKeys: async () => ({}), lookupVerifyKey: async () => ({ key: null, reason: 'none' }) };
  const app = await buildApp(config, { keyPublisher, logger: pino({ level: 'silent' }), remoteKeys }, { resources: new Set(['federation', 'keys']), trustProxy: true });
  t.teardown(() => app.close());
  const ask = (remoteAddress: string, forwarded: string) =>
    app.inject({ url: '/_matrix/key/v2/query/x.test', remoteAddress, headers: { 'x-forwarded-for': forwarded } }).then((r) => r.statusCode);
  // A stranger naming a new address on every request is still one client.
  t.same([await ask('192.0.2.9', '198.51.100.1'), await ask('192.0.2.9', '198.51.100.2'), await ask('192.0.2.9', '198.51.100.3')], [200, 429, 429]);
  // The configured proxy speaks for its clients: each is its own.
  t.same([await ask('10.0.0.5', '198.51.100.1'), await ask('10.0.0.5', '198.51.100.2'), await ask('10.0.0.5', '198.51.100.1')], [200, 200, 429]);
});

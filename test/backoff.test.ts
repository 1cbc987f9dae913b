import t from 'tap';
import { createBackoff, createLimiter, countsAsDown } from '../src/federation/backoff.js';
import { FederationError } from '../src/federation/errors.js';

const down = new FederationError('connect', 'refused', 'connection refused');

t.test("Synapse's scheme: 10 min (x1-1.4), doubling, capped, reset by success", async (t) => {
  let now = 0;
  const b = createBackoff({ now: () => now, random: () => 0.5 });
  b.check('x.test');
  b.failure('x.test', down);
  t.same(b.state('x.test'), { failures: 1, retryAt: 720_000, intervalMs: 720_000 }, '10 min x 1.2');
  t.throws(() => b.check('x.test'), { step: 'policy', check: 'backoff', message: /not retrying x.test until .* after 1 failure\(s\); last: connect: refused/ });
  now = 720_000;
  b.check('x.test');
  b.failure('x.test', down);
  t.equal(b.state('x.test')!.intervalMs, 1_440_000, 'doubled');
  for (let i = 0; i < 20; i++) b.failure('x.test', down);
  t.equal(b.state('x.test')!.intervalMs, 24 * 3600_000, 'capped at a day');
  b.success('x.test');
  t.equal(b.state('x.test'), undefined);
  b.check('x.test');
});

t.test('only failures that say the destination is down count', async (t) => {
  t.ok(countsAsDown(new FederationError('tls', 'certificate-name', 'x')));
  t.ok(countsAsDown(new FederationError('response', 'status', 'x', { status: 502 })));
  t.notOk(countsAsDown(new FederationError('response', 'status', 'x', { status: 404 })));
  t.notOk(countsAsDown(new FederationError('policy', 'federation_domain_whitelist', 'x')));
  t.notOk(countsAsDown(new Error('other')));
  const b = createBackoff();
  b.failure('y.test', new FederationError('response', 'status', 'x', { status: 401 }));
  t.equal(b.state('y.test'), undefined);
  const small = createBackoff({ maxEntries: 2 });
  for (const d of ['a', 'b', 'c']) small.failure(d, down);
  t.equal(small.state('a'), undefined, 'oldest dropped past maxEntries');
});

t.test('the limiter runs at most N tasks at once, in order', async (t) => {
  const limit = createLimiter(2);
  let running = 0;
  let peak = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      limit(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        order.push(i);
        running--;
      }),
    ),
  );
  t.equal(peak, 2);
  t.same(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  await t.rejects(limit(async () => { throw new Error('boom'); }), /boom/);
  t.equal(await limit(async () => 7), 7, 'a failed task frees its slot');
});

// The fair limiter and shared work on their own: turn order between
// requesters, bounded queues, abandoned tasks leaving, and shared work
// cancelled only when every waiter has gone.
import t from 'tap';
import { AbandonedError, createFairLimiter, QueueFullError } from '../src/federation/fair-limiter.js';
import { createSharedWork } from '../src/federation/shared-work.js';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
const tick = () => new Promise((r) => setImmediate(r));

t.test('one requester with many tasks delays another by at most one task', async (t) => {
  const limiter = createFairLimiter({ total: 2, perKey: 2 });
  const order: string[] = [];
  const gates: Array<() => void> = [];
  const task = (name: string) => () => {
    order.push(name);
    const d = deferred();
    gates.push(d.resolve);
    return d.promise;
  };
  const all = [];
  for (let i = 0; i < 50; i++) all.push(limiter.run('hog', task(`hog${i}`)));
  all.push(limiter.run('visitor', task('visitor')));
  await tick();
  t.same(order, ['hog0', 'hog1']);
  t.equal(limiter.queued, 49);
  gates.shift()!();
  await tick();
  await tick();
  t.same(order.slice(2), ['visitor'], 'the next free slot goes to the other requester');
  while (gates.length > 0) {
    gates.shift()!();
    await tick();
    await tick();
  }
  await Promise.all(all);
  t.equal(order.length, 51);
  t.equal(limiter.running, 0);
});

t.test('queues are bounded; an abandoned task leaves the queue and never runs', async (t) => {
  const limiter = createFairLimiter({ total: 1, perKey: 1, maxQueued: 3, maxQueuedPerKey: 2 });
  const block = deferred();
  const first = limiter.run('a', () => block.promise);
  const ran: string[] = [];
  const c = new AbortController();
  const waiting = limiter.run('a', async () => void ran.push('a2'), c.signal);
  const queued = limiter.run('a', async () => void ran.push('a3'));
  await t.rejects(limiter.run('a', async () => undefined), QueueFullError, 'a third waiting task of one requester is refused');
  const b = limiter.run('b', async () => void ran.push('b'));
  await t.rejects(limiter.run('c', async () => undefined), QueueFullError, 'the whole queue is bounded');
  c.abort();
  await t.rejects(waiting, AbandonedError);
  t.equal(limiter.queued, 2);
  await t.rejects(limiter.run('a', async () => undefined, c.signal), AbandonedError, 'an already abandoned caller never queues');
  block.resolve();
  await Promise.all([first, queued, b]);
  t.same(ran.sort(), ['a3', 'b'], 'the abandoned task never ran');
  await t.rejects(limiter.run('x', () => {
    throw new Error('sync throw');
  }), /sync throw/);
  t.equal(limiter.running, 0);
});

t.test('shared work: one run for many callers, cancelled when the last one leaves', async (t) => {
  const work = createSharedWork<string>();
  let started = 0;
  let cancelled = 0;
  const start = (signal: AbortSignal) => {
    started++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => resolve('done'), 200);
      signal.addEventListener('abort', () => {
        cancelled++;
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
  };
  const a = new AbortController();
  const b = new AbortController();
  const pa = work.join('k', start, a.signal);
  const pb = work.join('k', start, b.signal);
  t.equal(started, 0, 'started on the next turn');
  await tick();
  t.equal(started, 1, 'two callers, one run');
  a.abort();
  await t.rejects(pa, AbandonedError);
  t.equal(cancelled, 0, 'one caller left: still running');
  b.abort();
  await t.rejects(pb, AbandonedError);
  t.equal(cancelled, 1, 'the last caller left: cancelled');
  t.equal(work.size, 0);

  // A caller without a signal never leaves, so the work runs to its end.
  const c = new AbortController();
  const pc = work.join('k2', start, c.signal);
  const pd = work.join('k2', start);
  c.abort();
  await t.rejects(pc, AbandonedError);
  t.equal(await pd, 'done');
  t.equal(cancelled, 1);
  await t.rejects(work.join('k3', start, c.signal), AbandonedError, 'an already abandoned caller starts nothing');
  const failing = work.join('k4', async () => {
    throw new Error('fetch failed');
  }, new AbortController().signal);
  await t.rejects(failing, /fetch failed/);
});

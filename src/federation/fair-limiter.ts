// Shares a bounded capacity (outbound work done on strangers' behalf) fairly
// between requesters: at most `perKey` tasks of one requester run at once,
// at most `total` over all, and a free slot goes to the waiting requester
// with the fewest tasks running (round robin among equals), so one client
// that queues hundreds of tasks delays another's first task by at most the
// time until one slot frees.
// Queues are bounded too, and a task whose caller gave up (its AbortSignal
// fired) leaves the queue at once and never starts.

export class QueueFullError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueFullError';
  }
}

export class AbandonedError extends Error {
  constructor(message = 'the requester went away') {
    super(message);
    this.name = 'AbandonedError';
  }
}

export interface FairLimiterOptions {
  /** Tasks running at once, over all requesters. */
  total: number;
  /** Tasks of one requester running at once. */
  perKey: number;
  /** Tasks waiting, over all requesters; beyond, `run` rejects with QueueFullError. */
  maxQueued?: number;
  /** Tasks of one requester waiting. */
  maxQueuedPerKey?: number;
}

export interface FairLimiter {
  /** Runs `task` when `key` has its turn; rejects with QueueFullError or AbandonedError without running it. */
  run<T>(key: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  readonly running: number;
  readonly queued: number;
}

interface Waiting {
  start: () => void;
  drop: () => void;
}

export function createFairLimiter(opts: FairLimiterOptions): FairLimiter {
  const maxQueued = opts.maxQueued ?? 10_000;
  const maxQueuedPerKey = opts.maxQueuedPerKey ?? 1_000;
  const runningBy = new Map<string, number>();
  // Requesters with waiting tasks, in turn order: the one served goes to the back.
  const queues = new Map<string, Waiting[]>();
  let running = 0;
  let queued = 0;

  function next(): void {
    while (running < opts.total) {
      // The waiting requester with the fewest tasks running; among equals, the one whose turn came longest ago.
      let picked: string | undefined;
      let fewest = opts.perKey;
      for (const [key] of queues) {
        const r = runningBy.get(key) ?? 0;
        if (r < fewest) {
          picked = key;
          fewest = r;
          if (r === 0) break;
        }
      }
      if (picked === undefined) return;
      const queue = queues.get(picked)!;
      const w = queue.shift()!;
      queues.delete(picked);
      if (queue.length > 0) queues.set(picked, queue);
      queued--;
      w.start();
    }
  }

  return {
    run<T>(key: string, task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
      if (signal?.aborted) return Promise.reject(new AbandonedError());
      return new Promise<T>((resolve, reject) => {
        const begin = (): void => {
          signal?.removeEventListener('abort', onAbort);
          running++;
          runningBy.set(key, (runningBy.get(key) ?? 0) + 1);
          let p: Promise<T>;
          try {
            p = task();
          } catch (e) {
            p = Promise.reject(e);
          }
          p.then(resolve, reject).finally(() => {
            running--;
            const left = runningBy.get(key)! - 1;
            if (left === 0) runningBy.delete(key);
            else runningBy.set(key, left);
            next();
          });
        };
        const mine = queues.get(key);
        const mustWait = running >= opts.total || (runningBy.get(key) ?? 0) >= opts.perKey;
        if (mustWait && queued >= maxQueued) return reject(new QueueFullError(`${queued} tasks are waiting already`));
        if (mustWait && (mine?.length ?? 0) >= maxQueuedPerKey) return reject(new QueueFullError(`${mine!.length} tasks of this requester are waiting already`));
        const w: Waiting = {
          start: begin,
          drop: () => {
            const q = queues.get(key);
            const i = q?.indexOf(w) ?? -1;
            if (i < 0) return;
            q!.splice(i, 1);
            if (q!.length === 0) queues.delete(key);
            queued--;
            reject(new AbandonedError());
          },
        };
        const onAbort = (): void => w.drop();
        signal?.addEventListener('abort', onAbort, { once: true });
        if (mine) mine.push(w);
        else queues.set(key, [w]);
        queued++;
        next();
      });
    },
    get running() {
      return running;
    },
    get queued() {
      return queued;
    },
  };
}

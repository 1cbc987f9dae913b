// Fair shares of the room endpoints between the servers asking, as Synapse's
// federation rate limiter does (rc_federation: 3 requests of one server
// processed at once, 50 waiting, beyond that 429): a few requests of one
// origin run at once, a bounded number wait, a free slot goes to the origin
// with the fewest running, and a request whose sender went away leaves the
// queue without running. Transactions have their own lanes (transactions.ts).
import { MatrixError } from '../matrix/errors.js';
import { AbandonedError, createFairLimiter, QueueFullError } from '../federation/fair-limiter.js';
import type { RoomLimits } from './limits.js';

export interface Admission {
  /** Runs `work` for `origin` when its turn comes; 429 M_LIMIT_EXCEEDED when too many of its requests wait. */
  run<T>(origin: string, work: () => T | Promise<T>, signal?: AbortSignal): Promise<T>;
  readonly running: number;
  readonly waiting: number;
}

/** The sender went away before its request ran (no one reads the answer). */
export const abandoned = () => new MatrixError(499, 'M_UNKNOWN', 'The request was abandoned by its sender');

export function createAdmission(limits: RoomLimits): Admission {
  const limiter = createFairLimiter({ total: limits.requestsTotal, perKey: limits.requestsPerOrigin, maxQueuedPerKey: limits.requestsWaitingPerOrigin });
  return {
    async run(origin, work, signal) {
      try {
        return await limiter.run(origin, async () => work(), signal);
      } catch (e) {
        if (e instanceof QueueFullError) throw new MatrixError(429, 'M_LIMIT_EXCEEDED', `Too many requests of ${origin} are waiting; try again later`, { retry_after_ms: 1000 });
        if (e instanceof AbandonedError) throw abandoned();
        throw e;
      }
    },
    get running() {
      return limiter.running;
    },
    get waiting() {
      return limiter.queued;
    },
  };
}

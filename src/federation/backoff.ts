// Backoff for failing destinations, Synapse's scheme (synapse/util/retryutils.py):
// after a failure a destination is not tried again for 10 minutes (times a
// random 1 to 1.4, so a fleet does not retry in step), each further failure
// doubles the wait, capped at a day; a success forgets it all. Only failures
// that say the destination is down count (DNS, connect, TLS, timeouts, 5xx);
// a 4xx answer or a refused policy does not.
import { FederationError } from './errors.js';

export interface BackoffOptions {
  minMs?: number;
  maxMs?: number;
  multiplier?: number;
  now?: () => number;
  random?: () => number;
  /** Destinations remembered at most (oldest dropped). */
  maxEntries?: number;
}

export interface Backoff {
  /** Throws FederationError('policy', 'backoff') while the destination is backed off. */
  check(destination: string): void;
  failure(destination: string, error: unknown): void;
  success(destination: string): void;
  state(destination: string): { failures: number; retryAt: number; intervalMs: number } | undefined;
}

const DOWN_STEPS = new Set(['well-known', 'srv', 'dns', 'connect', 'tls', 'request']);

export function countsAsDown(error: unknown): boolean {
  if (!(error instanceof FederationError)) return false;
  // Cancelled because nobody waited: nothing learnt about the destination.
  if (error.check === 'aborted') return false;
  if (error.step === 'response') return error.status !== undefined && error.status >= 500;
  return DOWN_STEPS.has(error.step);
}

export function createBackoff(opts: BackoffOptions = {}): Backoff {
  const minMs = opts.minMs ?? 10 * 60_000;
  const maxMs = opts.maxMs ?? 24 * 3600_000;
  const multiplier = opts.multiplier ?? 2;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const maxEntries = opts.maxEntries ?? 10_000;
  const entries = new Map<string, { failures: number; retryAt: number; intervalMs: number; last: string }>();
  return {
    check(destination) {
      const e = entries.get(destination);
      if (e && now() < e.retryAt) {
        throw new FederationError(
          'policy',
          'backoff',
          `not retrying ${destination} until ${new Date(e.retryAt).toISOString()} after ${e.failures} failure(s); last: ${e.last}`,
          { serverName: destination },
        );
      }
    },
    failure(destination, error) {
      if (!countsAsDown(error)) return;
      const prev = entries.get(destination);
      const intervalMs = prev ? Math.min(maxMs, prev.intervalMs * multiplier) : Math.min(maxMs, minMs * (1 + 0.4 * random()));
      entries.delete(destination);
      entries.set(destination, { failures: (prev?.failures ?? 0) + 1, retryAt: now() + intervalMs, intervalMs, last: (error as Error).message });
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
    success(destination) {
      entries.delete(destination);
    },
    state(destination) {
      const e = entries.get(destination);
      return e && { failures: e.failures, retryAt: e.retryAt, intervalMs: e.intervalMs };
    },
  };
}

/** Bounds how many requests run at once; the rest wait in order. */
export function createLimiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let running = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

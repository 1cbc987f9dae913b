// What the metrics count, kept in plain maps: the per-request path pays two
// map look-ups and an addition, and prom-client (src/metrics/registry.ts)
// reads the maps only when Prometheus scrapes. Nothing here imports it, so
// a server without a metrics listener neither loads nor pays for it.
import type { AccessLog } from '../logger.js';

/** Counts by a two-part label, the inner part a small set (status codes, results). */
export class Tally<A, B> {
  readonly counts = new Map<A, Map<B, number>>();

  add(a: A, b: B, n = 1): void {
    let inner = this.counts.get(a);
    if (inner === undefined) {
      inner = new Map();
      this.counts.set(a, inner);
    }
    inner.set(b, (inner.get(b) ?? 0) + n);
  }

  *entries(): IterableIterator<[A, B, number]> {
    for (const [a, inner] of this.counts) for (const [b, n] of inner) yield [a, b, n];
  }
}

export interface FedpeerTallies {
  /** Inbound requests answered: route pattern (null: no route, a 404) by status. */
  requests: Tally<string | null, number>;
  /** Outbound federation requests: the destination's result ('success', or the step that failed) by method. */
  outbound: Tally<string, string>;
  /** Key fetches: source (direct, notary) by result (success, failure). */
  keyFetches: Tally<string, string>;
  /** Resolution steps of outbound requests: step by 'hit' (from a cache) or 'miss'. */
  resolution: Tally<string, 'hit' | 'miss'>;
}

export function createTallies(): FedpeerTallies {
  return { requests: new Tally(), outbound: new Tally(), keyFetches: new Tally(), resolution: new Tally() };
}

/** The access line, counted on its way: every answered request, whichever path answered it. */
export function countingAccessLog(inner: AccessLog, requests: FedpeerTallies['requests']): AccessLog {
  return (reqId, method, route, status, ms) => {
    requests.add(route, status);
    inner(reqId, method, route, status, ms);
  };
}

/** The resolution steps an outbound request went through, counted as cache hits and misses. */
export function countResolution(resolution: FedpeerTallies['resolution'], steps: readonly unknown[] | undefined): void {
  for (const s of steps ?? []) {
    const step = s as { step?: unknown; outcome?: unknown; cached?: unknown };
    if (typeof step.step !== 'string' || step.outcome === 'skipped') continue;
    resolution.add(step.step, step.cached === true ? 'hit' : 'miss');
  }
}

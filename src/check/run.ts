// `runCheck`: probe, then judge. The one entry point the command and the
// check page share; also the one-minute cache the page answers from.
import { buildReport } from './findings.js';
import { probeServer, type ProbeOptions } from './probe.js';
import type { CheckReport } from './types.js';
import { normaliseServerName } from '../matrix/server-name.js';
import { createSharedWork } from '../federation/shared-work.js';

export type { ProbeOptions as CheckOptions };

export async function runCheck(serverName: string, opts: ProbeOptions): Promise<CheckReport> {
  return buildReport(await probeServer(serverName, opts));
}

export interface CachedChecker {
  /**
   * The report of `serverName`, from a run at most `ttlMs` old; concurrent
   * asks share one run. `context.client` goes to the run that starts; a
   * caller whose `context.signal` fires is answered AbandonedError at once,
   * and a run every caller left is cancelled. With `context.fresh` a new run
   * starts whatever is cached (asks made while one runs share it).
   */
  check(serverName: string, context?: RunContext): Promise<CheckReport>;
  readonly size: number;
}

/** Who asked (the visitor's address), and a signal that fires when they are gone. */
export interface RunContext {
  client?: string;
  signal?: AbortSignal;
  /** Skip the cache: the tester API's `no_cache=1`. */
  fresh?: boolean;
}

/** What one run gets: the first caller's address, and a signal that fires when every caller left. */
export interface RunRequest {
  client?: string;
  signal: AbortSignal;
}

/**
 * Reports cached per name (the page makes outbound requests on a visitor's
 * behalf, so repeating a name within the minute costs nothing), letter case
 * aside (`EXAMPLE.org` is example.org: a visitor cannot make fedpeer probe
 * one server again and again by changing case), at most `maxEntries` names,
 * the oldest dropped first. A run nobody waits for any more is cancelled
 * (its connections closed), so visitors who leave cost no further outbound
 * work; a run that throws (a bug, or cancelled) is not kept.
 */
export function cachedChecker(run: (serverName: string, request: RunRequest) => Promise<CheckReport>, opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}): CachedChecker {
  const ttlMs = opts.ttlMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 1000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; report: CheckReport }>();
  const running = createSharedWork<CheckReport>();
  return {
    check(serverName, context = {}) {
      const key = normaliseServerName(serverName);
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttlMs && !context.fresh) return Promise.resolve(hit.report);
      const start = async (signal: AbortSignal): Promise<CheckReport> => {
        const report = await run(serverName, { ...(context.client !== undefined ? { client: context.client } : {}), signal });
        cache.delete(key);
        cache.set(key, { at: now(), report });
        if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
        return report;
      };
      return running.join(key, start, context.signal);
    },
    get size() {
      return cache.size;
    },
  };
}

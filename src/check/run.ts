// `runCheck`: probe, then judge. The one entry point the command and the
// check page share; also the one-minute cache the page answers from.
import { buildReport } from './findings.js';
import { probeServer, type ProbeOptions } from './probe.js';
import type { CheckReport } from './types.js';
import { normaliseServerName } from '../matrix/server-name.js';

export type { ProbeOptions as CheckOptions };

export async function runCheck(serverName: string, opts: ProbeOptions): Promise<CheckReport> {
  return buildReport(await probeServer(serverName, opts));
}

export interface CachedChecker {
  /**
   * The report of `serverName`, from a run at most `ttlMs` old; concurrent
   * asks share one run. `context` goes to the run that starts; with
   * `context.fresh` a new run starts whatever is cached (asks made while it
   * runs share it).
   */
  check(serverName: string, context?: RunContext): Promise<CheckReport>;
  readonly size: number;
}

/** Who asked (the visitor's address) and until when they wait, for the run's queue. */
export interface RunContext {
  client?: string;
  signal?: AbortSignal;
  /** Skip the cache: the tester API's `no_cache=1`. */
  fresh?: boolean;
}

/**
 * Reports cached per name (the page makes outbound requests on a visitor's
 * behalf, so repeating a name within the minute costs nothing), letter case
 * aside (`EXAMPLE.org` is example.org: a visitor cannot make fedpeer probe
 * one server again and again by changing case), at most `maxEntries` names,
 * the oldest dropped first.
 */
export function cachedChecker(run: (serverName: string, context?: RunContext) => Promise<CheckReport>, opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}): CachedChecker {
  const ttlMs = opts.ttlMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 1000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; report: Promise<CheckReport> }>();
  return {
    check(serverName, context) {
      const key = normaliseServerName(serverName);
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttlMs && !context?.fresh) return hit.report;
      const report = run(serverName, context);
      cache.delete(key);
      cache.set(key, { at: now(), report });
      // A run that throws (not a failed check: a bug) is not kept.
      report.catch(() => cache.get(key)?.report === report && cache.delete(key));
      if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
      return report;
    },
    get size() {
      return cache.size;
    },
  };
}

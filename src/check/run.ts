// `runCheck`: probe, then judge. The one entry point the command and the
// check page share; also the one-minute cache the page answers from.
import { buildReport } from './findings.js';
import { probeServer, type ProbeOptions } from './probe.js';
import type { CheckReport } from './types.js';

export type { ProbeOptions as CheckOptions };

export async function runCheck(serverName: string, opts: ProbeOptions): Promise<CheckReport> {
  return buildReport(await probeServer(serverName, opts));
}

export interface CachedChecker {
  /**
   * The report of `serverName`, from a run at most `ttlMs` old; concurrent
   * asks share one run. `fresh` starts a new run whatever is cached (asks
   * made while it runs share it).
   */
  check(serverName: string, opts?: { fresh?: boolean }): Promise<CheckReport>;
  readonly size: number;
}

/**
 * Reports cached per name, exactly as given (the page makes outbound requests on a visitor's
 * behalf, so repeating a name within the minute costs nothing), at most
 * `maxEntries` names, the oldest dropped first.
 */
export function cachedChecker(run: (serverName: string) => Promise<CheckReport>, opts: { ttlMs?: number; maxEntries?: number; now?: () => number } = {}): CachedChecker {
  const ttlMs = opts.ttlMs ?? 60_000;
  const maxEntries = opts.maxEntries ?? 1000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { at: number; report: Promise<CheckReport> }>();
  return {
    check(serverName, opts = {}) {
      // The exact name: server names compare as strings (a key document for example.org is not one for EXAMPLE.org).
      const key = serverName;
      const hit = cache.get(key);
      if (hit && now() - hit.at < ttlMs && !opts.fresh) return hit.report;
      const report = run(serverName);
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

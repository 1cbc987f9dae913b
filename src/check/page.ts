// The check page's service, handed to the server by `fedpeer serve`
// (server/ does not import check/ or federation/, DESIGN.md): it runs checks
// with the serving config's resolver, trust policy and blocklist, caches
// each name's report for a minute, and renders the HTML.
import type { Config } from '../config/types.js';
import { createFairLimiter } from '../federation/fair-limiter.js';
import { tlsPolicyFromConfig } from '../federation/tls-policy.js';
import { renderHtmlForm, renderHtmlReport } from './report-html.js';
import { cachedChecker, runCheck, type CheckOptions, type RunContext, type RunRequest } from './run.js';
import { invalidNameTesterReport, testerReport, type TesterReport } from './tester.js';
import { isValidServerName } from '../matrix/server-name.js';
import type { CheckReport } from './types.js';

export interface CheckPageService {
  /** The form, optionally with the name given and why it is not valid. */
  form(opts?: { value?: string; error?: string }): string;
  /**
   * The report of `serverName` (cached for a minute unless `fresh`), as a
   * page and as the JSON form. `client` is the visitor's address: checks are
   * queued fairly per visitor; a full queue rejects with QueueFullError.
   * `signal` fires when the visitor left: they are answered AbandonedError at
   * once, and a check nobody else waits for is dropped from the queue, or
   * cancelled (its connections closed) when it is running.
   */
  report(serverName: string, context?: RunContext): Promise<{ html: string; json: CheckReport }>;
  /** The same report in matrix-federation-tester's shape, queued and cached as `report`; `ok` is its FederationOK. */
  tester(serverName: string, context?: RunContext): Promise<{ report: TesterReport; ok: boolean }>;
}

export interface CheckPageOptions extends Omit<CheckOptions, 'config' | 'tlsPolicy' | 'signal'> {
  config: Config;
  /** The path the page is served at, for the form's action. */
  path: string;
  /** Cache lifetime per name; default one minute. */
  ttlMs?: number;
  /** Checks running at once (others wait their turn, one visitor after another); default 4. */
  maxConcurrent?: number;
  /** Checks waiting, over all visitors; default 16. One visitor has at most one running and two waiting. */
  maxQueued?: number;
}

export async function createCheckPageService(opts: CheckPageOptions): Promise<CheckPageService> {
  const { config, path, ttlMs, maxConcurrent, maxQueued, ...probe } = opts;
  // Built once: reading the CA files and building the secure context is the costly part.
  const tlsPolicy = await tlsPolicyFromConfig(config, probe.systemCas ? { systemCas: probe.systemCas } : {});
  // Visitors with many different names must not open connections without
  // bound, and one visitor must not hold the queue: the next check to start
  // is the next visitor's in turn.
  const queue = createFairLimiter({ total: maxConcurrent ?? 4, perKey: 1, maxQueued: maxQueued ?? 16, maxQueuedPerKey: 2 });
  // The run's signal fires when every visitor waiting for it left: still queued, it is dropped; running, cancelled.
  const run = (name: string, request: RunRequest) => queue.run(request.client ?? '', () => runCheck(name, { ...probe, config, tlsPolicy, signal: request.signal }), request.signal);
  const checker = cachedChecker(run, {
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(probe.now ? { now: probe.now } : {}),
  });
  return {
    form: (o = {}) => renderHtmlForm({ action: path, ...o }),
    async report(serverName, context) {
      const json = await checker.check(serverName, context);
      return { json, html: renderHtmlReport(json, { action: path }) };
    },
    async tester(serverName, context) {
      if (!isValidServerName(serverName)) return { report: invalidNameTesterReport(serverName), ok: false };
      const json = await checker.check(serverName, context);
      return { report: testerReport(json), ok: json.federation_ok };
    },
  };
}

// The check page's service, handed to the server by `fedpeer serve`
// (server/ does not import check/ or federation/, DESIGN.md): it runs checks
// with the serving config's resolver, trust policy and blocklist, caches
// each name's report for a minute, and renders the HTML.
import type { Config } from '../config/types.js';
import { createLimiter } from '../federation/backoff.js';
import { tlsPolicyFromConfig } from '../federation/tls-policy.js';
import { renderHtmlForm, renderHtmlReport } from './report-html.js';
import { cachedChecker, runCheck, type CheckOptions } from './run.js';
import { invalidNameTesterReport, testerReport, type TesterReport } from './tester.js';
import { isValidServerName } from '../matrix/server-name.js';
import type { CheckReport } from './types.js';

export interface CheckPageService {
  /** The form, optionally with the name given and why it is not valid. */
  form(opts?: { value?: string; error?: string }): string;
  /** The report of `serverName` (cached for a minute unless `fresh`), as a page and as the JSON form. */
  report(serverName: string, opts?: { fresh?: boolean }): Promise<{ html: string; json: CheckReport }>;
  /** The same report in matrix-federation-tester's shape; `ok` is its FederationOK. */
  tester(serverName: string, opts?: { fresh?: boolean }): Promise<{ report: TesterReport; ok: boolean }>;
}

export interface CheckPageOptions extends Omit<CheckOptions, 'config' | 'tlsPolicy'> {
  config: Config;
  /** The path the page is served at, for the form's action. */
  path: string;
  /** Cache lifetime per name; default one minute. */
  ttlMs?: number;
  /** Checks running at once (others wait their turn); default 4. */
  maxConcurrent?: number;
}

export async function createCheckPageService(opts: CheckPageOptions): Promise<CheckPageService> {
  const { config, path, ttlMs, maxConcurrent, ...probe } = opts;
  // Built once: reading the CA files and building the secure context is the costly part.
  const tlsPolicy = await tlsPolicyFromConfig(config, probe.systemCas ? { systemCas: probe.systemCas } : {});
  // Visitors with many different names must not open connections without bound.
  const limit = createLimiter(maxConcurrent ?? 4);
  const run = (name: string) => limit(() => runCheck(name, { ...probe, config, tlsPolicy }));
  const checker = cachedChecker(run, {
    ...(ttlMs !== undefined ? { ttlMs } : {}),
    ...(probe.now ? { now: probe.now } : {}),
  });
  return {
    form: (o = {}) => renderHtmlForm({ action: path, ...o }),
    async report(serverName, o = {}) {
      const json = await checker.check(serverName, o);
      return { json, html: renderHtmlReport(json, { action: path }) };
    },
    async tester(serverName, o = {}) {
      if (!isValidServerName(serverName)) return { report: invalidNameTesterReport(serverName), ok: false };
      const json = await checker.check(serverName, o);
      return { report: testerReport(json), ok: json.federation_ok };
    },
  };
}

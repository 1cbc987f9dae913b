// `fedpeer check NAME`: resolves NAME as outbound federation does, looks at
// every target (TCP, TLS, certificate, version and key endpoints) and the
// client well-known, and says what is wrong and how to fix it. Exit 0 only
// when federation works (`federation_ok`).
import { runCheck } from '../check/run.js';
import { renderText } from '../check/report-text.js';
import { testerReport } from '../check/tester.js';
import { isValidServerName } from '../matrix/server-name.js';
import { UsageError, type CommandIO } from './io.js';
import { outboundConfig, type OutboundOptions } from './outbound.js';

export interface CheckCommandOptions extends OutboundOptions {
  name?: string;
  /** text (default), json (the report), tester (matrix-federation-tester's JSON). */
  format?: 'text' | 'json' | 'tester';
  /** The same as format: 'json'. */
  json?: boolean;
  /** Tests shorten the timeouts. */
  timeouts?: { connectTimeoutMs?: number; handshakeTimeoutMs?: number; requestTimeoutMs?: number; dnsTimeoutMs?: number; wellKnownTimeoutMs?: number };
}

export async function checkCommand(io: CommandIO, opts: CheckCommandOptions): Promise<number> {
  if (!opts.name) throw new UsageError('check needs a server name: fedpeer check NAME [--json] [--config FILE] [--dns-server HOST:PORT] [--ca-file PEM]');
  if (!isValidServerName(opts.name)) {
    throw new UsageError(`not a valid server name: ${JSON.stringify(opts.name)} (a host name or IP address with an optional port, such as example.org or example.org:8448; no https://)`);
  }
  const config = await outboundConfig(opts);
  const report = await runCheck(opts.name, {
    config,
    ...(opts.dnsServers && opts.dnsServers.length > 0 ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
    ...opts.timeouts,
  });
  const format = opts.format ?? (opts.json ? 'json' : 'text');
  io.stdout(format === 'json' ? JSON.stringify(report, null, 2) : format === 'tester' ? JSON.stringify(testerReport(report), null, 2) : renderText(report));
  return report.federation_ok ? 0 : 1;
}

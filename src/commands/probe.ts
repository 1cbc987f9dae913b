// `fedpeer probe NAME --config FILE`: an active conformance run against a
// live homeserver's federation API, as the identity of FILE, whose listeners
// the probe serves while it runs (the target calls back to fetch its keys).
// Prints the report as text, JSON, TAP, and/or writes JUnit XML; exit 0 only
// when no check failed.
import { access, constants, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { isDnsServer } from '../config/net.js';
import type { Config } from '../config/types.js';
import { createLogDestination } from '../log-destination.js';
import { createLogger } from '../logger.js';
import { ListenError } from '../server/listeners.js';
import { isValidServerName } from '../matrix/server-name.js';
import { selectChecks, UnknownCheckError } from '../probe/registry.js';
import { formatJunitReport } from '../probe/report-junit.js';
import { formatTapReport } from '../probe/report-tap.js';
import { formatTextReport } from '../probe/report-text.js';
import { runProbe } from '../probe/run.js';
import { parseClientUrl } from '../probe/client-api.js';
import { UsageError, type CommandIO } from './io.js';
import { outboundConfig, type OutboundOptions } from './outbound.js';

export const DEFAULT_UNTRUSTED_PORT = 8449;

export interface ProbeCommandOptions extends OutboundOptions {
  name?: string;
  /** Comma-separated check ids or group names. */
  only?: string;
  room?: string;
  /** The target's client-server API and a user's access token there (room checks). */
  clientUrl?: string;
  accessToken?: string;
  /** The user the access token must belong to. */
  user?: string;
  json?: boolean;
  tap?: boolean;
  /** Write JUnit XML here. */
  junit?: string;
  /** Port of the untrusted identity, "0" for none; default 8449. */
  untrustedPort?: string;
  /** ADDRESS[:PORT] of the probe's own DNS server. */
  dnsListen?: string;
  /** Log level of the probe's servers (stderr); default silent. */
  logLevel?: string;
  /** For tests: a logger instead of one on stderr. */
  logger?: Logger;
  now?: () => number;
  /** How long the room checks wait for the target to show an event. */
  roomWaitMs?: number;
}

const USAGE =
  'fedpeer probe NAME --config FILE [--only ID,...] [--room ALIAS_OR_ID] [--client-url URL --access-token TOKEN [--user USER_ID]] [--json | --tap] [--junit FILE] [--untrusted-port PORT] [--dns-listen ADDRESS[:PORT]]';

/** --client-url, --access-token and --user, checked together. */
function clientOptions(opts: ProbeCommandOptions): { url: string; token: string; user?: string } | undefined {
  const { clientUrl, accessToken, user } = opts;
  if (clientUrl === undefined && accessToken === undefined) {
    if (user !== undefined) throw new UsageError('--user names the owner of --access-token: give --client-url URL and --access-token TOKEN with it');
    return undefined;
  }
  if (clientUrl === undefined) throw new UsageError("--access-token needs --client-url URL, the target's client-server API (e.g. http://127.0.0.1:8008)");
  if (accessToken === undefined || accessToken === '') throw new UsageError('--client-url needs an access token of a user of the target: --access-token TOKEN or FEDPEER_PROBE_ACCESS_TOKEN');
  const url = parseClientUrl(clientUrl);
  if (typeof url === 'string') throw new UsageError(`--client-url: ${url}`);
  if (user !== undefined && !/^@[^:]+:.+$/.test(user)) throw new UsageError(`--user: expected a user ID such as @alice:example.org, got ${JSON.stringify(user)}`);
  return { url: url.href.replace(/\/+$/, ''), token: accessToken, ...(user !== undefined ? { user } : {}) };
}

function parsePort(text: string, flag: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new UsageError(`${flag}: expected a port number (0-65535), got ${JSON.stringify(text)}`);
  return Number(text);
}

export function parseDnsListen(text: string): { address: string; port: number } {
  if (!isDnsServer(text)) throw new UsageError(`--dns-listen: expected an IP address with an optional port ("127.0.0.1:5353", "[::1]:53"), got ${JSON.stringify(text)}`);
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracketed) return { address: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
  const v4 = /^([^:]+):(\d+)$/.exec(text);
  if (v4) return { address: v4[1]!, port: Number(v4[2]) };
  return { address: text, port: 53 };
}

/** A port the config's listeners already use cannot also carry the untrusted identity. */
function checkUntrustedPort(config: Config, port: number): void {
  const clash = config.listeners.find((l) => l.kind === 'tcp' && l.port === port);
  if (clash) throw new UsageError(`--untrusted-port ${port}: the config's listeners already use port ${port}; pick a free port for the untrusted identity (or 0 for none)`);
}

/** A listener that cannot bind: the probe's own way out replaces the server's (which speaks of serve's options). */
function explainStartFailure(e: Error, untrustedPort: number): Error {
  if (!(e instanceof ListenError)) return e;
  const inUse = e.code === 'EADDRINUSE';
  const fix =
    inUse && e.port === untrustedPort
      ? "that is the untrusted identity's port: give --untrusted-port a free port (or 0 for none)"
      : inUse
        ? 'the probe serves the listeners of --config while it runs: stop the server that uses them, or give the probe a config of its own'
        : 'the probe serves the listeners of --config while it runs (the untrusted identity on their addresses): change them in its config';
  return new Error(`cannot listen on ${e.where}: ${e.problem}; ${fix}`);
}

export async function probeCommand(io: CommandIO, opts: ProbeCommandOptions): Promise<number> {
  if (!opts.name) throw new UsageError(`probe needs the server name to probe: ${USAGE}`);
  if (!isValidServerName(opts.name)) throw new UsageError(`not a valid server name: ${JSON.stringify(opts.name)}`);
  if (!opts.config) throw new UsageError(`probe runs as the server of --config FILE (its server_name must be reachable by the target, which calls back for its keys): ${USAGE}`);
  if (opts.room !== undefined && !/^[!#][^:]+:.+$/.test(opts.room)) throw new UsageError(`--room: expected a room ID (!id:server) or alias (#name:server), got ${JSON.stringify(opts.room)}`);
  if (opts.json && opts.tap) throw new UsageError('--json and --tap both print the report: choose one (--junit FILE can go with either)');
  let checks;
  try {
    checks = selectChecks(opts.only?.split(','));
  } catch (e) {
    if (e instanceof UnknownCheckError) throw new UsageError(`--only: ${e.message}`);
    throw e;
  }
  const client = clientOptions(opts);
  const untrustedPort = opts.untrustedPort === undefined ? DEFAULT_UNTRUSTED_PORT : parsePort(opts.untrustedPort, '--untrusted-port');
  const dnsListen = opts.dnsListen === undefined ? undefined : parseDnsListen(opts.dnsListen);
  if (opts.junit) {
    // Found out now, not after a run of several minutes.
    await access(dirname(resolve(opts.junit)), constants.W_OK).catch((e: NodeJS.ErrnoException) => {
      throw new UsageError(`--junit: cannot write into ${dirname(resolve(opts.junit!))} (${e.code})`);
    });
  }
  const config = await outboundConfig(opts);
  if (untrustedPort !== 0) checkUntrustedPort(config, untrustedPort);
  if (opts.name === config.serverName) throw new UsageError(`the target ${opts.name} is the probe's own server_name: probe another server, with a config of the probe's own`);

  const own = opts.logger ? undefined : createLogger(opts.logLevel ?? 'silent', createLogDestination(2));
  const logger = opts.logger ?? own!.logger;
  let report;
  try {
    report = await runProbe({
      target: opts.name,
      config,
      logger,
      checks,
      untrustedPort: untrustedPort === 0 ? null : untrustedPort,
      ...(opts.room !== undefined ? { room: opts.room } : {}),
      ...(client ? { client } : {}),
      ...(opts.roomWaitMs !== undefined ? { roomWaitMs: opts.roomWaitMs } : {}),
      ...(dnsListen ? { dnsListen } : {}),
      ...(opts.dnsServers ? { dnsServers: opts.dnsServers } : {}),
      ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  } catch (e) {
    throw explainStartFailure(e as Error, untrustedPort);
  } finally {
    own?.logger.flush();
  }
  if (opts.junit) {
    try {
      await writeFile(opts.junit, formatJunitReport(report));
    } catch (e) {
      throw new Error(`--junit: cannot write ${opts.junit}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  io.stdout(opts.json ? JSON.stringify(report, null, 2) : opts.tap ? formatTapReport(report) : formatTextReport(report));
  return report.ok ? 0 : 1;
}

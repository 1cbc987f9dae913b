// One probe run: serve the probe's identities, resolve the target, run the
// selected checks in order, and gather the report. The checks share one
// context (see context.ts); everything started here is stopped here.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import { parseServerName } from '../matrix/server-name.js';
import { generateSigningKey } from '../matrix/signing-key.js';
import { PACKAGE_VERSION } from '../version.js';
import type { HeaderKeys } from './auth-headers.js';
import type { CheckDefinition, ProbeContext } from './context.js';
import { startProbeDnsServer, type ProbeDnsServer } from './dns-server.js';
import { startIdentities } from './identities.js';
import { createSender } from './sender.js';
import { createClientApi } from './client-api.js';
import { readCustomCas, systemCaCertificates } from '../federation/tls-policy.js';
import { REPORT_SCHEMA, type CheckResult, type Outcome, type ProbeReport, type ProbeSummary } from './types.js';

export interface ProbeRunOptions {
  target: string;
  /** The probe's identity: its server name, keys, certificates and listeners. */
  config: Config;
  logger: Logger;
  checks: readonly CheckDefinition[];
  room?: string;
  /** Port of the untrusted identity; null for none. */
  untrustedPort: number | null;
  /** Where the probe's own DNS server listens, when it runs one. */
  dnsListen?: { address: string; port: number };
  dnsServers?: readonly string[];
  systemCas?: readonly string[];
  now?: () => number;
  /** Names this run's keys and throwaway origin; default random. */
  runTag?: string;
  /** The target's client API, for the room checks. */
  client?: { url: string; token: string; user?: string };
  /** How long the room checks wait for the target to show an event (default 20 s). */
  roomWaitMs?: number;
}

const DEFAULT_ROOM_WAIT_MS = 20_000;

const WILDCARDS = new Set(['0.0.0.0', '::']);

function randomTag(): string {
  return randomBytes(6).toString('hex');
}

/** The host names the probe answers for: its server name's, and the one its well-known delegates to. */
export function probeHostNames(config: Config): string[] {
  const names = [config.serverName, ...(config.wellKnownServer !== undefined ? [config.wellKnownServer] : [])].map((n) => parseServerName(n));
  return [...new Set(names.filter((n) => n.kind === 'dns').map((n) => n.host.toLowerCase()))];
}

/** What an https client API URL is trusted by: the system's CAs and the config's federation_custom_ca_list. */
async function clientCas(config: Config, systemCas?: readonly string[]): Promise<string[]> {
  return [...(systemCas ?? systemCaCertificates()), ...(await readCustomCas(config.federationCustomCaList))];
}

export function summarise(checks: readonly CheckResult[]): ProbeSummary {
  const summary: ProbeSummary = { pass: 0, fail: 0, not_applicable: 0, could_not_run: 0 };
  for (const c of checks) summary[c.verdict]++;
  return summary;
}

export async function runProbe(opts: ProbeRunOptions): Promise<ProbeReport> {
  const now = opts.now ?? Date.now;
  const startedAt = now();
  const t0 = performance.now();
  const clock = () => performance.now() - t0;
  const tag = opts.runTag ?? randomTag();
  const runKey = generateSigningKey(`probe_${tag}`);
  const keys: HeaderKeys = {
    origin: opts.config.serverName,
    destination: opts.target,
    key: runKey,
    forger: generateSigningKey(runKey.version),
    unpublished: generateSigningKey(`probe_${tag}_unpublished`),
    unfetchableOrigin: `probe-nokeys-${tag}.invalid`,
    unfetchableKey: generateSigningKey(`probe_${tag}`),
  };
  const federation = {
    ...(opts.dnsServers && opts.dnsServers.length > 0 ? { dnsServers: opts.dnsServers } : {}),
    ...(opts.systemCas ? { systemCas: opts.systemCas } : {}),
  };
  const identities = await startIdentities({
    config: opts.config,
    logger: opts.logger,
    runKey,
    untrustedKey: generateSigningKey(`probe_${tag}_untrusted`),
    untrustedPort: opts.untrustedPort,
    clock,
    federation,
  });
  let dns: ProbeDnsServer | null = null;
  const sender = await createSender({ config: opts.config, target: opts.target, ...federation }).catch(async (e) => {
    await identities.close();
    throw e;
  });
  const results: CheckResult[] = [];
  const atEnd: Array<() => Promise<void>> = [];
  try {
    // The probe's own look at itself comes first, so its traffic is not taken for the target's.
    const own = sender.resolve(opts.config.serverName);
    await own;
    if (opts.dnsListen) {
      const addresses = [...new Set(identities.server.listeners.bound.flatMap((b) => (typeof b.address === 'string' || WILDCARDS.has(b.address.address) ? [] : [b.address.address])))];
      dns = await startProbeDnsServer({ ...opts.dnsListen, hosts: new Map(probeHostNames(opts.config).map((h) => [h, addresses])), now: clock });
    }
    identities.inbound.clear();
    identities.untrusted?.inbound.clear();
    const memo = new Map<string, Promise<unknown>>();
    const ctx: ProbeContext = {
      target: opts.target,
      origin: opts.config.serverName,
      keys,
      send: (req) => sender.send(req),
      shared<T>(name: string, compute: () => Promise<T>): Promise<T> {
        let p = memo.get(name) as Promise<T> | undefined;
        if (!p) {
          p = compute();
          memo.set(name, p);
        }
        return p;
      },
      now,
      inbound: identities.inbound,
      listeners: identities.listeners,
      ...(identities.untrusted ? { untrusted: identities.untrusted } : {}),
      ...(identities.untrustedMissing ? { untrustedMissing: identities.untrustedMissing } : {}),
      dns,
      targetResolution: () => sender.resolve(opts.target),
      ownResolution: () => own,
      ...(opts.room !== undefined ? { room: opts.room } : {}),
      runTag: tag,
      rooms: identities.server.rooms,
      ...(opts.client ? { client: createClientApi({ ...opts.client, cas: await clientCas(opts.config, opts.systemCas), timeoutMs: opts.config.federationClient.requestTimeoutMs }) } : {}),
      roomWaitMs: opts.roomWaitMs ?? DEFAULT_ROOM_WAIT_MS,
      atEnd: (fn) => void atEnd.push(fn),
    };
    for (const check of opts.checks) {
      const began = performance.now();
      let outcome: Outcome;
      try {
        outcome = await check.run(ctx);
      } catch (e) {
        // A bug in the probe is not a verdict on the target.
        opts.logger.error({ err: e, check: check.id }, 'probe check failed');
        outcome = { verdict: 'could_not_run', reason: `the probe itself failed: ${(e as Error).message}` };
      }
      const { run: _run, ...info } = check;
      results.push({
        ...info,
        verdict: outcome.verdict,
        reason: outcome.reason,
        exchanges: outcome.exchanges ?? [],
        ...(outcome.observed ? { observed: outcome.observed } : {}),
        duration_ms: Math.round(performance.now() - began),
      });
    }
    // Leave the rooms while the probe still listens, so the target hears of it and stops sending here.
    for (const fn of atEnd.reverse()) {
      await fn().catch((e: Error) => opts.logger.warn({ err: e.message }, 'probe: leaving a room failed'));
    }
  } finally {
    await dns?.close();
    sender.close();
    await identities.close();
  }
  const summary = summarise(results);
  return {
    schema: REPORT_SCHEMA,
    fedpeer_version: PACKAGE_VERSION,
    target: opts.target,
    origin: opts.config.serverName,
    started_at: new Date(startedAt).toISOString(),
    duration_ms: Math.round(performance.now() - t0),
    ok: summary.fail === 0,
    summary,
    checks: results,
  };
}

// Keeps a certificate for every ACME domain: on start and once a day it
// issues what is missing, no longer covers its name, or expires within
// acme.renew_days_before; a failed round is retried with a doubling delay.
// After a round that issued anything, onIssued() installs the new files
// (serve.ts reloads the SNI store), so no restart is needed.
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { requiredFiles } from '../config/load.js';
import type { Config } from '../config/types.js';
import { parseServerName } from '../matrix/server-name.js';
import type { ChallengeStore } from './challenge-store.js';
import { checkDirectory, describeNetworkError } from './directory.js';
import type { Issuer } from './issuer.js';
import { acmeFiles, checkStorageOverlap, readOrCreateAccountKey, writeCertificate, type AcmeFiles } from './storage.js';

const DAY_MS = 24 * 3600_000;

export interface AcmeTiming {
  /** First wait between ACME status polls (default 2 s). */
  pollMs?: number;
  /** Time between routine checks (default one day). */
  checkIntervalMs?: number;
  /** First retry delay after a failed round (default one minute); doubles up to checkIntervalMs. */
  retryBaseMs?: number;
}

export interface AcmeManagerOptions {
  config: Config;
  logger: Logger;
  challenges: ChallengeStore;
  now?: () => number;
  /** Called after a round that stored new certificates. */
  onIssued?: (domains: string[]) => Promise<void> | void;
  timing?: AcmeTiming;
}

export interface RenewResult {
  domain: string;
  status: 'issued' | 'current' | 'failed';
  /** Expiry of the certificate now stored (epoch ms). */
  notAfter?: number;
  error?: string;
}

export interface AcmeManager {
  readonly domains: readonly string[];
  readonly files: AcmeFiles;
  /** One round; `force` reissues even current certificates. Concurrent calls share the round. */
  renew(opts?: { force?: boolean }): Promise<RenewResult[]>;
  /** Runs a round now, then every checkIntervalMs (sooner after a failure). */
  start(): void;
  stop(): void;
}

/** acme.domains, or else the hosts of server_name and public_baseurl (DNS names only: HTTP-01 cannot prove an IP). */
export function acmeDomains(config: Config): string[] {
  if (config.acme.domains.length > 0) return [...new Set(config.acme.domains.map((d) => d.toLowerCase()))];
  const hosts: string[] = [];
  const name = parseServerName(config.serverName);
  if (name.kind === 'dns') hosts.push(name.host.toLowerCase());
  if (config.publicBaseurl !== undefined) {
    const host = new URL(config.publicBaseurl).hostname.toLowerCase();
    if (isIP(host.replace(/^\[|\]$/g, '')) === 0) hosts.push(host);
  }
  return [...new Set(hosts)];
}

async function storedExpiry(files: AcmeFiles, domain: string): Promise<number | undefined> {
  try {
    const cert = new X509Certificate(await readFile(files.certificatePath(domain), 'utf8'));
    return cert.checkHost(domain) === undefined ? undefined : Date.parse(cert.validTo);
  } catch {
    return undefined;
  }
}

function describeError(e: unknown, timeoutMs: number, directoryUrl: string): string {
  const err = e as Error & { code?: string; response?: { data?: { detail?: string } } };
  if (err.response?.data?.detail) return `the CA refused: ${err.response.data.detail}`;
  const network = describeNetworkError(err, timeoutMs);
  if (network !== undefined) return `talking to the ACME server of ${directoryUrl}: ${network}`;
  return err.message ?? String(e);
}

export function createAcmeManager(opts: AcmeManagerOptions): AcmeManager {
  const { config, logger } = opts;
  const now = opts.now ?? Date.now;
  const timing = { pollMs: 2000, checkIntervalMs: DAY_MS, retryBaseMs: 60_000, ...opts.timing };
  const domains = acmeDomains(config);
  if (domains.length === 0) {
    throw new Error(`acme.domains: none given and none derivable (server_name ${config.serverName} is not a DNS name and public_baseurl gives none): list them`);
  }
  const files = acmeFiles(config.acme.storageDir);
  // Every file the config names (certificates, keys, CA lists) is the operator's.
  checkStorageOverlap(files, domains, requiredFiles(config));
  const renewBeforeMs = config.acme.renewDaysBefore * DAY_MS;
  // ACME requests are outbound requests like any other: the same deadline.
  const timeoutMs = config.federationClient.requestTimeoutMs;

  let running: Promise<RenewResult[]> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;

  async function round(force: boolean): Promise<RenewResult[]> {
    const due: string[] = [];
    const results: RenewResult[] = [];
    for (const domain of domains) {
      const notAfter = await storedExpiry(files, domain);
      if (!force && notAfter !== undefined && notAfter - now() > renewBeforeMs) results.push({ domain, status: 'current', notAfter });
      else due.push(domain);
    }
    if (due.length === 0) return results;
    let issuer: Issuer;
    try {
      const caPem = config.acme.caCertificatePath === undefined ? undefined : await readFile(config.acme.caCertificatePath, 'utf8');
      await checkDirectory(config.acme.directoryUrl, { ...(caPem !== undefined ? { caPem } : {}), timeoutMs });
      // acme-client (with axios and node-forge) is loaded only when something
      // is due, not by every server start.
      const { createIssuer } = await import('./issuer.js');
      issuer = createIssuer({
        directoryUrl: config.acme.directoryUrl,
        ...(caPem !== undefined ? { caPem } : {}),
        accountKeyPem: await readOrCreateAccountKey(files),
        ...(config.acme.accountEmail !== undefined ? { email: config.acme.accountEmail } : {}),
        challenges: opts.challenges,
        pollMs: timing.pollMs,
        timeoutMs,
      });
    } catch (e) {
      return [...results, ...due.map((domain) => ({ domain, status: 'failed' as const, error: describeError(e, timeoutMs, config.acme.directoryUrl) }))];
    }
    const issued: string[] = [];
    // One order at a time: CAs rate-limit parallel orders per account.
    for (const domain of due) {
      try {
        logger.info({ domain, directory: config.acme.directoryUrl }, 'ACME: requesting a certificate');
        const { chainPem, keyPem } = await issuer.issue(domain);
        await writeCertificate(files, domain, chainPem, keyPem);
        const notAfter = Date.parse(new X509Certificate(chainPem).validTo);
        issued.push(domain);
        results.push({ domain, status: 'issued', notAfter });
        logger.info({ domain, file: files.certificatePath(domain), notAfter: new Date(notAfter).toISOString() }, 'ACME: certificate stored');
      } catch (e) {
        const error = describeError(e, timeoutMs, config.acme.directoryUrl);
        results.push({ domain, status: 'failed', error });
        logger.error({ domain, directory: config.acme.directoryUrl }, `ACME: ${domain}: ${error}`);
      }
    }
    if (issued.length > 0) await opts.onIssued?.(issued);
    return results;
  }

  function renew({ force = false } = {}): Promise<RenewResult[]> {
    running ??= round(force).finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(ms: number): void {
    if (stopped) return;
    timer = setTimeout(tick, ms);
    timer.unref();
  }

  function tick(): void {
    timer = undefined;
    renew().then(
      (results) => {
        const failed = results.some((r) => r.status === 'failed');
        failures = failed ? failures + 1 : 0;
        const next = failed ? Math.min(timing.retryBaseMs * 2 ** (failures - 1), timing.checkIntervalMs) : timing.checkIntervalMs;
        if (failed) logger.warn({ retryInMs: next, failures }, 'ACME: round failed; retrying later');
        schedule(next);
      },
      (err) => {
        // round() reports per-domain failures itself; this is onIssued failing.
        logger.error({ err }, 'ACME: installing the new certificates failed');
        schedule(timing.retryBaseMs);
      },
    );
  }

  return {
    domains,
    files,
    renew,
    start() {
      stopped = false;
      if (timer === undefined) tick();
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}

// `fedpeer acme renew [--force]`: one ACME round from the command line, for
// cron or a first issuance before `fedpeer serve` runs. HTTP-01 answers are
// written under acme.webroot when one is set (a running fedpeer or another
// web server serves them); otherwise this command binds the config's
// `type: acme` listeners itself for the length of the round. A running
// server (pid_file) is then sent SIGHUP to install what was issued.
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { createChallengeStore } from '../acme/challenge-store.js';
import { createAcmeManager, type AcmeTiming } from '../acme/manager.js';
import { buildAcmeApp } from '../server/app.js';
import { effectiveListeners, startListeners, type RunningListeners } from '../server/listeners.js';
import type { CommandIO } from './io.js';

export interface AcmeRenewOptions {
  config: string;
  force?: boolean;
  logger: Logger;
  timing?: AcmeTiming;
}

async function challengeListeners(config: Config, logger: Logger, challenges: ReturnType<typeof createChallengeStore>): Promise<RunningListeners> {
  const only = { ...config, listeners: effectiveListeners(config).filter((l) => l.type === 'acme') };
  if (only.listeners.length === 0) {
    throw new Error(`${config.sourcePath ?? 'config'}: nothing can answer HTTP-01 challenges: add a listener with "type: acme" (port 80), or set acme.webroot to a directory a web server publishes`);
  }
  try {
    return await startListeners({ config: only, logger, makeApp: (l) => buildAcmeApp(only, { logger, challenges }, { trustProxy: l.xForwarded }) });
  } catch (e) {
    throw new Error(`${(e as Error).message}. Is "fedpeer serve" running? It renews by itself; or set acme.webroot so both can share the challenge answers`);
  }
}

/** Sends SIGHUP to the pid in pid_file, if a server is running; says what happened. */
async function signalServer(config: Config): Promise<string> {
  if (config.pidFile === undefined) return 'no pid_file configured: send SIGHUP to a running fedpeer to install the new certificates';
  let pid: number;
  try {
    pid = Number((await readFile(config.pidFile, 'utf8')).trim());
  } catch {
    return `no running fedpeer (${config.pidFile} not found); the next start installs the new certificates`;
  }
  try {
    process.kill(pid, 'SIGHUP');
    return `sent SIGHUP to fedpeer (pid ${pid}, from ${config.pidFile}) to install the new certificates`;
  } catch (e) {
    return `could not signal pid ${pid} from ${config.pidFile} (${(e as NodeJS.ErrnoException).code ?? e}); the next start installs the new certificates`;
  }
}

export async function acmeRenewCommand(io: CommandIO, opts: AcmeRenewOptions): Promise<number> {
  const config = await loadConfig(opts.config);
  if (!config.acme.enabled) {
    io.stderr(`fedpeer acme renew: acme.enabled is not true in ${config.sourcePath}; nothing to do`);
    return 1;
  }
  const challenges = createChallengeStore(config.acme.webroot !== undefined ? { webroot: config.acme.webroot } : {});
  const manager = createAcmeManager({
    config,
    logger: opts.logger,
    challenges,
    ...(opts.timing ? { timing: opts.timing } : {}),
  });
  const listeners = config.acme.webroot === undefined ? await challengeListeners(config, opts.logger, challenges) : undefined;
  let results;
  try {
    results = await manager.renew({ force: opts.force === true });
  } finally {
    await listeners?.close(1000);
  }
  for (const r of results) {
    const until = r.notAfter === undefined ? '' : ` (valid until ${new Date(r.notAfter).toISOString()})`;
    io.stdout(r.status === 'failed' ? `${r.domain}: failed: ${r.error}` : `${r.domain}: ${r.status}${until}, ${manager.files.certificatePath(r.domain)}`);
  }
  if (results.some((r) => r.status === 'issued')) io.stdout(await signalServer(config));
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

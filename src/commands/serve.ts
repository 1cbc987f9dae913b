// `fedpeer serve`: the composition root of the inbound side. It reads the
// signing keys and certificates the config names, builds one app per
// listener and binds them.
import { readFile, writeFile, rm } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Config, ListenerConfig } from '../config/types.js';
import { parseSigningKeys, type SigningKey } from '../matrix/signing-key.js';
import { createKeyPublisher, type KeyPublisher } from '../server/key-document.js';
import { buildApp } from '../server/app.js';
import { startListeners, type RunningListeners } from '../server/listeners.js';
import { createCertificateStore, loadCertificate, type CertificateStore } from '../server/certificates.js';
import { createPeerServices, type PeerServices } from './outbound.js';

export interface RunningServer {
  config: Config;
  listeners: RunningListeners;
  keyPublisher: KeyPublisher;
  certificates?: CertificateStore;
  /** The outbound side: federation client and remote key store. */
  peer: PeerServices;
  close(graceMs?: number): Promise<void>;
}

export async function readSigningKeys(config: Config): Promise<SigningKey[]> {
  if (config.signingKey) return parseSigningKeys(config.signingKey, 'signing_key');
  let text: string;
  try {
    text = await readFile(config.signingKeyPath, 'utf8');
  } catch (e) {
    throw new Error(`signing_key_path: cannot read ${config.signingKeyPath}: ${(e as NodeJS.ErrnoException).code ?? e}. Create one with: fedpeer keygen --out ${config.signingKeyPath}`);
  }
  return parseSigningKeys(text, config.signingKeyPath);
}

export async function readCertificates(config: Config): Promise<CertificateStore | undefined> {
  const pairs: Array<{ cert: string; key: string }> = [];
  if (config.tlsCertificatePath && config.tlsPrivateKeyPath) pairs.push({ cert: config.tlsCertificatePath, key: config.tlsPrivateKeyPath });
  for (const p of config.tlsCertificates) pairs.push({ cert: p.certificatePath, key: p.privateKeyPath });
  if (pairs.length === 0) return undefined;
  const entries = [];
  for (const { cert, key } of pairs) {
    const [certPem, keyPem] = await Promise.all([readFile(cert, 'utf8'), readFile(key, 'utf8')]);
    entries.push(loadCertificate({ certPem, keyPem, label: cert }));
  }
  return createCertificateStore(entries);
}

export interface ServeOptions {
  logger: Logger;
  now?: () => number;
  /** Outbound overrides (tests point these at the private internet). */
  federation?: { dnsServers?: readonly string[]; systemCas?: readonly string[] };
}

export async function startServer(config: Config, opts: ServeOptions): Promise<RunningServer> {
  const now = opts.now ?? Date.now;
  const logger = opts.logger;
  if (config.ignoredKeys.length > 0) logger.debug({ keys: config.ignoredKeys }, 'homeserver.yaml keys not used by fedpeer');
  const signingKeys = await readSigningKeys(config);
  const keyPublisher = createKeyPublisher({
    serverName: config.serverName,
    signingKeys,
    oldVerifyKeys: config.oldSigningKeys,
    refreshIntervalMs: config.keyRefreshIntervalMs,
    now,
  });
  const certificates = await readCertificates(config);
  const peer = await createPeerServices({
    config,
    logger,
    signingKey: signingKeys[0]!,
    longRunning: true,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.federation?.dnsServers ? { dnsServers: opts.federation.dnsServers } : {}),
    ...(opts.federation?.systemCas ? { systemCas: opts.federation.systemCas } : {}),
  });
  const makeApp = (listener: ListenerConfig) =>
    buildApp(config, { keyPublisher, logger, remoteKeys: peer.keyStore, now }, {
      resources: new Set(listener.resources.flatMap((r) => r.names)),
      trustProxy: listener.xForwarded,
    });
  let listeners: RunningListeners;
  try {
    listeners = await startListeners({ config, logger, makeApp, ...(certificates ? { certificates } : {}) });
  } catch (e) {
    await peer.close();
    throw e;
  }
  if (config.pidFile) await writeFile(config.pidFile, `${process.pid}\n`);
  logger.info({ serverName: config.serverName, keys: signingKeys.map((k) => k.keyId) }, 'fedpeer started');
  return {
    config,
    listeners,
    keyPublisher,
    ...(certificates ? { certificates } : {}),
    peer,
    async close(graceMs) {
      await listeners.close(graceMs);
      await peer.close();
      if (config.pidFile) await rm(config.pidFile, { force: true });
    },
  };
}

export interface ServeCommandOptions {
  config?: string;
  keysDir?: string;
  logger: Logger;
  io: import('./io.js').CommandIO;
}

/** Loads the config (or the embedded default), starts, and stops on SIGTERM/SIGINT. */
export async function serveCommand(opts: ServeCommandOptions): Promise<RunningServer> {
  const { loadConfig, defaultConfig } = await import('../config/load.js');
  let config: Config;
  if (opts.config) {
    config = await loadConfig(opts.config);
  } else {
    const { ensureDevFiles } = await import('../server/dev-files.js');
    const { resolve, relative } = await import('node:path');
    const keysDir = resolve(opts.keysDir ?? 'keys');
    const files = await ensureDevFiles(keysDir);
    for (const f of files.created) opts.logger.info({ file: f }, 'created development file');
    config = defaultConfig({
      baseDir: process.cwd(),
      raw: { signing_key_path: files.signingKeyPath, tls_certificate_path: files.certPath, tls_private_key_path: files.keyPath },
    });
    const ca = relative(process.cwd(), files.caCertPath) || files.caCertPath;
    opts.io.stderr(
      [
        `fedpeer: no --config given, serving the embedded default: server_name ${config.serverName} on https://127.0.0.1:8448`,
        `  signing key ${relative(process.cwd(), files.signingKeyPath)}, certificate for localhost/127.0.0.1/::1 from the dev CA ${ca}`,
        `  try: curl --cacert ${ca} https://localhost:8448/_matrix/key/v2/server`,
        `       curl --cacert ${ca} https://localhost:8448/_matrix/federation/v1/version`,
      ].join('\n'),
    );
  }
  const server = await startServer(config, { logger: opts.logger });
  const where = server.listeners.bound.map((b) => (typeof b.address === 'string' ? b.address : `${b.listener.tls ? 'https' : 'http'}://${b.address.family === 'IPv6' ? `[${b.address.address}]` : b.address.address}:${b.address.port}`));
  opts.io.stderr(`fedpeer: serving ${config.serverName} on ${where.join(', ') || 'no listener'} (SIGTERM or Ctrl-C to stop)`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    opts.logger.info({ signal }, 'shutting down');
    server.close().then(
      () => opts.logger.flush(() => process.exit(0)),
      (err) => {
        opts.logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return server;
}

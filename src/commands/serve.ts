// `fedpeer serve`: the composition root of the inbound side. It reads the
// signing keys and certificates the config names, builds one app per
// listener and binds them.
import { existsSync } from 'node:fs';
import { access, readFile, writeFile, rm } from 'node:fs/promises';
import type * as tls from 'node:tls';
import type { Logger } from 'pino';
import type { RequestListener } from 'node:http';
import { pinoAccessLog, type AccessLog } from '../logger.js';
import { countingAccessLog, createTallies } from '../metrics/tally.js';
import { metricsRequestListener } from '../server/metrics-endpoint.js';
import { PACKAGE_VERSION } from '../version.js';
import type { Config, ListenerConfig } from '../config/types.js';
import { describeTypo, likelyTypos } from '../config/diagnose.js';
import { parseSigningKeys, type SigningKey } from '../matrix/signing-key.js';
import { parseServerName } from '../matrix/server-name.js';
import { createKeyPublisher, type KeyPublisher } from '../server/key-document.js';
import { buildApp } from '../server/app.js';
import { effectiveListeners, speaksTls, startListeners, type RunningListeners } from '../server/listeners.js';
import { createCertificateStore, uncoveredHosts, type CertificateEntry, type CertificateStore } from '../server/certificates.js';
import { loadCertificateSet, type CertificateFiles } from '../server/certificate-files.js';
import { watchFiles, type FileWatch } from '../server/file-watch.js';
import { createChallengeStore, type ChallengeStore } from '../acme/challenge-store.js';
import type { AcmeManager, AcmeTiming } from '../acme/manager.js';
import { createPeerServices, type PeerServices } from './outbound.js';
import { CHECK_PAGE_PATH } from '../server/routes/check-page.js';
import { createRoomPeer, roomStoreDir, type RoomPeer } from '../rooms/peer.js';
import { lazyRoomPeer } from './lazy-room-peer.js';
import { peerIdentity } from '../rooms/identity.js';
import { buildControlApp } from '../control/app.js';
import { createHookRules, type HookRules } from '../control/hook-rules.js';
import { ensureControlToken } from '../control/token.js';
import { federationAnswer, sendTransaction } from '../federation/raw-request.js';

export interface RunningServer {
  config: Config;
  listeners: RunningListeners;
  keyPublisher: KeyPublisher;
  certificates?: CertificateStore;
  /** The outbound side: federation client and remote key store. */
  peer: PeerServices;
  /** The room peer of server_name (its store under data_dir/rooms). */
  rooms: RoomPeer;
  /** HTTP-01 answers in flight, served by `type: acme` listeners. */
  challenges: ChallengeStore;
  /** Present when acme.enabled. */
  acme?: AcmeManager;
  /** Present when a `type: control` listener is configured: its bearer token and the hook rules it sets. */
  control?: { token: string; rules: HookRules };
  /**
   * Re-reads every certificate file (SIGHUP, file watch, after ACME). A file
   * that is now broken keeps its previous certificate and logs an error.
   */
  reloadCertificates(): Promise<void>;
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

/** The certificate files the operator names, in config order (the first is the default). */
export function operatorCertificateFiles(config: Config): CertificateFiles[] {
  const list: CertificateFiles[] = [];
  if (config.tlsCertificatePath && config.tlsPrivateKeyPath) {
    list.push({ certificatePath: config.tlsCertificatePath, privateKeyPath: config.tlsPrivateKeyPath, key: 'tls_certificate_path', required: true });
  }
  config.tlsCertificates.forEach((p, i) => list.push({ ...p, key: `tls_certificates[${i}]`, required: true }));
  return list;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Operator files first, then the ACME certificates stored so far. */
async function certificateFiles(config: Config, acme: AcmeManager | undefined): Promise<CertificateFiles[]> {
  const list = operatorCertificateFiles(config);
  for (const domain of acme?.domains ?? []) {
    const certificatePath = acme!.files.certificatePath(domain);
    if (await exists(certificatePath)) list.push({ certificatePath, privateKeyPath: acme!.files.privateKeyPath(domain), key: `acme (${domain})`, required: false });
  }
  return list;
}

/** Hosts the certificates are expected to cover: server_name's and public_baseurl's. */
export function expectedHosts(config: Config): string[] {
  const hosts = [parseServerName(config.serverName).host];
  if (config.publicBaseurl !== undefined) hosts.push(new URL(config.publicBaseurl).hostname.replace(/^\[|\]$/g, ''));
  return [...new Set(hosts.map((h) => h.toLowerCase()))];
}

export interface ServeOptions {
  logger: Logger;
  /** The per-request line (createLogger's fast one); without it, through `logger`. */
  accessLog?: AccessLog;
  now?: () => number;
  /** Watch certificate files and reload on change (default true). */
  watchCertificates?: boolean;
  /** Quiet time after the last change before a reload (default 500 ms). */
  watchDebounceMs?: number;
  /** ACME polling and retry intervals (tests shorten them). */
  acmeTiming?: AcmeTiming;
  /** Outbound overrides (tests point these at the private internet). */
  federation?: { dnsServers?: readonly string[]; systemCas?: readonly string[] };
  /** Room peer options: hooks, ID randomness, outbound retry timing, bounds on work for other servers. */
  rooms?: Pick<import('../rooms/peer.js').RoomPeerOptions, 'hooks' | 'randomId' | 'queueRetry' | 'limits'>;
}

export async function startServer(config: Config, opts: ServeOptions): Promise<RunningServer> {
  const now = opts.now ?? Date.now;
  const logger = opts.logger;
  if (config.ignoredKeys.length > 0) logger.debug({ keys: config.ignoredKeys }, 'homeserver.yaml keys not used by fedpeer');
  for (const typo of likelyTypos(config.ignoredKeys)) logger.warn({ key: typo.key, suggestion: typo.suggestion }, describeTypo(typo));
  const signingKeys = await readSigningKeys(config);
  const keyPublisher = createKeyPublisher({
    serverName: config.serverName,
    signingKeys,
    oldVerifyKeys: config.oldSigningKeys,
    refreshIntervalMs: config.keyRefreshIntervalMs,
    now,
  });
  const minVersion: tls.SecureVersion = config.tlsMinimumVersion === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
  const challenges = createChallengeStore(config.acme.webroot !== undefined ? { webroot: config.acme.webroot } : {});
  let reload: () => Promise<void> = async () => {};
  // ACME, certificate creation and the check page are loaded only when the
  // config asks for them: together they are about a seventh of an idle
  // listener's memory (docs/PERFORMANCE.md).
  const acme = config.acme.enabled
    ? (await import('../acme/manager.js')).createAcmeManager({
        config,
        logger,
        challenges,
        now,
        onIssued: () => reload(),
        ...(opts.acmeTiming ? { timing: opts.acmeTiming } : {}),
      })
    : undefined;

  const needTls = effectiveListeners(config).some(speaksTls);
  let loaded = await loadCertificateSet(await certificateFiles(config, acme), { minVersion, now: now(), logger });
  let initial: CertificateEntry[] = [...loaded.values()];
  if (initial.length === 0 && needTls && acme) {
    logger.warn({ domains: acme.domains }, 'no certificate yet: serving a self-signed placeholder until ACME issues one');
    const { placeholderCertificate } = await import('../server/placeholder-certificate.js');
    initial = [await placeholderCertificate([...acme.domains], { minVersion, now: now() })];
  }
  const certificates = initial.length > 0 ? createCertificateStore(initial, { minVersion }) : undefined;
  if (certificates && needTls) {
    for (const host of uncoveredHosts(certificates.entries(), expectedHosts(config))) {
      logger.warn({ host }, `no configured certificate covers ${host} (the host of server_name or public_baseurl); clients asking for it get ${certificates.entries()[0]!.source.label}`);
    }
  }

  // Reloads run one after another, each building on the set the last one left.
  let chain = Promise.resolve();
  reload = () => {
    chain = chain.then(async () => {
      if (!certificates) return;
      const next = await loadCertificateSet(await certificateFiles(config, acme), { minVersion, now: now(), logger, previous: loaded });
      if (next.size === 0) {
        logger.error('certificate reload: no certificate could be loaded; the current ones stay in service');
        return;
      }
      loaded = next;
      certificates.replace([...next.values()]);
      logger.info({ certificates: [...next.values()].map((e) => ({ file: e.source.label, names: e.dnsNames, notAfter: new Date(e.notAfter).toISOString() })) }, 'certificates reloaded');
    }).catch((err) => logger.error({ err }, 'certificate reload failed; the current certificates stay in service'));
    return chain;
  };

  // Counted only when a metrics listener will show the counts (src/metrics/tally.ts).
  const tallies = effectiveListeners(config).some((l) => l.type === 'metrics') ? createTallies() : undefined;
  const accessLog = tallies ? countingAccessLog(opts.accessLog ?? pinoAccessLog(logger), tallies.requests) : opts.accessLog;

  // The same DNS servers, CAs and clock for the outbound client and the check page.
  const outbound = {
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.federation?.dnsServers ? { dnsServers: opts.federation.dnsServers } : {}),
    ...(opts.federation?.systemCas ? { systemCas: opts.federation.systemCas } : {}),
  };
  const checkPage = config.checkPage.enabled ? await (await import('../check/page.js')).createCheckPageService({ config, path: CHECK_PAGE_PATH, ...outbound }) : undefined;
  const peer = await createPeerServices({ config, logger, signingKey: signingKeys[0]!, longRunning: true, ...(tallies ? { tallies } : {}), ...outbound });
  const storeDir = roomStoreDir(config.dataDir);
  const lazyRooms = lazyRoomPeer(() =>
    createRoomPeer({
      identity: peerIdentity(config.serverName, signingKeys[0]!, config.testUsers),
      store: storeDir,
      request: (destination, method, path, o = {}) => peer.client.request(destination, method, path, o),
      keys: peer.keyStore,
      resetBackoff: (destination) => peer.client.backoff?.success(destination),
      logger,
      now,
      ...(opts.rooms ?? {}),
    }),
  );
  const rooms = lazyRooms.peer;
  // A store that exists is opened now: it may hold transactions queued before
  // a restart, and a broken one fails the start. A new one waits for rooms.
  if (existsSync(storeDir)) {
    try {
      lazyRooms.open();
    } catch (e) {
      await peer.close();
      throw e;
    }
  }
  let control: RunningServer['control'];
  if (effectiveListeners(config).some((l) => l.type === 'control')) {
    try {
      control = { token: await ensureControlToken(config), rules: createHookRules({ now }) };
    } catch (e) {
      await rooms.close();
      await peer.close();
      throw e;
    }
    rooms.hooks.controlRules = control.rules.hook;
  }
  let metrics: RequestListener | undefined;
  if (tallies) {
    // prom-client is loaded only here, for a configured metrics listener.
    const { createMetrics } = await import('../metrics/registry.js');
    const source = createMetrics({ tallies, certificates: () => certificates?.entries() ?? [], version: PACKAGE_VERSION, serverName: config.serverName });
    metrics = metricsRequestListener(source, (err) => logger.error({ err }, 'metrics: rendering failed'));
  }
  const makeApp = (listener: ListenerConfig) =>
    listener.type === 'control' && control
      ? buildControlApp(
          config,
          {
            token: control.token,
            rules: control.rules,
            peer: rooms,
            federation: {
              request: (destination, method, path, body) => federationAnswer(peer.client, destination, method, path, body),
              sendTransaction: (destination, txn) => sendTransaction(peer.client, config.serverName, destination, txn, { now }),
            },
            logger,
            ...(accessLog ? { accessLog } : {}),
          },
          { xForwarded: listener.xForwarded },
        )
      : buildApp(config, { keyPublisher, logger, ...(accessLog ? { accessLog } : {}), challenges, remoteKeys: peer.keyStore, rooms, now, ...(checkPage ? { checkPage } : {}) }, {
      resources: new Set(listener.resources.flatMap((r) => r.names)),
      trustProxy: listener.xForwarded,
      type: listener.type,
    });
  let listeners: RunningListeners;
  try {
    listeners = await startListeners({ config, logger, makeApp, ...(certificates ? { certificates } : {}), ...(metrics ? { metrics } : {}) });
  } catch (e) {
    await rooms.close();
    await peer.close();
    throw e;
  }
  let watch: FileWatch | undefined;
  if (certificates && opts.watchCertificates !== false) {
    const paths = operatorCertificateFiles(config).flatMap((f) => [f.certificatePath, f.privateKeyPath]);
    if (paths.length > 0) {
      watch = watchFiles(
        paths,
        (changed) => {
          logger.info({ changed }, 'certificate files changed; reloading');
          void reload();
        },
        { debounceMs: opts.watchDebounceMs ?? 500, logger },
      );
    }
  }
  acme?.start();
  if (config.pidFile) await writeFile(config.pidFile, `${process.pid}\n`);
  logger.info({ serverName: config.serverName, keys: signingKeys.map((k) => k.keyId) }, 'fedpeer started');
  return {
    config,
    listeners,
    keyPublisher,
    peer,
    rooms,
    challenges,
    ...(certificates ? { certificates } : {}),
    ...(acme ? { acme } : {}),
    ...(control ? { control } : {}),
    reloadCertificates: () => reload(),
    async close(graceMs) {
      watch?.close();
      acme?.stop();
      await listeners.close(graceMs);
      await rooms.close();
      await peer.close();
      if (config.pidFile) await rm(config.pidFile, { force: true });
    },
  };
}

export interface ServeCommandOptions {
  config?: string;
  keysDir?: string;
  logger: Logger;
  accessLog?: AccessLog;
  io: import('./io.js').CommandIO;
  /** Passed to startServer (tests turn the watch off to prove SIGHUP alone). */
  watchCertificates?: boolean;
  /** Without `config`: the development peer's name, address and port. */
  dev?: Omit<import('./dev-peer.js').DevPeerOptions, 'keysDir'>;
}

/** Loads the config (or makes a development peer), starts, and stops on SIGTERM/SIGINT. */
export async function serveCommand(opts: ServeCommandOptions): Promise<RunningServer> {
  let config: Config;
  let describe: ((bound: RunningListeners['bound']) => string) | undefined;
  if (opts.config) {
    const { loadConfig } = await import('../config/load.js');
    config = await loadConfig(opts.config);
  } else {
    const { devPeer } = await import('./dev-peer.js');
    const peer = await devPeer({ ...opts.dev, ...(opts.keysDir !== undefined ? { keysDir: opts.keysDir } : {}) });
    for (const f of peer.files.created) opts.logger.info({ file: f }, 'created development file');
    config = peer.config;
    describe = peer.describe;
  }
  const server = await startServer(config, { logger: opts.logger, ...(opts.accessLog ? { accessLog: opts.accessLog } : {}), ...(opts.watchCertificates === false ? { watchCertificates: false } : {}) });
  if (describe) opts.io.stderr(describe(server.listeners.bound));
  const where = server.listeners.bound.map((b) => (typeof b.address === 'string' ? b.address : `${b.tls ? 'https' : 'http'}://${b.address.family === 'IPv6' ? `[${b.address.address}]` : b.address.address}:${b.address.port}`));
  opts.io.stderr(`fedpeer: serving ${config.serverName} on ${where.join(', ') || 'no listener'} (SIGTERM or Ctrl-C to stop, SIGHUP reloads certificates)`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    opts.logger.info({ signal }, 'shutting down');
    server.close().then(
      () => {
        // A log reader that has stopped reading must not hold the exit up.
        setTimeout(() => process.exit(0), 2000).unref();
        opts.logger.flush(() => process.exit(0));
      },
      (err) => {
        opts.logger.error({ err }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  const onTerm = () => stop('SIGTERM');
  const onInt = () => stop('SIGINT');
  const onHup = () => {
    opts.logger.info({ signal: 'SIGHUP' }, 'reloading certificates');
    void server.reloadCertificates();
  };
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  process.on('SIGHUP', onHup);
  const close = server.close.bind(server);
  server.close = async (graceMs) => {
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onInt);
    process.off('SIGHUP', onHup);
    await close(graceMs);
  };
  return server;
}

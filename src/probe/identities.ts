// The probe's identities, served while it runs, since the target calls back
// to fetch their keys:
// - the config's own server name, published with an extra key made for this
//   run, so the target has to fetch the keys again and the probe sees how;
// - optionally a second one, the same host on another port, served with a
//   certificate from a CA made for this run, which no one trusts.
// Both are full fedpeer servers (startServer); the observers record what
// reaches them.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultConfig } from '../config/load.js';
import type { Config, TcpListenerConfig } from '../config/types.js';
import { formatServerName, parseServerName } from '../matrix/server-name.js';
import { formatSigningKeys, type SigningKey } from '../matrix/signing-key.js';
import { createCa, issueCertificate } from '../server/dev-ca.js';
import { speaksTls } from '../server/listeners.js';
import { readSigningKeys, startServer, type RunningServer } from '../commands/serve.js';
import { observeServers, type InboundLog } from './observer.js';
import type { UntrustedIdentity } from './context.js';
import { probeUsers } from './room-session.js';

export interface ProbeIdentities {
  server: RunningServer;
  inbound: InboundLog;
  listeners: { tls: boolean; port443: boolean };
  untrusted?: UntrustedIdentity;
  untrustedMissing?: string;
  close(): Promise<void>;
}

export interface IdentityOptions {
  config: Config;
  logger: Logger;
  /** The key published and signed with for this run only. */
  runKey: SigningKey;
  /** The second identity's key; with `untrustedPort`. */
  untrustedKey: SigningKey;
  /** Port of the untrusted identity; null for none. */
  untrustedPort: number | null;
  /** Measures event times (performance.now()-like, so order survives same-millisecond events). */
  clock: () => number;
  federation?: { dnsServers?: readonly string[]; systemCas?: readonly string[] };
}

/**
 * The config the probe serves: the operator's, plus the run key and the
 * probe's room users, without a pid file or check page, and with `dataDir`
 * (made for this run) instead of the config's: the room store starts empty
 * each run, so every room the probe joins is joined afresh, with the state
 * the target has now.
 */
export async function probeServerConfig(config: Config, runKey: SigningKey, dataDir: string): Promise<Config> {
  const keys = await readSigningKeys(config);
  const users = probeUsers(config.serverName);
  return {
    ...config,
    signingKey: formatSigningKeys([...keys, runKey]),
    pidFile: undefined,
    checkPage: { ...config.checkPage, enabled: false },
    dataDir,
    testUsers: { ...config.testUsers, [users.main]: { displayname: 'fedpeer probe' }, [users.member]: { displayname: 'fedpeer probe (member)' } },
  };
}

function firstTlsListener(config: Config): TcpListenerConfig | undefined {
  return config.listeners.find((l): l is TcpListenerConfig => l.kind === 'tcp' && speaksTls(l));
}

async function startUntrusted(opts: IdentityOptions, port: number, listener: TcpListenerConfig): Promise<{ identity: UntrustedIdentity; server: RunningServer; dir: string }> {
  const name = parseServerName(opts.config.serverName);
  const origin = formatServerName({ ...name, port });
  const dir = await mkdtemp(join(tmpdir(), 'fedpeer-probe-'));
  try {
    const ca = await createCa({ commonName: `fedpeer probe untrusted CA ${opts.untrustedKey.version}` });
    const leaf = await issueCertificate(ca, name.kind === 'dns' ? { dnsNames: [name.host] } : { ipAddresses: [name.host] });
    await writeFile(join(dir, 'untrusted.crt'), leaf.certPem + ca.certPem);
    await writeFile(join(dir, 'untrusted.key'), leaf.keyPem, { mode: 0o600 });
    const config = defaultConfig({
      baseDir: dir,
      raw: {
        server_name: origin,
        signing_key: formatSigningKeys([opts.untrustedKey]),
        tls_certificate_path: 'untrusted.crt',
        tls_private_key_path: 'untrusted.key',
        data_dir: dir,
        listeners: [{ port, bind_addresses: listener.bindAddresses, tls: true, type: 'http', resources: [{ names: ['federation', 'keys'] }] }],
      },
    });
    const server = await startServer(config, { logger: opts.logger, watchCertificates: false, ...(opts.federation ? { federation: opts.federation } : {}) });
    const inbound = observeServers(server.listeners.bound.map((b) => b.server), { now: opts.clock });
    return { identity: { origin, key: opts.untrustedKey, inbound }, server, dir };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

export async function startIdentities(opts: IdentityOptions): Promise<ProbeIdentities> {
  const dataDir = await mkdtemp(join(tmpdir(), 'fedpeer-probe-data-'));
  const config = await probeServerConfig(opts.config, opts.runKey, dataDir);
  let server: RunningServer;
  try {
    server = await startServer(config, { logger: opts.logger, watchCertificates: false, ...(opts.federation ? { federation: opts.federation } : {}) });
  } catch (e) {
    await rm(dataDir, { recursive: true, force: true });
    throw e;
  }
  const tlsListener = firstTlsListener(config);
  const listeners = {
    tls: server.listeners.bound.some((b) => b.tls),
    port443: server.listeners.bound.some((b) => b.tls && typeof b.address !== 'string' && b.address.port === 443),
  };
  let untrusted: Awaited<ReturnType<typeof startUntrusted>> | undefined;
  let untrustedMissing: string | undefined;
  if (opts.untrustedPort === null) untrustedMissing = 'the untrusted identity was turned off (--untrusted-port 0)';
  else if (!tlsListener) untrustedMissing = "the probe's config has no TLS listener whose addresses the untrusted identity could share";
  else {
    try {
      untrusted = await startUntrusted(opts, opts.untrustedPort, tlsListener);
    } catch (e) {
      await server.close(0);
      await rm(dataDir, { recursive: true, force: true });
      throw e;
    }
  }
  const inbound = observeServers(server.listeners.bound.map((b) => b.server), { now: opts.clock });
  return {
    server,
    inbound,
    listeners,
    ...(untrusted ? { untrusted: untrusted.identity } : {}),
    ...(untrustedMissing ? { untrustedMissing } : {}),
    async close() {
      inbound.detach();
      untrusted?.identity.inbound.detach();
      await Promise.all([server.close(1000), untrusted?.server.close(1000)]);
      await rm(dataDir, { recursive: true, force: true });
      if (untrusted) await rm(untrusted.dir, { recursive: true, force: true });
    },
  };
}

// The probe's private internet: a DNS server, the test CA, the probe's own
// config (server name probe.test on 443 and 8448 of 127.<b>.1.1, its
// untrusted identity on 8449), targets started as real fedpeers, and the
// deliberately wrong servers the probe must catch. A wrong server is a real
// fedpeer with one part swapped in front of its listener, so everything but
// that one part behaves as fedpeer does.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import Fastify, { type FastifyRequest, type preHandlerAsyncHookHandler } from 'fastify';
import { pino } from 'pino';
import { formatSigningKeys, generateSigningKey } from '../../src/matrix/signing-key.js';
import { parseXMatrixHeader } from '../../src/matrix/signing.js';
import { installErrorHandlers } from '../../src/server/matrix-errors.js';
import { installJsonBodyParser } from '../../src/server/json-body.js';
import { registerProfileRoute } from '../../src/server/routes/profile.js';
import { xMatrixAuth } from '../../src/server/x-matrix-auth.js';
import { main } from '../../src/cli.js';
import type { CommandIO } from '../../src/commands/io.js';
import type { ProbeReport } from '../../src/probe/types.js';
import { federationWorld, type FederationWorld } from './federation.js';
import { startFixture, type Fixture } from './server-fixture.js';
import type { Area } from './addresses.js';

export interface ProbeWorld extends FederationWorld {
  probeAddress: string;
  /** homeserver.yaml of the probe. */
  probeConfig: string;
  /** A variant of the probe's config with `raw` keys added or replaced; returns its path. */
  probeConfigWith(file: string, raw: Record<string, unknown>): string;
  /** A fedpeer target named `name` on 127.<b>.<c>.1:8448, found by an A record. */
  startTarget(name: string, c: number, raw?: Record<string, unknown>): Promise<Fixture>;
  /** `fedpeer probe` through the CLI, in-process. */
  probe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** `fedpeer probe NAME --config ... --json`, parsed. */
  probeJson(target: string, args?: string[]): Promise<{ code: number; report: ProbeReport; stderr: string }>;
}

export async function probeWorld(area: Area, probeRaw: Record<string, unknown> = {}): Promise<ProbeWorld> {
  const world = await federationWorld(area);
  const probeAddress = world.addr(1, 1);
  world.dns.set('probe.test', 'A', probeAddress);
  // The name a config with well_known_server may delegate to.
  world.dns.set('hs.probe.test', 'A', probeAddress);
  const leaf = await world.pki.leaf(['probe.test', 'hs.probe.test']);
  writeFileSync(join(world.dir, 'probe.signing.key'), formatSigningKeys([generateSigningKey()]), { mode: 0o600 });
  writeFileSync(join(world.dir, 'probe.crt'), leaf.chainPem);
  writeFileSync(join(world.dir, 'probe.key'), leaf.keyPem, { mode: 0o600 });
  const outbound = { federation_custom_ca_list: [world.caFile], federation_dns_servers: [world.dns.hostPort], ip_range_whitelist: [`${world.addr(0, 0)}/16`], trusted_key_servers: [] };
  const probeConfig = join(world.dir, 'probe.yaml');
  // JSON is YAML.
  writeFileSync(
    probeConfig,
    JSON.stringify({
      server_name: 'probe.test',
      signing_key_path: 'probe.signing.key',
      tls_certificate_path: 'probe.crt',
      tls_private_key_path: 'probe.key',
      data_dir: join(world.dir, 'probe-data'),
      listeners: [443, 8448].map((port) => ({ port, bind_addresses: [probeAddress], tls: true, type: 'http', resources: [{ names: ['federation', 'keys'] }] })),
      ...outbound,
      ...probeRaw,
    }),
  );
  // Each probe run signs with a new key, and a target fetches one origin's keys
  // at most once a minute: the targets' clocks move a minute on at every run.
  let ahead = 0;
  const targetNow = () => Date.now() + ahead;
  const probe = async (args: string[]) => {
    ahead += 61_000;
    let stdout = '';
    let stderr = '';
    const io: CommandIO = { stdout: (t) => void (stdout += `${t}\n`), stderr: (t) => void (stderr += `${t}\n`), readStdin: async () => '' };
    const code = await main(['probe', ...args], io);
    return { code, stdout, stderr };
  };
  return {
    ...world,
    probeAddress,
    probeConfig,
    probeConfigWith(file, raw) {
      const path = join(world.dir, file);
      writeFileSync(path, JSON.stringify({ ...(JSON.parse(readFileSync(probeConfig, 'utf8')) as Record<string, unknown>), ...raw }));
      return path;
    },
    async startTarget(name, c, raw = {}) {
      world.dns.set(name, 'A', world.addr(c, 1));
      return startFixture({ address: world.addr(c, 1), serverName: name, certNames: [name], raw: { ...outbound, ...raw }, now: targetNow });
    },
    probe,
    async probeJson(target, args = []) {
      const r = await probe([target, '--config', probeConfig, '--json', ...args]);
      if (r.stdout === '') throw new Error(`probe printed nothing; stderr: ${r.stderr}`);
      return { code: r.code, report: JSON.parse(r.stdout) as ProbeReport, stderr: r.stderr };
    },
  };
}

/** Puts `front` before each listener of `fixture`; `front` answers true when it handled the request. */
export function frontListeners(fixture: Fixture, front: (req: IncomingMessage, res: ServerResponse) => boolean): void {
  for (const { server } of fixture.server.listeners.bound) {
    const [original] = server.listeners('request') as RequestListener[];
    server.removeAllListeners('request');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (!front(req, res)) original!(req, res);
    });
  }
}

const PROFILE = '/_matrix/federation/v1/query/profile';

/**
 * The profile route, as fedpeer builds it, behind another authentication:
 * `auth(real)` gets fedpeer's own X-Matrix check to wrap.
 */
async function swapProfileAuth(fixture: Fixture, auth: (real: (serverName: string) => preHandlerAsyncHookHandler) => preHandlerAsyncHookHandler): Promise<void> {
  const { config, server } = fixture;
  const app = Fastify({ logger: false });
  installErrorHandlers(app, pino({ level: 'silent' }));
  installJsonBodyParser(app);
  const real = (serverName: string) => xMatrixAuth({ serverName, lookupKey: server.peer.keyStore.lookupVerifyKey });
  registerProfileRoute(app, { serverName: config.serverName, users: config.testUsers, auth: auth(real) });
  await app.ready();
  fixture.server.close = ((close) => async (graceMs?: number) => {
    await app.close();
    await close(graceMs);
  })(fixture.server.close.bind(fixture.server));
  frontListeners(fixture, (req, res) => {
    if (!req.url?.startsWith(PROFILE)) return false;
    app.routing(req, res);
    return true;
  });
}

/** Serves requests without an Authorization header as if they were authenticated. */
export function acceptUnsigned(fixture: Fixture): Promise<void> {
  return swapProfileAuth(fixture, (real) => {
    const check = real(fixture.config.serverName);
    return async function (request: FastifyRequest, reply) {
      if (request.headers.authorization === undefined) return;
      return check.call(this, request, reply);
    };
  });
}

/** Checks signatures against whatever destination the header names, instead of refusing another one. */
export function ignoreDestination(fixture: Fixture): Promise<void> {
  return swapProfileAuth(fixture, (real) => async function (request: FastifyRequest, reply) {
    let destination: string | undefined;
    try {
      destination = parseXMatrixHeader(request.headers.authorization ?? '')?.destination;
    } catch {
      destination = undefined;
    }
    return real(destination ?? fixture.config.serverName).call(this, request, reply);
  });
}

/** Serves its key document without the signatures. */
export function serveUnsignedKeys(fixture: Fixture): void {
  frontListeners(fixture, (req, res) => {
    if (req.method !== 'GET' || !req.url?.startsWith('/_matrix/key/v2/server')) return false;
    const doc = JSON.parse(fixture.server.keyPublisher.current().body.toString('utf8')) as Record<string, unknown>;
    delete doc.signatures;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    return true;
  });
}

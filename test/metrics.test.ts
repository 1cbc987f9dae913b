// The `type: metrics` listener (127.92.x.y): scraped over HTTP and parsed as
// the Prometheus text format; requests by route and status (both the
// listener's own key document answers and Fastify's), outbound requests by
// result, key fetches, resolution cache hits, certificate expiry per name;
// and prom-client is not even loaded without a metrics listener.
import t from 'tap';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/commands/serve.js';
import { loadConfig } from '../src/config/load.js';
import { formatSigningKeys, generateSigningKey } from '../src/matrix/signing-key.js';
import { Tally, countResolution } from '../src/metrics/tally.js';
import { metricsRequestListener } from '../src/server/metrics-endpoint.js';
import { federationWorld } from './harness/federation.js';
import { captureLogger, startFixture, type Fixture } from './harness/server-fixture.js';

const world = await federationWorld('metrics');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

const fixtures: Fixture[] = [];
const running: RunningServer[] = [];
t.teardown(async () => {
  for (const s of running) await s.close(0);
  for (const f of fixtures) await f.close();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text exposition format (version 0.0.4): HELP and TYPE lines, then samples. */
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string>; help: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      (m[1] === 'HELP' ? help : types).set(m[2]!, m[3]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/i.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types, help };
}

const value = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);

function request(opts: { host: string; port: number; path: string; method?: string; tls?: boolean; body?: unknown }): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const data = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = (opts.tls ? https : http).request(
      { host: opts.host, port: opts.port, path: opts.path, method: opts.method ?? (data ? 'POST' : 'GET'), ca: pki.root.certPem, headers: data ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function configFile(dir: string, withMetrics: boolean, at = addr(2, 1)): Promise<string> {
  const leaf = await pki.leaf(['m.test', at]);
  writeFileSync(join(dir, 'tls.crt'), leaf.chainPem);
  writeFileSync(join(dir, 'tls.key'), leaf.keyPem);
  writeFileSync(join(dir, 'signing.key'), formatSigningKeys([generateSigningKey()]));
  const file = join(dir, 'hs.yaml');
  writeFileSync(
    file,
    `server_name: m.test
signing_key_path: signing.key
tls_certificate_path: tls.crt
tls_private_key_path: tls.key
federation_custom_ca_list: ['${world.caFile}']
federation_dns_servers: ['${dns.hostPort}']
ip_range_whitelist: ['127.92.0.0/17']
listeners:
  - {port: 8448, bind_addresses: ['${at}'], tls: true, type: http, resources: [{names: [federation, keys]}]}
${withMetrics ? `  - {port: 9100, bind_addresses: ['${at}'], type: metrics, tls: true}\n` : ''}`,
  );
  return file;
}

t.test('scraped and parsed: requests, outbound results, key fetches, resolution cache, certificate expiry', async (t) => {
  dns.set('remote.test', 'A', addr(1, 1));
  fixtures.push(await startFixture({ address: addr(1, 1), serverName: 'remote.test', certNames: ['remote.test'] }));
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-metrics-'));
  const server = await startServer(await loadConfig(await configFile(dir, true)), { logger: captureLogger('warn').logger, watchCertificates: false });
  running.push(server);
  const fed = { host: addr(2, 1), port: 8448, tls: true };
  for (let i = 0; i < 3; i++) t.equal((await request({ ...fed, path: '/_matrix/key/v2/server' })).status, 200);
  t.equal((await request({ ...fed, path: '/_matrix/federation/v1/version' })).status, 200);
  t.equal((await request({ ...fed, path: '/nope' })).status, 404);
  // The notary fetches remote.test's keys (directly), then fails for a name that does not resolve.
  t.equal((await request({ ...fed, path: '/_matrix/key/v2/query', body: { server_keys: { 'remote.test': {} } } })).status, 200);
  await request({ ...fed, path: '/_matrix/key/v2/query', body: { server_keys: { 'nowhere.test': {} } } });
  // Two more requests to remote.test: the second resolves from the cache.
  await server.peer.client.request('remote.test', 'GET', '/_matrix/federation/v1/version');
  await server.peer.client.request('remote.test', 'GET', '/_matrix/federation/v1/version');

  const scrape = await request({ host: addr(2, 1), port: 9100, path: '/metrics' });
  t.equal(scrape.status, 200, 'plain HTTP, as Synapse\'s metrics listener, whatever tls says');
  t.match(scrape.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const { samples, types, help } = parseExposition(scrape.body);
  t.equal(types.get('fedpeer_http_requests_total'), 'counter');
  t.match(help.get('fedpeer_http_requests_total'), /by route pattern/);
  t.equal(value(samples, 'fedpeer_http_requests_total', { route: '/_matrix/key/v2/server', status: '200' }), 3, 'the listener\'s own answers are counted');
  t.equal(value(samples, 'fedpeer_http_requests_total', { route: '/_matrix/federation/v1/version', status: '200' }), 1);
  t.equal(value(samples, 'fedpeer_http_requests_total', { route: 'none', status: '404' }), 1);
  t.equal(value(samples, 'fedpeer_http_requests_total', { route: '/_matrix/key/v2/query', status: '200' }), 2);
  t.equal(value(samples, 'fedpeer_key_fetches_total', { source: 'direct', result: 'success' }), 1);
  t.ok(value(samples, 'fedpeer_key_fetches_total', { source: 'direct', result: 'failure' }) >= 1);
  t.equal(value(samples, 'fedpeer_outbound_requests_total', { result: 'success', method: 'GET' }), 3);
  const failures = samples.filter((s) => s.name === 'fedpeer_outbound_requests_total' && s.labels.result !== 'success');
  t.ok(failures.length > 0 && failures.every((s) => /^[a-z-]+$/.test(s.labels.result!)), `failures by step: ${failures.map((s) => s.labels.result).join(', ')}`);
  t.ok(value(samples, 'fedpeer_resolution_steps_total', { step: 'well-known', cache: 'hit' }) >= 1, 'the well-known came from the cache the second time');
  t.ok(value(samples, 'fedpeer_resolution_steps_total', { step: 'well-known', cache: 'miss' }) >= 1);
  const notAfter = Math.floor(Date.parse(new X509Certificate(readFileSync(join(dir, 'tls.crt'))).validTo) / 1000);
  t.equal(value(samples, 'fedpeer_tls_certificate_expiry_timestamp_seconds', { name: 'm.test' }), notAfter);
  t.equal(value(samples, 'fedpeer_tls_certificate_expiry_timestamp_seconds', { name: addr(2, 1) }), notAfter);
  t.equal(value(samples, 'fedpeer_build_info', { server_name: 'm.test' }), 1);
  t.ok(samples.some((s) => s.name === 'process_cpu_user_seconds_total'), 'the process metrics prom-client collects');

  const synapsePath = await request({ host: addr(2, 1), port: 9100, path: '/_synapse/metrics' });
  t.equal(synapsePath.status, 200);
  t.ok(parseExposition(synapsePath.body).samples.length > 0);
  const head = await request({ host: addr(2, 1), port: 9100, path: '/metrics', method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body, '');
  const other = await request({ host: addr(2, 1), port: 9100, path: '/_matrix/key/v2/server' });
  t.equal(other.status, 404);
  t.match(JSON.parse(other.body), { errcode: 'M_UNRECOGNIZED' });
  const post = await request({ host: addr(2, 1), port: 9100, path: '/metrics', method: 'POST' });
  t.equal(post.status, 405);
});

t.test('a failing renderer is a 500 and a log line, and the listener keeps serving', async (t) => {
  const errors: unknown[] = [];
  let fail = true;
  const listener = metricsRequestListener({ contentType: 'text/plain', render: async () => (fail ? Promise.reject(new Error('boom')) : 'x 1\n') }, (e) => errors.push(e));
  const server = http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, addr(3, 1), r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const r = await request({ host: addr(3, 1), port, path: '/metrics' });
  t.equal(r.status, 500);
  t.match(JSON.parse(r.body), { errcode: 'M_UNKNOWN' });
  t.match(errors, [{ message: 'boom' }]);
  fail = false;
  t.equal((await request({ host: addr(3, 1), port, path: '/metrics?x=1' })).body, 'x 1\n');
});

t.test('tallies: counted by label; resolution steps that were skipped do not count', async (t) => {
  const tally = new Tally<string, number>();
  tally.add('a', 200);
  tally.add('a', 200, 2);
  tally.add('b', 404);
  t.same([...tally.entries()], [['a', 200, 3], ['b', 404, 1]]);
  const resolution = new Tally<string, 'hit' | 'miss'>();
  countResolution(resolution, [{ step: 'well-known', outcome: 'found', cached: true }, { step: 'srv', outcome: 'skipped' }, { step: 'address', outcome: 'found' }, 'junk']);
  countResolution(resolution, undefined);
  t.same([...resolution.entries()], [['well-known', 'hit', 1], ['address', 'miss', 1]]);
});

t.test('prom-client is loaded only when a metrics listener is configured', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-metrics-load-'));
  const log = join(dir, 'loaded.log');
  writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  appendFileSync(${JSON.stringify(log)}, specifier + '\\n');\n  return next(specifier, context);\n}\n`);
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
  const serve = async (withMetrics: boolean): Promise<string> => {
    writeFileSync(log, '');
    const cfgDir = mkdtempSync(join(tmpdir(), 'fedpeer-metrics-cfg-'));
    const cfg = await configFile(cfgDir, withMetrics, addr(4, 1));
    // Without tap's NODE_OPTIONS: only this process's own imports are logged.
    const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', join(dir, 'register.mjs'), CLI, 'serve', '--config', cfg, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d) => {
        stderr += d;
        if (/fedpeer: serving/.test(stderr)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${stderr}`)));
    });
    child.kill('SIGTERM');
    await once(child, 'exit');
    return readFileSync(log, 'utf8');
  };
  const without = await serve(false);
  t.match(without, /fastify/, 'the hook saw the server\'s imports');
  t.notMatch(without, /prom-client/);
  t.match(await serve(true), /prom-client/);
});

import t from 'tap';
import * as https from 'node:https';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { block } from './harness/addresses.js';
import { startFixture, captureLogger } from './harness/server-fixture.js';
import { pyVerify } from './harness/python-oracle.js';
import { requireTool } from './harness/tools.js';
import { verifyJsonSignature } from '../src/matrix/signing.js';
import { encodeBase64 } from '../src/matrix/base64.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { buildKeyDocument, createKeyPublisher } from '../src/server/key-document.js';
import { installErrorHandlers, addRoute } from '../src/server/matrix-errors.js';
import { MatrixError } from '../src/matrix/errors.js';
import { PACKAGE_VERSION } from '../src/version.js';

const addr = block('server');

function request(opts: { host: string; port: number; path: string; method?: string; ca: string; servername?: string; body?: string; headers?: Record<string, string> }) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = https.request(
      {
        host: opts.host,
        port: opts.port,
        path: opts.path,
        method: opts.method ?? 'GET',
        ca: opts.ca,
        servername: opts.servername,
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

t.test('the real server over HTTPS serves a key document python3-signedjson accepts', async (t) => {
  const address = addr(1, 1);
  const fx = await startFixture({
    address,
    serverName: 'fedpeer.test',
    certNames: ['fedpeer.test', address],
    raw: { old_signing_keys: { 'ed25519:old': { key: 'XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI', expired_ts: 1000 } }, pid_file: 'fedpeer.pid' },
  });
  t.teardown(() => fx.close());
  const ca = fx.pki.root.certPem;
  t.equal(readFileSync(join(fx.dir, 'fedpeer.pid'), 'utf8').trim(), String(process.pid), 'pid_file written');

  const before = Date.now();
  const res = await request({ host: address, port: 8448, path: '/_matrix/key/v2/server', ca, servername: 'fedpeer.test' });
  t.equal(res.status, 200);
  t.match(res.headers['content-type'], /^application\/json/);
  const doc = JSON.parse(res.body);
  t.equal(doc.server_name, 'fedpeer.test');
  t.same(doc.verify_keys, { [fx.key.keyId]: { key: fx.key.publicKeyBase64 } });
  t.same(doc.old_verify_keys, { 'ed25519:old': { key: 'XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI', expired_ts: 1000 } });
  t.ok(doc.valid_until_ts >= before + 86_400_000 - 60_000 && doc.valid_until_ts <= Date.now() + 86_400_000, 'valid for the default 1d');
  t.same(verifyJsonSignature(doc, 'fedpeer.test', fx.key.keyId, fx.key.publicKey), { ok: true });

  if (requireTool(t, 'python-oracle')) {
    t.same(pyVerify([doc], { keyId: fx.key.keyId, publicKey: fx.key.publicKeyBase64, serverName: 'fedpeer.test' }), [true], 'python3-signedjson verifies it');
  }

  // The deprecated forms return the same bytes, including Synapse 1.67's %3A form.
  for (const path of ['/_matrix/key/v2/server/', `/_matrix/key/v2/server/${encodeURIComponent(fx.key.keyId)}`, `/_matrix/key/v2/server/${fx.key.keyId}`, '/_matrix/key/v2/server?x=1']) {
    const r = await request({ host: address, port: 8448, path, ca, servername: 'fedpeer.test' });
    t.equal(r.body, res.body, path);
  }
  // Also reachable by IP (no SNI) since the certificate carries the address.
  const byIp = await request({ host: address, port: 8448, path: '/_matrix/federation/v1/version', ca });
  t.same(JSON.parse(byIp.body), { server: { name: 'fedpeer', version: PACKAGE_VERSION } });

  const head = await request({ host: address, port: 8448, path: '/_matrix/key/v2/server', method: 'HEAD', ca, servername: 'fedpeer.test' });
  t.equal(head.status, 200);

  const notFound = await request({ host: address, port: 8448, path: '/_matrix/nothing', ca, servername: 'fedpeer.test' });
  t.equal(notFound.status, 404);
  t.same(JSON.parse(notFound.body), { errcode: 'M_UNRECOGNIZED', error: 'Unrecognized request' });
  t.match(notFound.headers['content-type'], /^application\/json/);
  for (const [method, path] of [['POST', '/_matrix/key/v2/server'], ['DELETE', '/_matrix/federation/v1/version'], ['PUT', `/_matrix/key/v2/server/${fx.key.keyId}`]] as const) {
    const r = await request({ host: address, port: 8448, path, method, ca, servername: 'fedpeer.test' });
    t.equal(r.status, 405, `${method} ${path}`);
    t.equal(JSON.parse(r.body).errcode, 'M_UNRECOGNIZED');
  }

  const logs = fx.logLines().filter((l) => l.msg === 'request');
  t.ok(logs.length >= 8, 'one log line per request');
  const first = logs[0]!;
  t.match(first, { method: 'GET', route: '/_matrix/key/v2/server', status: 200 });
  t.type(first.ms, 'number');
  t.ok(first.reqId, 'request id logged');
  const allLogs = JSON.stringify(fx.logLines());
  t.notOk(allLogs.includes(encodeBase64(fx.key.seed)), 'the seed is never logged');

  await fx.close();
  t.notOk(existsSync(join(fx.dir, 'fedpeer.pid')), 'pid_file removed on shutdown');
});

t.test('the key document is signed once and rebuilt when half its life is gone', async (t) => {
  let now = 1_000_000;
  const key = generateSigningKey('a');
  const key2 = generateSigningKey('b');
  const publisher = createKeyPublisher({ serverName: 's', signingKeys: [key, key2], oldVerifyKeys: {}, refreshIntervalMs: 1000, now: () => now });
  const first = publisher.current();
  t.equal(first.validUntilTs, 1_001_000);
  now += 499;
  t.equal(publisher.current(), first, 'same document, no signing work');
  now += 1;
  const second = publisher.current();
  t.not(second, first, 'rebuilt at half-life');
  t.equal(second.validUntilTs, 1_001_500);
  const doc = JSON.parse(second.body.toString());
  t.same(Object.keys(doc.signatures.s).sort(), ['ed25519:a', 'ed25519:b'], 'signed by every current key');
  t.same(verifyJsonSignature(doc, 's', 'ed25519:b', key2.publicKey), { ok: true });
  publisher.setSigningKeys([key2]);
  t.same(Object.keys(JSON.parse(publisher.current().body.toString()).verify_keys), ['ed25519:b']);
  t.equal(buildKeyDocument({ serverName: 's', signingKeys: [key], oldVerifyKeys: {}, refreshIntervalMs: 5, now: () => 0 }).validUntilTs, 5);
});

t.test('errors are Matrix JSON: thrown MatrixError, unexpected failure, bad JSON, too large', async (t) => {
  const log = captureLogger();
  const app = Fastify({ bodyLimit: 100 });
  installErrorHandlers(app, log.logger);
  addRoute(app, '/boom', { GET: () => { throw new Error('secret detail'); } });
  addRoute(app, '/matrix', { GET: () => { throw new MatrixError(403, 'M_FORBIDDEN', 'no'); } });
  addRoute(app, '/echo', { POST: (req) => req.body });
  addRoute(app, '/teapot', { GET: () => { throw Object.assign(new Error('short'), { statusCode: 418 }); } });
  await app.ready();
  t.teardown(() => app.close());
  const boom = await app.inject({ method: 'GET', url: '/boom' });
  t.equal(boom.statusCode, 500);
  t.same(boom.json(), { errcode: 'M_UNKNOWN', error: 'Internal server error' });
  t.match(log.raw(), /secret detail/, 'the cause is logged, not sent');
  t.same((await app.inject({ method: 'GET', url: '/matrix' })).json(), { errcode: 'M_FORBIDDEN', error: 'no' });
  const bad = await app.inject({ method: 'POST', url: '/echo', payload: '{nope', headers: { 'content-type': 'application/json' } });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().errcode, 'M_NOT_JSON');
  const big = await app.inject({ method: 'POST', url: '/echo', payload: JSON.stringify({ x: 'y'.repeat(200) }), headers: { 'content-type': 'application/json' } });
  t.equal(big.statusCode, 413);
  t.equal(big.json().errcode, 'M_TOO_LARGE');
  const media = await app.inject({ method: 'POST', url: '/echo', payload: 'x', headers: { 'content-type': 'application/x-unknown' } });
  t.equal(media.statusCode, 415);
  t.equal((await app.inject({ method: 'GET', url: '/teapot' })).statusCode, 418);
  t.equal((await app.inject({ method: 'GET', url: '/echo' })).statusCode, 405);
});

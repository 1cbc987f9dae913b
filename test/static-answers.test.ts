// The key document answered by the listener itself: the same answer as the
// Fastify route, the same access line, and everything else left to Fastify.
import t from 'tap';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { block } from './harness/addresses.js';
import { startFixture, captureLogger } from './harness/server-fixture.js';
import { createStaticAnswers, requestIdGenerator, type StaticDocument } from '../src/server/static-answers.js';
import { buildApp, requestListener } from '../src/server/app.js';
import { defaultConfig } from '../src/config/load.js';
import { createKeyPublisher } from '../src/server/key-document.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { encodeBase64 } from '../src/matrix/base64.js';

const addr = block('static-answers');

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function fetchOnce(opts: { url: string; method?: string; body?: string; ca?: string; servername?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(opts.url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(u, { method: opts.method ?? 'GET', agent: false, ...(opts.body !== undefined ? { headers: { 'content-length': Buffer.byteLength(opts.body) } } : {}), ...(opts.ca ? { ca: opts.ca, servername: opts.servername } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function listen(listener: http.RequestListener, host: string): Promise<{ server: http.Server; base: string }> {
  const server = http.createServer(listener);
  return new Promise((resolve) => server.listen(0, host, () => resolve({ server, base: `http://${host}:${(server.address() as AddressInfo).port}` })));
}

t.test('answers only plain GETs of its paths, with current bytes, and logs each', async (t) => {
  const log = captureLogger();
  let body = Buffer.from('{"v":1}');
  const documents = new Map<string, StaticDocument>([['/doc', { route: '/doc', contentType: 'application/json', body: () => body }]]);
  const answers = createStaticAnswers({ documents, accessLog: log.accessLog, nextRequestId: requestIdGenerator() });
  let handedOn = 0;
  const { server, base } = await listen((req, res) => {
    if (answers.answer(req, res)) return;
    handedOn++;
    res.writeHead(418).end('handed on');
  }, addr(1, 1));
  t.teardown(() => server.close());

  const first = await fetchOnce({ url: `${base}/doc` });
  t.equal(first.status, 200);
  t.equal(first.body, '{"v":1}');
  t.equal(first.headers['content-type'], 'application/json');
  t.equal(first.headers['content-length'], '7');

  const others: Array<[string, string, string?]> = [
    ['GET', '/doc?x=1'],
    ['GET', '/doc/'],
    ['GET', '/other'],
    ['HEAD', '/doc'],
    ['POST', '/doc', '{}'],
    ['GET', '/doc', '{"a body":"on a GET"}'],
  ];
  for (const [method, path, reqBody] of others) {
    const r = await fetchOnce({ url: `${base}${path}`, method, ...(reqBody ? { body: reqBody } : {}) });
    t.equal(r.status, 418, `${method} ${path}${reqBody ? ' with a body' : ''} is handed on`);
  }
  t.equal(handedOn, others.length);

  body = Buffer.from('{"v":22}');
  const changed = await fetchOnce({ url: `${base}/doc` });
  t.equal(changed.body, '{"v":22}', 'the current document is served');
  t.equal(changed.headers['content-length'], '8', 'with its own length');

  const lines = log.lines().filter((l) => l.msg === 'request');
  t.match(lines, [
    { reqId: 'req-1', method: 'GET', route: '/doc', status: 200 },
    { reqId: 'req-2', method: 'GET', route: '/doc', status: 200 },
  ]);
  t.type(lines[0]!.ms, 'number');

  answers.close();
  t.equal((await fetchOnce({ url: `${base}/doc` })).status, 418, 'after close() everything is handed on');
});

t.test('request ids have Fastify\'s form and stay small integers', async (t) => {
  const next = requestIdGenerator();
  t.same([next(), next(), next()], ['req-1', 'req-2', 'req-3']);
});

t.test('over HTTPS the listener\'s answer is the Fastify route\'s answer, byte for byte', async (t) => {
  const address = addr(2, 1);
  const fx = await startFixture({ address, serverName: 'static.test', certNames: ['static.test', address] });
  t.teardown(() => fx.close());
  const ca = fx.pki.root.certPem;
  const url = (path: string) => `https://${address}:8448${path}`;
  const get = (path: string) => fetchOnce({ url: url(path), ca, servername: 'static.test' });
  const withoutDate = (h: http.IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'date'));

  // Answered by the listener: the two fixed paths. By Fastify: the keyId form and a query string.
  const listenerAnswer = await get('/_matrix/key/v2/server');
  const fastifyAnswer = await get(`/_matrix/key/v2/server/${encodeURIComponent(fx.key.keyId)}`);
  t.equal(listenerAnswer.status, 200);
  t.equal(listenerAnswer.body, fastifyAnswer.body, 'same bytes');
  t.same(withoutDate(listenerAnswer.headers), withoutDate(fastifyAnswer.headers), 'same headers');
  for (const path of ['/_matrix/key/v2/server/', '/_matrix/key/v2/server?x=1']) {
    const r = await get(path);
    t.equal(r.body, listenerAnswer.body, path);
    t.same(withoutDate(r.headers), withoutDate(listenerAnswer.headers), `${path} headers`);
  }

  // A new signing key shows at once, with the right length.
  const rotated = generateSigningKey();
  fx.server.keyPublisher.setSigningKeys([rotated]);
  const after = await get('/_matrix/key/v2/server');
  t.same(Object.keys(JSON.parse(after.body).verify_keys), [rotated.keyId]);
  t.equal(after.headers['content-length'], String(Buffer.byteLength(after.body)));

  const lines = fx.logLines().filter((l) => l.msg === 'request');
  t.same(
    lines.map((l) => l.route),
    ['/_matrix/key/v2/server', '/_matrix/key/v2/server/:keyId', '/_matrix/key/v2/server/', '/_matrix/key/v2/server', '/_matrix/key/v2/server'],
    'each answer logged with its route',
  );
  t.equal(new Set(lines.map((l) => l.reqId)).size, lines.length, 'request ids unique across both paths');
  t.notOk(JSON.stringify(fx.logLines()).includes(encodeBase64(rotated.seed)), 'no seed in the log');
});

t.test('once the app closes, Fastify answers (503) instead of the listener', async (t) => {
  const config = defaultConfig({ baseDir: '/tmp', raw: { server_name: 'closing.test' } });
  const keyPublisher = createKeyPublisher({ serverName: 'closing.test', signingKeys: [generateSigningKey()], oldVerifyKeys: {}, refreshIntervalMs: 86_400_000, now: Date.now });
  const log = captureLogger();
  const app = await buildApp(config, { keyPublisher, logger: log.logger, accessLog: log.accessLog });
  const { server, base } = await listen(requestListener(app), addr(3, 1));
  t.teardown(() => server.close());
  t.equal((await fetchOnce({ url: `${base}/_matrix/key/v2/server` })).status, 200);
  await app.close();
  const r = await fetchOnce({ url: `${base}/_matrix/key/v2/server` });
  t.equal(r.status, 503, 'Fastify\'s answer while closing');
});

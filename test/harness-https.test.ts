import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { makeTestPki } from './harness/test-ca.js';
import { startHttpServer, startHttpsServer, type TestServer } from './harness/https-server.js';
import { BLOCKS, block } from './harness/addresses.js';

// Harness self-tests share 127.2; harness-https.test.ts owns 127.2.2.x (see addresses.ts).
const addr = (d: number): string => block('harness')(2, d);

interface Reply {
  status: number;
  body: string;
  /** Names in the certificate the server presented. */
  certNames: string;
  authorized: boolean;
}

/** One HTTPS GET to an IP address, with an optional SNI name and trusted CA. */
function get(
  server: TestServer,
  path: string,
  opts: { servername?: string; ca?: string; agent?: Agent; check?: boolean } = {},
): Promise<Reply> {
  return new Promise((done, fail) => {
    const req = httpsRequest(
      {
        host: server.address,
        port: server.port,
        path,
        servername: opts.servername,
        headers: opts.servername ? { host: opts.servername } : {},
        ca: opts.ca,
        agent: opts.agent ?? false,
        // check: false looks at whatever certificate came back, trusted or not.
        rejectUnauthorized: opts.check ?? true,
        ...(opts.check === false ? { checkServerIdentity: () => undefined } : {}),
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const certNames = socket.getPeerCertificate().subjectaltname ?? '';
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => done({ status: res.statusCode ?? 0, body, certNames, authorized: socket.authorized }));
      },
    );
    req.on('error', fail);
    req.end();
  });
}

const pki = await makeTestPki();
const ca = pki.root.certPem;

t.test('certificate chosen by SNI: exact, wildcard, then the first', async (t) => {
  const [a, wild, other] = await Promise.all([
    pki.leaf(['a.example.test']),
    pki.leaf(['*.wild.example.test']),
    pki.leaf(['other.example.test', addr(1)]),
  ]);
  const server = await startHttpsServer({
    address: addr(1),
    port: 8448,
    certificates: [
      { names: ['other.example.test'], ...other },
      { names: ['A.example.test'], ...a },
      { names: ['*.wild.example.test'], ...wild },
    ],
  });
  t.teardown(() => server.close());
  t.equal(server.port, 8448);
  t.equal(server.url('/x'), `https://${addr(1)}:8448/x`);

  const exact = await get(server, '/exact', { servername: 'a.example.test', ca });
  t.equal(exact.certNames, 'DNS:a.example.test');
  t.ok(exact.authorized);
  t.same(JSON.parse(exact.body), { method: 'GET', path: '/exact', host: 'a.example.test', sni: 'a.example.test' }, 'default handler echoes');

  const viaWildcard = await get(server, '/wild', { servername: 'm.wild.example.test', ca });
  t.equal(viaWildcard.certNames, 'DNS:*.wild.example.test');

  // a.b.wild... is not covered by *.wild..., so the default (first) certificate comes back
  // and a normal client refuses it for the name.
  await t.rejects(get(server, '/', { servername: 'x.m.wild.example.test', ca }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  const fallback = await get(server, '/fallback', { servername: 'unknown.example.test', ca, check: false });
  t.equal(fallback.certNames, `DNS:other.example.test, IP Address:${addr(1)}`);

  // No SNI at all (connecting to a bare IP): the default certificate, valid for the IP.
  const noSni = await get(server, '/nosni', { ca });
  t.ok(noSni.authorized);
  t.equal(noSni.certNames, `DNS:other.example.test, IP Address:${addr(1)}`);

  t.same(
    server.requests.map((r) => [r.path, r.sni, r.host, r.method]),
    [
      ['/exact', 'a.example.test', 'a.example.test', 'GET'],
      ['/wild', 'm.wild.example.test', 'm.wild.example.test', 'GET'],
      ['/fallback', 'unknown.example.test', 'unknown.example.test', 'GET'],
      ['/nosni', undefined, `${addr(1)}:8448`, 'GET'],
    ],
  );
  t.same(
    server.sniSeen,
    ['a.example.test', 'm.wild.example.test', 'x.m.wild.example.test', 'unknown.example.test'],
    'SNI recorded for the refused handshake too',
  );
});

t.test('one certificate for everything, on port 443, with a custom handler', async (t) => {
  const leaf = await pki.leaf(['single.example.test']);
  const server = await startHttpsServer({
    address: addr(2),
    port: 443,
    certificates: leaf,
    handler: (req, res) => {
      res.writeHead(201, { 'content-type': 'text/plain' });
      res.end(`hello ${req.url}`);
    },
  });
  t.teardown(() => server.close());
  const reply = await get(server, '/hi', { servername: 'single.example.test', ca });
  t.equal(reply.status, 201);
  t.equal(reply.body, 'hello /hi');
  const any = await get(server, '/', { servername: 'whatever.example.test', ca, check: false });
  t.equal(any.certNames, 'DNS:single.example.test');
  t.same(server.sniSeen, ['single.example.test', 'whatever.example.test']);
});

t.test('negative certificates are refused by a normal TLS client', async (t) => {
  const name = 'neg.example.test';
  const cases = [
    { opts: { expired: true }, code: 'CERT_HAS_EXPIRED' },
    { opts: { notYetValid: true }, code: 'CERT_NOT_YET_VALID' },
    { opts: { untrusted: true }, code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    { opts: { untrusted: true, viaIntermediate: true }, code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' },
  ] as const;
  let d = 10;
  for (const { opts, code } of cases) {
    const leaf = await pki.leaf([name], opts);
    const server = await startHttpsServer({
      address: addr(d++),
      certificates: [{ names: [name], certPem: leaf.chainPem, keyPem: leaf.keyPem }],
    });
    t.teardown(() => server.close());
    await t.rejects(get(server, '/', { servername: name, ca }), { code }, JSON.stringify(opts));
    t.equal(server.requests.length, 0, 'no request got through');
    t.same(server.sniSeen, [name]);
  }
  const wrongName = await pki.leaf(['right.example.test']);
  const server = await startHttpsServer({ address: addr(d++), certificates: wrongName });
  t.teardown(() => server.close());
  await t.rejects(get(server, '/', { servername: 'wrong.example.test', ca }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
});

t.test('chains through an intermediate', async (t) => {
  const leaf = await pki.leaf(['chain.example.test'], { viaIntermediate: true });
  t.equal(leaf.chainPem, leaf.certPem + pki.intermediate.certPem);
  const full = await startHttpsServer({ address: addr(20), certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem } });
  const bare = await startHttpsServer({ address: addr(21), certificates: { certPem: leaf.certPem, keyPem: leaf.keyPem } });
  t.teardown(() => Promise.all([full.close(), bare.close()]));
  t.ok((await get(full, '/', { servername: 'chain.example.test', ca })).authorized, 'leaf + intermediate verifies');
  await t.rejects(
    get(bare, '/', { servername: 'chain.example.test', ca }),
    { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
    'leaf alone does not: the client cannot find the intermediate',
  );
});

t.test('test PKI is cached and shaped as promised', async (t) => {
  t.equal(await makeTestPki(), pki, 'one PKI per process');
  t.equal(await pki.leaf(['c.example.test']), await pki.leaf(['c.example.test']), 'leaves cached');
  t.not((await pki.leaf(['c.example.test'])).certPem, (await pki.leaf(['c.example.test'], { expired: true })).certPem);
  const root = new X509Certificate(pki.root.certPem);
  const untrusted = new X509Certificate(pki.untrustedRoot.certPem);
  t.ok(root.ca && untrusted.ca);
  t.not(root.fingerprint256, untrusted.fingerprint256);
  const leaf = new X509Certificate((await pki.leaf(['c.example.test'], { untrusted: true })).certPem);
  t.ok(leaf.verify(untrusted.publicKey));
  t.notOk(leaf.verify(root.publicKey));
  t.throws(() => pki.leaf([]), /at least one name/);
  t.throws(() => pki.leaf(['x.test'], { expired: true, notYetValid: true }), /exclude each other/);
});

t.test('close() ends keep-alive connections promptly', async (t) => {
  const leaf = await pki.leaf(['ka.example.test']);
  const server = await startHttpsServer({ address: addr(30), certificates: leaf });
  const agent = new Agent({ keepAlive: true, keepAliveMsecs: 60_000 });
  t.teardown(() => agent.destroy());
  await get(server, '/1', { servername: 'ka.example.test', ca, agent });
  await get(server, '/2', { servername: 'ka.example.test', ca, agent });
  // And a client that connected but never started its TLS handshake.
  const silent = connect({ host: server.address, port: server.port });
  t.teardown(() => silent.destroy());
  await new Promise((done) => silent.once('connect', done));
  const started = Date.now();
  await server.close();
  const took = Date.now() - started;
  t.ok(took < 1000, `closed in ${took}ms with idle keep-alive and pre-handshake sockets open`);
});

t.test('plain HTTP server with the same shape', async (t) => {
  const server = await startHttpServer({
    address: addr(40),
    handler: async (req, res) => {
      if (req.url === '/boom') throw new Error('handler bug');
      res.end('plain');
    },
  });
  t.teardown(() => server.close());
  t.equal(server.url('/a'), `http://${addr(40)}:${server.port}/a`);
  const fetchText = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((done, fail) => {
      const req = httpRequest({ host: server.address, port: server.port, path, headers: { host: 'plain.example.test' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', fail);
      req.end();
    });
  t.same(await fetchText('/ok'), { status: 200, body: 'plain' });
  const boom = await fetchText('/boom');
  t.equal(boom.status, 500);
  t.match(boom.body, /handler bug/);
  t.same(server.requests, [
    { host: 'plain.example.test', sni: undefined, path: '/ok', method: 'GET' },
    { host: 'plain.example.test', sni: undefined, path: '/boom', method: 'GET' },
  ]);
  await t.rejects(startHttpServer({ address: addr(40), port: server.port }), { code: 'EADDRINUSE' });
});

t.test('address blocks', async (t) => {
  const octets = Object.values(BLOCKS);
  t.equal(new Set(octets).size, octets.length, 'no two areas share a block');
  t.ok(octets.every((b) => b >= 2 && b <= 255));
  t.equal(block('resolver')(1, 2), '127.20.1.2');
  t.equal(block('bench')(0, 255), '127.70.0.255');
  t.throws(() => block('tls')(256, 1), /c=256 is not an octet/);
  t.throws(() => block('tls')(1, 1.5), /d=1.5 is not an octet/);
  t.throws(() => block('nope' as never), /unknown test area "nope"/);
});

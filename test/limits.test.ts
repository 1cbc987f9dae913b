// Inbound limits and hostile input against a real fedpeer over TLS:
// malformed bodies of every kind get Matrix JSON errors, and the server goes
// on answering.
import t from 'tap';
import * as https from 'node:https';
import { block } from './harness/addresses.js';
import { startFixture } from './harness/server-fixture.js';
import { jsonDepth, parseJsonBody, MAX_DEPTH } from '../src/server/json-body.js';

const addr = block('limits');
const address = addr(1, 1);
const fx = await startFixture({ address, serverName: 'limits.test', certNames: [address], raw: { limits: { body_limit: '64K' } } });
t.teardown(() => fx.close());

function send(opts: { method?: string; path: string; body?: Buffer | string; headers?: Record<string, string> }) {
  return new Promise<{ status: number; body: string; type: string }>((resolve, reject) => {
    const req = https.request(
      { host: address, port: 8448, method: opts.method ?? 'POST', path: opts.path, ca: fx.pki.root.certPem, agent: false, headers: opts.headers },
      (res) => {
        let b = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (b += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b, type: String(res.headers['content-type']) }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const query = '/_matrix/key/v2/query';

t.test('malformed bodies are Matrix JSON errors', async (t) => {
  const deep = '['.repeat(20_000) + ']'.repeat(20_000);
  const cases: Array<[string, Buffer | string, Record<string, string>, number, string, RegExp]> = [
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), { 'content-type': 'application/json' }, 400, 'M_NOT_JSON', /invalid UTF-8/],
    ['syntax error', '{"server_keys": ', { 'content-type': 'application/json' }, 400, 'M_NOT_JSON', /Content not JSON/],
    ['wrong content type, not JSON', 'hello', { 'content-type': 'text/plain' }, 400, 'M_NOT_JSON', /Content not JSON/],
    ['nesting bomb', deep, { 'content-type': 'application/json' }, 400, 'M_NOT_JSON', /nested deeper than 256/],
    ['huge number', '{"server_keys": {"x.test": {"k": {"minimum_valid_until_ts": 1e400}}}}', { 'content-type': 'application/json' }, 400, 'M_BAD_JSON', /must be an integer/],
    ['over the body limit', JSON.stringify({ pad: 'x'.repeat(70_000) }), { 'content-type': 'application/json' }, 413, 'M_TOO_LARGE', /./],
    ['not an object', '[1,2]', { 'content-type': 'application/json' }, 400, 'M_BAD_JSON', /JSON object/],
  ];
  for (const [name, body, headers, status, errcode, reason] of cases) {
    const r = await send({ path: query, body, headers });
    t.equal(r.status, status, name);
    t.match(r.type, /^application\/json/, `${name}: JSON, never HTML`);
    t.match(JSON.parse(r.body), { errcode, error: reason }, name);
  }
  // JSON under a wrong Content-Type is still read, as Synapse does.
  const ok = await send({ path: query, body: '{"server_keys": {}}', headers: { 'content-type': 'text/plain' } });
  t.equal(ok.status, 200);
  // Duplicate keys: the last wins (as in Python's json), no crash.
  const dup = await send({ path: query, body: '{"server_keys": 1, "server_keys": {}}', headers: { 'content-type': 'application/json' } });
  t.equal(dup.status, 200);
  // Overlong and invalid server names are left out, never fetched.
  const long = await send({ path: query, body: JSON.stringify({ server_keys: { ['a'.repeat(5000)]: {}, 'bad name': {} } }), headers: { 'content-type': 'application/json' } });
  t.same(JSON.parse(long.body), { server_keys: [] });
  const longGet = await send({ method: 'GET', path: `/_matrix/key/v2/query/${'b'.repeat(300)}` });
  t.same(JSON.parse(longGet.body), { server_keys: [] }, 'an overlong (invalid) name is left out');
  const tooLong = await send({ method: 'GET', path: `/_matrix/key/v2/query/${'b'.repeat(3000)}` });
  t.equal(tooLong.status, 414);
  t.match(JSON.parse(tooLong.body), { errcode: 'M_TOO_LARGE' });
  const badUrl = await send({ method: 'GET', path: '/_matrix/key/v2/query/%E0%A4%A' });
  t.equal(badUrl.status, 400);
  t.match(JSON.parse(badUrl.body), { errcode: 'M_UNRECOGNIZED' });
  const traversal = await send({ method: 'GET', path: '/_matrix/key/v2/server/..%2F..%2Fetc%2Fpasswd' });
  t.equal(traversal.status, 200, 'a key id path segment is only a label');
  const still = await send({ method: 'GET', path: '/_matrix/federation/v1/version' });
  t.equal(still.status, 200, 'the server keeps answering');
});

t.test('the body parser on its own', async (t) => {
  t.equal(parseJsonBody(Buffer.alloc(0)), undefined);
  t.same(parseJsonBody(Buffer.from('{"a":"[[[["}')), { a: '[[[[' }, 'brackets inside strings do not count');
  t.equal(jsonDepth('[[["\\"["]]]'), 3);
  t.equal(jsonDepth('[]'.repeat(1000)), 1);
  t.ok(jsonDepth('['.repeat(MAX_DEPTH + 10), MAX_DEPTH) > MAX_DEPTH);
  t.same(parseJsonBody(Buffer.from('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH))) !== undefined, true, 'exactly the limit is fine');
});

t.test('a client that drips its headers is cut off; connections are capped per listener', async (t) => {
  const { startFixture: start } = await import('./harness/server-fixture.js');
  const tls = await import('node:tls');
  const address2 = addr(2, 1);
  const slow = await start({
    address: address2,
    serverName: 'slow.test',
    certNames: [address2],
    raw: { limits: { headers_timeout: '1s', request_timeout: '2s', max_connections: 5 } },
  });
  t.teardown(() => slow.close());
  const connect = () =>
    new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: address2, port: 8448, ca: slow.pki.root.certPem }, () => resolve(s));
      s.on('error', reject);
    });
  // Slowloris: one header byte every 200 ms, for at most 6 s.
  const s = await connect();
  const started = Date.now();
  s.write('GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: x\r\n');
  let closedAt = 0;
  s.on('close', () => (closedAt = Date.now()));
  s.on('error', () => undefined);
  for (let i = 0; i < 30 && !closedAt; i++) {
    s.write('X');
    await new Promise((r) => setTimeout(r, 200));
  }
  t.ok(closedAt > 0, 'the dripping connection was closed');
  t.ok(closedAt - started < 3000, `cut off after ${closedAt - started} ms (headers_timeout 1 s)`);

  // max_connections: the sixth concurrent connection is refused while five are open.
  const open = [];
  for (let i = 0; i < 5; i++) open.push(await connect());
  const sixth = await new Promise<string>((resolve) => {
    const x = tls.connect({ host: address2, port: 8448, ca: slow.pki.root.certPem }, () => resolve('connected'));
    x.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    x.on('close', () => resolve('closed'));
  });
  t.not(sixth, 'connected', `the sixth connection is not served (${sixth})`);
  for (const o of open) o.destroy();
});

t.test('connection_timeout closes connections with no traffic, from the handshake on', async (t) => {
  const { startFixture: start } = await import('./harness/server-fixture.js');
  const tls = await import('node:tls');
  const net = await import('node:net');
  const address3 = addr(3, 1);
  // The other timeouts long, so only connection_timeout can close these.
  const quiet = await start({
    address: address3,
    serverName: 'quiet.test',
    certNames: [address3],
    raw: { limits: { connection_timeout: '1s', headers_timeout: '30s', request_timeout: '30s', keep_alive_timeout: '30s' } },
  });
  t.teardown(() => quiet.close());
  const closedAfter = (socket: import('node:net').Socket, started: number) =>
    new Promise<number>((resolve) => {
      const give = setTimeout(() => {
        socket.destroy();
        resolve(-1);
      }, 8000);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(give);
        resolve(Date.now() - started);
      });
    });
  const tlsConnect = () =>
    new Promise<import('node:tls').TLSSocket>((resolve, reject) => {
      const s = tls.connect({ host: address3, port: 8448, ca: quiet.pki.root.certPem }, () => resolve(s));
      s.on('error', reject);
    });

  // 1. A TCP connection that never starts the TLS handshake.
  const raw = net.connect({ host: address3, port: 8448 });
  await new Promise((r) => raw.once('connect', r));
  const rawClosed = await closedAfter(raw, Date.now());
  t.ok(rawClosed > 500 && rawClosed < 3000, `no handshake: closed after ${rawClosed} ms`);

  // 2. A TLS connection that never sends a request.
  const silent = await tlsConnect();
  const silentClosed = await closedAfter(silent, Date.now());
  t.ok(silentClosed > 500 && silentClosed < 3000, `no request: closed after ${silentClosed} ms`);

  // 3. A keep-alive connection: traffic every 400 ms keeps it open, quiet closes it.
  const busy = await tlsConnect();
  let closedAt = 0;
  busy.on('close', () => (closedAt = Date.now()));
  busy.on('error', () => undefined);
  let answers = 0;
  let lastAnswer = 0;
  busy.on('data', (d: Buffer) => {
    answers += (d.toString().match(/HTTP\/1.1 200/g) ?? []).length;
    lastAnswer = Date.now();
  });
  for (let i = 0; i < 5; i++) {
    busy.write(`GET /_matrix/federation/v1/version HTTP/1.1\r\nHost: quiet.test\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 400));
  }
  t.equal(answers, 5, 'a connection with traffic every 400 ms stays open for 2 s');
  t.equal(closedAt, 0);
  for (let i = 0; i < 80 && !closedAt; i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(closedAt - lastAnswer > 900 && closedAt - lastAnswer < 3000, `closed ${closedAt - lastAnswer} ms after its last answer`);
});

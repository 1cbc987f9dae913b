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

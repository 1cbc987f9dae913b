// /.well-known/matrix/{server,client,support} and well_known_dir, over real
// HTTPS. Block 127.12.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { block } from './harness/addresses.js';
import { startFixture } from './harness/server-fixture.js';
import { httpsGet } from './harness/tls-probe.js';
import { defaultConfig } from '../src/config/load.js';
import { clientWellKnown, serverWellKnown, supportWellKnown, CORS_HEADERS } from '../src/server/routes/well-known.js';

const addr = block('wellknown');
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
  'access-control-allow-headers': 'X-Requested-With, Content-Type, Authorization',
};

t.test('m.server is derived as Synapse derives it, or taken from well_known_server', async (t) => {
  const cfg = (raw: Record<string, unknown>) => defaultConfig({ baseDir: '/tmp', raw });
  t.same(CORS_HEADERS, CORS, 'the spec\'s CORS headers');
  t.same(serverWellKnown(cfg({ server_name: 'example.test', serve_server_wellknown: true })), { 'm.server': 'example.test:443' }, 'no port: 443');
  t.same(serverWellKnown(cfg({ server_name: 'example.test:8448', serve_server_wellknown: true })), { 'm.server': 'example.test:8448' }, 'port kept');
  t.same(serverWellKnown(cfg({ server_name: '[2001:db8::1]', serve_server_wellknown: true })), { 'm.server': '[2001:db8::1]:443' }, 'IPv6 in brackets');
  t.same(serverWellKnown(cfg({ server_name: 'example.test', well_known_server: 'hs.example.test:443' })), { 'm.server': 'hs.example.test:443' }, 'explicit delegation');
  t.same(serverWellKnown(cfg({ server_name: 'example.test', serve_server_wellknown: true, well_known_server: 'hs.example.test' })), { 'm.server': 'hs.example.test' }, 'explicit wins, as written');
  t.equal(serverWellKnown(cfg({ server_name: 'example.test' })), undefined, 'off by default');
  t.equal(clientWellKnown(cfg({ server_name: 'example.test' })), undefined, 'no public_baseurl: no client file');
  t.equal(supportWellKnown(cfg({ server_name: 'example.test' })), undefined);
  t.same(supportWellKnown(cfg({ server_name: 'example.test', well_known_support: { support_page: 'https://example.test/help' } })), { contacts: [], support_page: 'https://example.test/help' });
});

t.test('the three files over HTTPS: JSON, CORS, Cache-Control, OPTIONS', async (t) => {
  const address = addr(1, 1);
  const fx = await startFixture({
    address,
    serverName: 'example.test',
    certNames: ['example.test'],
    port: 443,
    raw: {
      serve_server_wellknown: true,
      public_baseurl: 'https://hs.example.test',
      extra_well_known_client_content: { 'org.example.custom': { setting: 1 }, 'io.element.e2ee': { default: false } },
      well_known_support: {
        contacts: [
          { matrix_id: '@admin:example.test', role: 'm.role.admin' },
          { email_address: 'security@example.test', role: 'm.role.security' },
        ],
        support_page: 'https://example.test/support',
      },
      well_known_cache_max_age: '30m',
    },
  });
  t.teardown(() => fx.close());
  const ca = fx.pki.root.certPem;
  const get = (path: string, method = 'GET') => httpsGet({ host: address, port: 443, path, ca, servername: 'example.test', method });

  const expected: Record<string, unknown> = {
    server: { 'm.server': 'example.test:443' },
    client: { 'm.homeserver': { base_url: 'https://hs.example.test/' }, 'org.example.custom': { setting: 1 }, 'io.element.e2ee': { default: false } },
    support: {
      contacts: [
        { matrix_id: '@admin:example.test', role: 'm.role.admin' },
        { email_address: 'security@example.test', role: 'm.role.security' },
      ],
      support_page: 'https://example.test/support',
    },
  };
  for (const [name, body] of Object.entries(expected)) {
    const res = await get(`/.well-known/matrix/${name}`);
    t.equal(res.status, 200, name);
    t.same(JSON.parse(res.body), body, `${name} body`);
    t.match(res.headers['content-type'], /^application\/json/, `${name} content type`);
    t.equal(res.headers['cache-control'], 'max-age=1800', `${name} max-age from well_known_cache_max_age`);
    t.match(res.headers, CORS, `${name} CORS headers`);
    const pre = await get(`/.well-known/matrix/${name}`, 'OPTIONS');
    t.equal(pre.status, 204, `${name} OPTIONS`);
    t.equal(pre.body, '', 'OPTIONS runs no endpoint logic');
    t.match(pre.headers, CORS, `${name} OPTIONS CORS headers`);
    const head = await get(`/.well-known/matrix/${name}`, 'HEAD');
    t.equal(head.status, 200, `${name} HEAD`);
    const post = await get(`/.well-known/matrix/${name}`, 'POST');
    t.equal(post.status, 405, `${name} POST`);
    t.equal(JSON.parse(post.body).errcode, 'M_UNRECOGNIZED');
  }
});

t.test('not configured: 404 Matrix JSON, still with CORS', async (t) => {
  const address = addr(2, 1);
  const fx = await startFixture({ address, serverName: 'example.test', certNames: ['example.test'], port: 443 });
  t.teardown(() => fx.close());
  const ca = fx.pki.root.certPem;
  for (const [name, hint] of [['server', /serve_server_wellknown/], ['client', /public_baseurl/], ['support', /well_known_support/]] as const) {
    const res = await httpsGet({ host: address, port: 443, path: `/.well-known/matrix/${name}`, ca, servername: 'example.test' });
    t.equal(res.status, 404, name);
    t.match(JSON.parse(res.body), { errcode: 'M_NOT_FOUND', error: hint });
    t.match(res.headers['content-type'], /^application\/json/);
    t.match(res.headers, CORS);
  }
  const other = await httpsGet({ host: address, port: 443, path: '/.well-known/other', ca, servername: 'example.test' });
  t.equal(other.status, 404, 'without well_known_dir nothing else is served');
});

t.test('only listeners with the client or federation resource serve them', async (t) => {
  const address = addr(3, 1);
  const fx = await startFixture({
    address,
    serverName: 'example.test',
    certNames: ['example.test'],
    port: 443,
    raw: {
      serve_server_wellknown: true,
      listeners: [
        { port: 443, bind_addresses: [address], tls: true, type: 'http', resources: [{ names: ['client'] }] },
        { port: 8448, bind_addresses: [address], tls: true, type: 'http', resources: [{ names: ['keys'] }] },
      ],
    },
  });
  t.teardown(() => fx.close());
  const ca = fx.pki.root.certPem;
  t.equal((await httpsGet({ host: address, port: 443, path: '/.well-known/matrix/server', ca, servername: 'example.test' })).status, 200, 'client resource');
  t.equal((await httpsGet({ host: address, port: 8448, path: '/.well-known/matrix/server', ca, servername: 'example.test' })).status, 404, 'keys only');
});

/** Sends a request line exactly as written (no client-side path normalisation) and returns the raw response. */
function rawGet(host: string, port: number, ca: string, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ca, servername: 'example.test' }, () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n`);
    });
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (d) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

t.test('well_known_dir serves other files under /.well-known/ and refuses traversal', async (t) => {
  const address = addr(4, 1);
  const fx = await startFixture({ address, serverName: 'example.test', certNames: ['example.test'], port: 443, raw: { well_known_dir: 'www', serve_server_wellknown: true } });
  t.teardown(() => fx.close());
  // The directory is created after start-up: files are looked up per request.
  mkdirSync(join(fx.dir, 'www', 'nested'), { recursive: true });
  writeFileSync(join(fx.dir, 'www', 'security.txt'), 'Contact: mailto:security@example.test\n');
  writeFileSync(join(fx.dir, 'www', 'nested', 'file.json'), '{"a":1}');
  writeFileSync(join(fx.dir, 'www', '.hidden'), 'hidden');
  writeFileSync(join(fx.dir, 'secret.txt'), 'TOP SECRET');
  const ca = fx.pki.root.certPem;
  const get = (path: string) => httpsGet({ host: address, port: 443, path, ca, servername: 'example.test' });

  const sec = await get('/.well-known/security.txt');
  t.equal(sec.status, 200);
  t.equal(sec.body, 'Contact: mailto:security@example.test\n');
  t.equal(sec.headers['cache-control'], 'max-age=3600', 'default well_known_cache_max_age of one hour');
  t.match(sec.headers, CORS);
  t.equal((await get('/.well-known/nested/file.json')).body, '{"a":1}');
  t.equal((await get('/.well-known/matrix/server')).status, 200, 'the Matrix files still come from fedpeer');
  t.not((await get('/.well-known/.hidden')).status, 200, 'dotfiles refused');
  t.equal((await get('/.well-known/missing.txt')).status, 404);
  for (const path of ['/.well-known/../secret.txt', '/.well-known/%2e%2e/secret.txt', '/.well-known/..%2fsecret.txt', '/.well-known/nested/../../secret.txt', '/.well-known/%2e%2e%2f%2e%2e%2fsecret.txt', '/.well-known/..%5csecret.txt']) {
    const raw = await rawGet(address, 443, ca, path);
    t.notMatch(raw, /TOP SECRET/, `${path} does not leave the directory`);
    t.notMatch(raw, /^HTTP\/1\.1 200/, `${path} is not a 200`);
  }
});

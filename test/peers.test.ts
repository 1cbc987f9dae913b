// Two (and three) real fedpeers on the private internet: each resolves the
// others through DNS and well-known with strict TLS against the test CA,
// signs its requests with X-Matrix, fetches and checks keys, and vouches for
// a third server as notary.
import t from 'tap';
import { join } from 'node:path';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';
import { startFixture, type Fixture } from './harness/server-fixture.js';
import { buildXMatrixHeader, signJson, verifyJsonSignature } from '../src/matrix/signing.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { main } from '../src/cli.js';
import type { CommandIO } from '../src/commands/io.js';
import { writeFileSync } from 'node:fs';

const world = await federationWorld('peers');
const { dns, pki, addr } = world;
t.teardown(() => world.close());

const outbound = { federation_custom_ca_list: [world.caFile], federation_dns_servers: [world.dns.hostPort], ip_range_whitelist: [`127.43.0.0/16`] };
const start = (name: string, c: number, certNames: string[], raw: Record<string, unknown> = {}, now?: () => number): Promise<Fixture> =>
  startFixture({ address: addr(c, 1), serverName: name, certNames, raw: { ...outbound, ...raw }, ...(now ? { now } : {}) });
// B's clock runs ahead when a test needs time to pass (the key store fetches one origin at most once a minute).
let bAhead = 0;

// A: found through _matrix-fed SRV (certificate for a.test itself).
dns.set('_matrix-fed._tcp.a.test', 'SRV', { priority: 10, weight: 1, port: 8448, target: 'box.a.test' });
dns.set('box.a.test', 'A', addr(1, 1));
const A = await start('a.test', 1, ['a.test']);
t.teardown(() => A.close());

// B: delegated by well-known to hs.b.test:8448 (certificate for hs.b.test).
const wkLeaf = await pki.leaf(['b.test']);
const wk = await startHttpsServer({
  address: addr(2, 2),
  port: 443,
  certificates: { certPem: wkLeaf.chainPem, keyPem: wkLeaf.keyPem },
  handler: (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"m.server":"hs.b.test:8448"}'),
});
t.teardown(() => wk.close());
dns.set('b.test', 'A', addr(2, 2));
dns.set('hs.b.test', 'A', addr(2, 1));
const B = await start('b.test', 2, ['hs.b.test'], { test_users: { '@alice:b.test': { displayname: 'Alice', avatar_url: 'mxc://b.test/x' } } }, () => Date.now() + bAhead);
t.teardown(() => B.close());

// C: a plain name on port 8448, the third server B vouches for.
dns.set('c.test', 'A', addr(3, 1));
const C = await start('c.test', 3, ['c.test']);
t.teardown(() => C.close());

const profile = '/_matrix/federation/v1/query/profile?user_id=%40alice%3Ab.test';

t.test('A signs a profile query to B; B fetches A keys, verifies, answers', async (t) => {
  const r = await A.server.peer.client.request('b.test', 'GET', profile);
  t.equal(r.status, 200);
  t.same(r.body, { displayname: 'Alice', avatar_url: 'mxc://b.test/x' });
  t.same(r.target, { address: addr(2, 1), port: 8448, host: 'hs.b.test:8448', tls_name: 'hs.b.test' });
  const cached = B.server.peer.keyStore.cached('a.test');
  t.ok(cached?.verifyKeys[A.key.keyId], 'B fetched and cached A keys');
  const field = await A.server.peer.client.request('b.test', 'GET', `${profile}&field=displayname`);
  t.same(field.body, { displayname: 'Alice' });
  const missing = await A.server.peer.client.request('b.test', 'GET', '/_matrix/federation/v1/query/profile?user_id=%40bob%3Ab.test').catch((e) => e);
  t.match(missing, { status: 404, body: { errcode: 'M_NOT_FOUND' } });
  const foreign = await A.server.peer.client.request('b.test', 'GET', '/_matrix/federation/v1/query/profile?user_id=%40bob%3Aa.test').catch((e) => e);
  t.match(foreign, { status: 403, body: { errcode: 'M_FORBIDDEN' } });
});

t.test('B refuses bad requests with 401 M_UNAUTHORIZED', async (t) => {
  const client = A.server.peer.client;
  const uri = profile;
  const cases: Array<[string, string, RegExp]> = [
    ['bad signature', buildXMatrixHeader({ method: 'GET', uri: '/other', origin: 'a.test', destination: 'b.test' }, A.key), /does not verify/],
    ['wrong origin', buildXMatrixHeader({ method: 'GET', uri, origin: 'c.test', destination: 'b.test' }, A.key), /no current key|does not verify/],
    ['wrong destination', buildXMatrixHeader({ method: 'GET', uri, origin: 'a.test', destination: 'c.test' }, A.key), /destination "c.test" is not this server/],
    ['malformed header', 'X-Matrix origin="a.test",key=', /Malformed X-Matrix/],
    ['unknown origin', buildXMatrixHeader({ method: 'GET', uri, origin: 'nowhere.test', destination: 'b.test' }, A.key), /no current key .* for nowhere\.test: could not fetch keys of nowhere\.test: .+$/],
    // The real cause, not only the missing key: the origin's address is blocked (what Synapse's own blocklist looks like from fedpeer).
    ['blocked origin', buildXMatrixHeader({ method: 'GET', uri, origin: 'blocked.test', destination: 'b.test' }, A.key), /^X-Matrix signature check failed: no current key ed25519:\S+ for blocked\.test: could not fetch keys of blocked\.test: blocklist: ip_range_blacklist: every address of blocked\.test is in ip_range_blacklist \(10\.9\.8\.7\)$/],
  ];
  dns.set('blocked.test', 'A', '10.9.8.7');
  for (const [name, header, reason] of cases) {
    const err = await client.request('b.test', 'GET', uri, { sign: () => header }).catch((e) => e);
    t.match(err, { status: 401, body: { errcode: 'M_UNAUTHORIZED', error: reason } }, name);
  }
});

t.test('a key replaced after caching: B refetches A once and accepts the new key', async (t) => {
  await A.server.peer.client.request('b.test', 'GET', profile);
  const fresh = generateSigningKey('rotated');
  A.server.keyPublisher.setSigningKeys([fresh]);
  const header = buildXMatrixHeader({ method: 'GET', uri: profile, origin: 'a.test', destination: 'b.test' }, fresh);
  const early = await A.server.peer.client.request('b.test', 'GET', profile, { sign: () => header }).catch((e) => e);
  t.match(early, { status: 401 }, 'within a minute of the last fetch, an unknown key id causes no refetch');
  bAhead += 61_000;
  const r = await A.server.peer.client.request('b.test', 'GET', profile, { sign: () => header });
  t.equal(r.status, 200);
  t.ok(B.server.peer.keyStore.cached('a.test')?.verifyKeys['ed25519:rotated']);
  A.server.keyPublisher.setSigningKeys([A.key]);
  // A minute later B may fetch A's restored keys when it meets them.
  bAhead += 61_000;
});

t.test('expired keys: an origin whose key document is past valid_until_ts is refused', async (t) => {
  const dKey = generateSigningKey('d');
  const leaf = await pki.leaf(['d.test']);
  const expired = signJson({ server_name: 'd.test', verify_keys: { 'ed25519:d': { key: dKey.publicKeyBase64 } }, old_verify_keys: {}, valid_until_ts: Date.now() - 1000 }, 'd.test', dKey);
  const d = await startHttpsServer({
    address: addr(4, 1),
    port: 8448,
    certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
    handler: (_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(expired)),
  });
  t.teardown(() => d.close());
  dns.set('d.test', 'A', addr(4, 1));
  const header = buildXMatrixHeader({ method: 'GET', uri: profile, origin: 'd.test', destination: 'b.test' }, dKey);
  const err = await A.server.peer.client.request('b.test', 'GET', profile, { sign: () => header }).catch((e) => e);
  t.match(err, { status: 401, body: { errcode: 'M_UNAUTHORIZED', error: /no current key ed25519:d for d\.test: could not fetch keys of d\.test: .*valid_until_ts/ } });
});

t.test('an origin whose keys cannot be fetched: the 401 names the failed fetch and its cause', async (t) => {
  // Synapse shows a remote 401's text to its users, so "no current key" alone would send them looking at keys, not at the fetch.
  const eKey = generateSigningKey('e');
  dns.set('blocked.test', 'A', '10.1.2.3');
  const blocked = buildXMatrixHeader({ method: 'GET', uri: profile, origin: 'blocked.test', destination: 'b.test' }, eKey);
  const err = await A.server.peer.client.request('b.test', 'GET', profile, { sign: () => blocked }).catch((e) => e);
  t.match(err, { status: 401, body: { errcode: 'M_UNAUTHORIZED' } });
  t.equal(
    err.body.error,
    'X-Matrix signature check failed: no current key ed25519:e for blocked.test: could not fetch keys of blocked.test: blocklist: ip_range_blacklist: every address of blocked.test is in ip_range_blacklist (10.1.2.3)',
  );

  // A certificate from a CA B does not trust.
  const leaf = await pki.leaf(['refused.test'], { untrusted: true });
  const refused = await startHttpsServer({ address: addr(5, 1), port: 8448, certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem }, handler: (_req, res) => void res.end('{}') });
  t.teardown(() => refused.close());
  dns.set('refused.test', 'A', addr(5, 1));
  const header = buildXMatrixHeader({ method: 'GET', uri: profile, origin: 'refused.test', destination: 'b.test' }, eKey);
  const err2 = await A.server.peer.client.request('b.test', 'GET', profile, { sign: () => header }).catch((e) => e);
  t.match(err2, { status: 401, body: { errcode: 'M_UNAUTHORIZED', error: /^X-Matrix signature check failed: no current key ed25519:e for refused.test: could not fetch keys of refused.test: tls: .*certificate/ } });
  t.equal(refused.requests.length, 0, 'nothing was asked of a server whose certificate was refused');

  // Keys fetched, but the key id is not among them.
  const wrongId = buildXMatrixHeader({ method: 'GET', uri: profile, origin: 'a.test', destination: 'b.test' }, { ...A.key, keyId: 'ed25519:gone' });
  const err3 = await A.server.peer.client.request('b.test', 'GET', profile, { sign: () => wrongId }).catch((e) => e);
  t.match(err3, { status: 401, body: { error: new RegExp(`no current key ed25519:gone for a.test \\(its key document(, fetched less than a minute ago,)? lists ${A.key.keyId}\\)`) } });
});

t.test('B as notary for C: the origin signature kept, B signature added', async (t) => {
  const post = await A.server.peer.client.request('b.test', 'POST', '/_matrix/key/v2/query', {
    body: { server_keys: { 'c.test': {}, 'b.test': {}, 'not a name': {}, 'nowhere.test': {} } },
    sign: false,
  });
  const docs = (post.body as { server_keys: Array<Record<string, unknown>> }).server_keys;
  t.same(docs.map((d) => d.server_name).sort(), ['b.test', 'c.test'], 'unreachable and invalid names left out');
  const c = docs.find((d) => d.server_name === 'c.test')!;
  t.same(verifyJsonSignature(c, 'c.test', C.key.keyId, C.key.publicKey), { ok: true }, 'origin signature kept');
  t.same(verifyJsonSignature(c, 'b.test', B.key.keyId, B.key.publicKey), { ok: true }, 'notary signature added');
  const get = await A.server.peer.client.request('b.test', 'GET', `/_matrix/key/v2/query/c.test?minimum_valid_until_ts=${Date.now()}`, { sign: false });
  t.equal((get.body as { server_keys: unknown[] }).server_keys.length, 1);
  const byId = await A.server.peer.client.request('b.test', 'GET', `/_matrix/key/v2/query/c.test/${encodeURIComponent(C.key.keyId)}`, { sign: false });
  t.equal((byId.body as { server_keys: unknown[] }).server_keys.length, 1);
  const unknownId = await A.server.peer.client.request('b.test', 'GET', '/_matrix/key/v2/query/c.test/ed25519:nope', { sign: false });
  t.same(unknownId.body, { server_keys: [] });

  // C goes away: B still serves its last good answer.
  await C.close();
  const later = await A.server.peer.client.request('b.test', 'GET', `/_matrix/key/v2/query/c.test?minimum_valid_until_ts=${Date.now() + 10 * 86_400_000}`, { sign: false });
  t.equal((later.body as { server_keys: unknown[] }).server_keys.length, 1, 'last good response of an unreachable server');
});

t.test('bad notary requests', async (t) => {
  const client = A.server.peer.client;
  const cases: Array<[unknown, number, string, RegExp]> = [
    [{ nope: 1 }, 400, 'M_BAD_JSON', /server_keys/],
    [{ server_keys: { 'c.test': [] } }, 400, 'M_BAD_JSON', /must be an object/],
    [{ server_keys: { 'c.test': { k: { minimum_valid_until_ts: 'x' } } } }, 400, 'M_BAD_JSON', /must be an integer/],
    [{ server_keys: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`s${i}.test`, {}])) }, 400, 'M_BAD_JSON', /Too many servers in one query: 101, at most 100/],
    [{ server_keys: { 'c.test': Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`ed25519:${i}`, {}])) } }, 400, 'M_BAD_JSON', /Too many key ids/],
    [{ server_keys: { x: 'y'.repeat(70_000) } }, 413, 'M_TOO_LARGE', /./],
  ];
  for (const [body, status, errcode, reason] of cases) {
    const err = await client.request('b.test', 'POST', '/_matrix/key/v2/query', { body, sign: false }).catch((e) => e);
    t.match(err, { status, body: { errcode, error: reason } });
  }
  const notJson = await client.request('b.test', 'GET', '/_matrix/key/v2/query/c.test?minimum_valid_until_ts=soon', { sign: false }).catch((e) => e);
  t.match(notJson, { status: 400, body: { errcode: 'M_INVALID_PARAM' } });
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  const handle: CommandIO = { stdout: (s) => out.push(s), stderr: (s) => err.push(s), readStdin: async () => '' };
  return { handle, out: () => out.join('\n'), err: () => err.join('\n') };
}

t.test('fedpeer keys and fedpeer request on the private internet', async (t) => {
  const cfg = join(world.dir, 'cli.yaml');
  writeFileSync(join(world.dir, 'a.key'), `ed25519 ${A.key.version} ${A.key.seed.toString('base64').replace(/=+$/, '')}\n`);
  writeFileSync(
    cfg,
    `server_name: a.test\nsigning_key_path: a.key\nfederation_custom_ca_list: [${world.caFile}]\nfederation_dns_servers: ['${world.dns.hostPort}']\nip_range_whitelist: ['127.43.0.0/16']\n`,
  );
  let c = io();
  t.equal(await main(['keys', 'b.test', '--config', cfg], c.handle), 0);
  t.match(c.out(), /ok   direct/);
  t.match(c.out(), /✓ self_signature: signed by ed25519:/);
  t.match(c.out(), new RegExp(`${B.key.keyId} ${B.key.publicKeyBase64.replace(/[+/]/g, '\\$&')}`));
  c = io();
  t.equal(await main(['keys', 'a.test', '--notary', 'b.test', '--config', cfg, '--json'], c.handle), 0);
  const j = JSON.parse(c.out());
  t.equal(j.source, 'notary b.test');
  t.equal(j.keys.server_name, 'a.test');
  t.ok(Object.keys(j.keys.verify_keys).length > 0);
  c = io();
  t.equal(await main(['keys', 'nowhere.test', '--config', cfg], c.handle), 1);
  t.match(c.out(), /FAIL direct/);
  t.match(c.out(), /no valid keys for nowhere.test/);

  c = io();
  t.equal(await main(['request', '--config', cfg, '-v', 'b.test', '/_matrix/federation/v1/query/profile?user_id=%40alice%3Ab.test'], c.handle), 0);
  t.same(JSON.parse(c.out()), { displayname: 'Alice', avatar_url: 'mxc://b.test/x' });
  t.match(c.err(), /< 200/);
  t.match(c.err(), /TLS name: hs.b.test/);
  c = io();
  t.equal(await main(['request', '--config', cfg, 'b.test', '/_matrix/federation/v1/query/profile?user_id=%40zed%3Ab.test'], c.handle), 1);
  t.match(c.err(), /^404/);
  t.match(JSON.parse(c.out()), { errcode: 'M_NOT_FOUND' });
  c = io();
  t.equal(await main(['request', '--unsigned', '--config', cfg, 'b.test', '/_matrix/federation/v1/query/profile?user_id=%40alice%3Ab.test'], c.handle), 1);
  t.match(JSON.parse(c.out()), { errcode: 'M_UNAUTHORIZED' });
  c = io();
  t.equal(await main(['request', '--config', cfg, '-X', 'POST', '--data', '{"server_keys":{"c.test":{}}}', 'b.test', '/_matrix/key/v2/query'], c.handle), 0);
  c = io();
  t.equal(await main(['request', 'b.test', '/x'], c.handle), 2);
  t.match(c.err(), /give --config, or --unsigned/);
  c = io();
  t.equal(await main(['request', '--config', cfg, '--data', '{nope', 'b.test', '/x'], c.handle), 2);
  t.match(c.err(), /--data is not valid JSON/);
});

import t from 'tap';
import Fastify from 'fastify';
import { pino } from 'pino';
import { xMatrixAuth } from '../src/server/x-matrix-auth.js';
import { installErrorHandlers, addRoute } from '../src/server/matrix-errors.js';
import { buildXMatrixHeader } from '../src/matrix/signing.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';

const originKey = generateSigningKey('o1');
const otherKey = generateSigningKey('o2');
const keys: Record<string, Record<string, typeof originKey>> = { 'origin.test': { 'ed25519:o1': originKey } };

async function app(opts: { whitelist?: string[] } = {}) {
  const a = Fastify();
  installErrorHandlers(a, pino({ level: 'silent' }));
  const pre = xMatrixAuth({
    serverName: 'me.test',
    lookupKey: async (server, id) => {
      const key = keys[server]?.[id]?.publicKey;
      return key ? { key } : { key: null, reason: `no current key ${id} for ${server}` };
    },
    ...(opts.whitelist ? { domainWhitelist: opts.whitelist } : {}),
  });
  a.route({ method: ['GET', 'PUT'], url: '/_matrix/federation/v1/thing', preHandler: pre, handler: async (req) => ({ origin: req.xMatrixOrigin }) });
  addRoute(a, '/open', { GET: async () => ({}) });
  await a.ready();
  return a;
}

const uri = '/_matrix/federation/v1/thing?x=%40a%3Ab';
const sign = (over: Partial<{ method: string; uri: string; origin: string; destination: string; content: unknown }> = {}, key = originKey) =>
  buildXMatrixHeader({ method: 'GET', uri, origin: 'origin.test', destination: 'me.test', ...over }, key);

t.test('a correctly signed request passes and names its origin', async (t) => {
  const a = await app();
  t.teardown(() => a.close());
  const r = await a.inject({ method: 'GET', url: uri, headers: { authorization: sign() } });
  t.equal(r.statusCode, 200);
  t.same(r.json(), { origin: 'origin.test' });
  const body = { hello: ['world', 1] };
  const put = await a.inject({ method: 'PUT', url: uri, payload: body, headers: { authorization: sign({ method: 'PUT', content: body }) } });
  t.equal(put.statusCode, 200);
  // Without destination (older servers), this server's name is assumed, as Synapse does.
  const noDest = sign().replace(/destination="[^"]*",/, '');
  const legacy = buildXMatrixHeader({ method: 'GET', uri, origin: 'origin.test', destination: 'me.test' }, originKey).replace(/destination="[^"]*",/, '');
  t.equal(noDest, legacy);
  t.equal((await a.inject({ method: 'GET', url: uri, headers: { authorization: noDest } })).statusCode, 200);
});

t.test('failures are 401 M_UNAUTHORIZED with the reason', async (t) => {
  const a = await app();
  t.teardown(() => a.close());
  const body = { a: 1 };
  const cases: Array<[string, Record<string, string>, RegExp, string?, object?]> = [
    ['no header', {}, /Missing X-Matrix Authorization header/],
    ['other scheme', { authorization: 'Bearer x' }, /Missing X-Matrix/],
    ['malformed', { authorization: 'X-Matrix origin="o' }, /Malformed X-Matrix Authorization header: unterminated/],
    ['wrong destination', { authorization: sign({ destination: 'other.test' }) }, /destination "other.test" is not this server \(me.test\)/],
    ['bad origin name', { authorization: 'X-Matrix origin="bad name",key="ed25519:o1",sig="x"' }, /not a valid server name/],
    ['unknown key', { authorization: sign({}, otherKey).replace('ed25519:o2', 'ed25519:zz') }, /no current key ed25519:zz for origin.test/],
    ['wrong signature key', { authorization: sign({}, otherKey).replace('ed25519:o2', 'ed25519:o1') }, /does not verify/],
    ['signed for another uri', { authorization: sign({ uri: '/other' }) }, /does not verify/],
    ['signed another method', { authorization: sign({ method: 'PUT' }) }, /does not verify/],
    ['body changed', { authorization: sign({ method: 'PUT', content: { a: 2 } }) }, /does not verify/, 'PUT', body],
  ];
  for (const [name, headers, reason, method, payload] of cases) {
    const r = await a.inject({ method: (method ?? 'GET') as 'GET', url: uri, headers, ...(payload ? { payload } : {}) });
    t.equal(r.statusCode, 401, name);
    t.equal(r.json().errcode, 'M_UNAUTHORIZED', name);
    t.match(r.json().error, reason, name);
  }
  // Several headers: one good one is enough; different origins are refused.
  const bad = sign({}, otherKey).replace('ed25519:o2', 'ed25519:zz');
  const two = await a.inject({ method: 'GET', url: uri, headers: { authorization: [bad, sign()] as unknown as string } });
  t.equal(two.statusCode, 200);
  const mixed = await a.inject({ method: 'GET', url: uri, headers: { authorization: [sign(), sign({ origin: 'x.test' })] as unknown as string } });
  t.equal(mixed.statusCode, 401);
  t.match(mixed.json().error, /different origins/);
  t.equal((await a.inject({ method: 'GET', url: '/open' })).statusCode, 200, 'routes without the hook stay open');
});

t.test('federation_domain_whitelist refuses other origins with 403', async (t) => {
  const a = await app({ whitelist: ['friend.test'] });
  t.teardown(() => a.close());
  const r = await a.inject({ method: 'GET', url: uri, headers: { authorization: sign() } });
  t.equal(r.statusCode, 403);
  t.match(r.json(), { errcode: 'M_FORBIDDEN', error: /federation_domain_whitelist/ });
});

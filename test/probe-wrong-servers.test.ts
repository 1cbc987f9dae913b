// The probe against deliberately wrong servers: each is a real fedpeer with
// one part swapped, and the probe must flag exactly the check that part
// breaks, and nothing else.
import t, { type Test } from 'tap';
import { acceptUnsigned, ignoreDestination, probeWorld, serveUnsignedKeys } from './harness/probe-world.js';
import type { Fixture } from './harness/server-fixture.js';
import { startHttpsServer } from './harness/https-server.js';
import { readFileSync } from 'node:fs';
import { validateJsonSchema } from './harness/json-schema.js';

const schema = JSON.parse(readFileSync(new URL('../docs/probe-report.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;

const world = await probeWorld('probe-wrong');
t.teardown(() => world.close());

const cases: Array<[string, string, RegExp, (f: Fixture) => void | Promise<void>, Record<string, unknown>]> = [
  ['unsigned.test', 'auth.unsigned', /query\/profile: answered 404 M_NOT_FOUND instead of 401: the request was processed, not refused/, acceptUnsigned, {}],
  ['nodestination.test', 'auth.wrong-destination', /query\/profile: answered 404 M_NOT_FOUND instead of 401/, ignoreDestination, {}],
  ['unsignedkeys.test', 'identity.self-signature', /the document carries no signature from unsignedkeys.test/, serveUnsignedKeys, {}],
  ['noverify.test', 'outbound.certificate-verification', /completed a TLS handshake with probe.test:8449's untrusted certificate and sent GET \/_matrix\/key\/v2\/server/, () => {}, { federation_verify_certificates: false }],
];

cases.forEach(([name, check, reason, deviate, raw], i) => {
  t.test(`${name} is flagged by ${check} alone`, async (t) => {
    const target = await world.startTarget(name, 2 + i, raw);
    t.teardown(() => target.close());
    await deviate(target);
    const { code, report } = await world.probeJson(name);
    const failed = report.checks.filter((c) => c.verdict === 'fail');
    t.same(failed.map((c) => c.id), [check]);
    t.match(failed[0]?.reason, reason);
    t.equal(code, 1, 'exit 1');
  });
});

// Cruder servers: not fedpeer at all, the same answer to every request
// (once its body has been read), so nearly everything fails, each failure
// for its own reason.
async function crude(t: Test, name: string, c: number, status: number, contentType: string, body: string) {
  const leaf = await world.pki.leaf([name]);
  world.dns.set(name, 'A', world.addr(c, 1));
  const server = await startHttpsServer({
    address: world.addr(c, 1),
    port: 8448,
    certificates: { certPem: leaf.chainPem, keyPem: leaf.keyPem },
    handler: (req, res) => {
      req.resume();
      req.on('end', () => void res.writeHead(status, { 'content-type': contentType }).end(body));
    },
  });
  t.teardown(() => server.close());
}

t.test('a server that answers 200 {} to everything', async (t) => {
  await crude(t, 'yes.test', 10, 200, 'application/json', '{}');
  const { code, report } = await world.probeJson('yes.test');
  t.equal(code, 1);
  t.same(validateJsonSchema(schema, report), [], 'the report follows docs/probe-report.schema.json');
  const verdicts = Object.fromEntries(report.checks.map((c) => [c.id, [c.verdict, c.reason]]));
  t.match(verdicts, {
    'identity.server-name': ['fail', 'server_name is undefined, expected "yes.test"'],
    'identity.verify-keys': ['fail', 'verify_keys is missing or not an object'],
    'identity.self-signature': ['could_not_run', /no usable key in verify_keys/],
    'identity.valid-until': ['fail', 'valid_until_ts is missing or not an integer'],
    'identity.old-verify-keys': ['pass', 'absent (the field is optional)'],
    'identity.version': ['pass', 'a JSON object without "server" (its fields are optional)'],
    'auth.signed-accepted': ['pass', /query\/profile: accepted: 200; query\/directory: accepted: 200; user\/devices: accepted: 200; user\/keys\/query: accepted: 200/],
    'auth.unsigned': ['fail', /query\/profile: answered 200: gave the resource instead of refusing with 401/],
    'auth.other-body': ['fail', /^user\/keys\/query: answered 200/],
    'auth.destination-omitted': ['pass', /4 request\(s\) on 4 endpoint\(s\)/],
    'auth.malformed-header': ['fail', /query\/profile, no parameters: answered 200: gave the resource instead of refusing with 401 or 400/],
    'errors.unknown-endpoint': ['fail', 'GET /_matrix/federation/v1/probe-unknown: 200 instead of 404 M_UNRECOGNIZED; GET /_matrix/key/v2/probe-unknown: 200 instead of 404 M_UNRECOGNIZED'],
    'errors.wrong-method': ['fail', /200 instead of 405 M_UNRECOGNIZED/],
    'errors.bad-json': ['fail', '200 instead of 400 M_NOT_JSON'],
    'errors.oversized-body': ['not_applicable', /^200: the target took 1048576 bytes, its limit is higher/],
    'outbound.key-fetch': ['fail', /yet no key fetch reached the probe: it did not check the signature/],
    'outbound.tls': ['could_not_run', /no key fetch by the target itself was seen/],
    'outbound.host-header': ['could_not_run', /no key fetch by the target itself was seen/],
    'outbound.resolution': ['could_not_run', /^no lookup of probe\.test was seen: the target may have it cached from an earlier run, or there was nothing to see it with \(run the probe with --dns-listen and point the target at it\)$/],
    'outbound.certificate-verification': ['fail', /answered 200 to a request from probe\.test:8449, whose keys are only served behind an untrusted certificate, instead of 401/],
  });
  const text = await world.probe(['yes.test', '--config', world.probeConfig, '--only', 'auth.unsigned']);
  t.equal(text.code, 1);
  t.match(text.stdout, /\n {2}FAIL {2}auth\.unsigned {2}An unsigned request is refused\n {8}query\/profile: answered 200: gave the resource instead of refusing with 401; query\/directory: .*\n {8}expected: A request without an Authorization header is refused with 401 and a Matrix error, never answered\.\n {8}spec: Server-Server API, Authentication: Request Authentication <https:\/\/spec\.matrix\.org\/latest\/server-server-api\/#request-authentication>\n {8}- query\/profile: answered 200: gave the resource instead of refusing with 401\n {10}sent: GET \/_matrix\/federation\/v1\/query\/profile\?user_id=%40probe-nobody%3Ayes\.test&field=displayname \(no Authorization\)\n {10}got: {2}200: \{\}\n/);
  t.match(text.stdout, /\n1 check\(s\) failed: auth\.unsigned\n$/);
});

t.test('a server that answers 500 with a web page', async (t) => {
  await crude(t, 'broken.test', 11, 500, 'text/html', '<html>oops</html>');
  const { report } = await world.probeJson('broken.test', ['--only', 'identity.server-name,identity.version,auth,errors.oversized-body,errors.bad-json']);
  t.same(validateJsonSchema(schema, report), [], 'the report follows docs/probe-report.schema.json');
  const verdicts = Object.fromEntries(report.checks.map((c) => [c.id, [c.verdict, c.reason]]));
  t.match(verdicts, {
    'identity.server-name': ['fail', 'GET /_matrix/key/v2/server: 500 without a Matrix error body'],
    'identity.version': ['fail', 'GET /_matrix/federation/v1/version: 500 without a Matrix error body'],
    'auth.signed-accepted': ['fail', /^query\/profile: server error 500 without a Matrix error body; .* \(a refusal means the target could not fetch or check the probe's key: see outbound.key-fetch\)$/],
    'auth.unsigned': ['could_not_run', /no authenticated endpoint accepted a correctly signed request/],
    'errors.bad-json': ['fail', '500 without a Matrix error body instead of 400 M_NOT_JSON'],
    'errors.oversized-body': ['fail', '500 without a Matrix error body instead of 413 M_TOO_LARGE'],
  });
});

t.test('a server that serves nothing', async (t) => {
  await crude(t, 'empty.test', 12, 404, 'application/json', '{"errcode":"M_UNRECOGNIZED","error":"Unrecognized request"}');
  const { report } = await world.probeJson('empty.test', ['--only', 'auth.signed-accepted,auth.forged-signature,errors,outbound.key-fetch,outbound.certificate-verification']);
  const verdicts = Object.fromEntries(report.checks.map((c) => [c.id, [c.verdict, c.reason]]));
  t.match(verdicts, {
    'auth.signed-accepted': ['not_applicable', 'the target serves none of the authenticated endpoints the probe uses'],
    'auth.forged-signature': ['could_not_run', /^no authenticated endpoint accepted a correctly signed request/],
    'errors.unknown-endpoint': ['pass'],
    'errors.wrong-method': ['fail', 'DELETE /_matrix/federation/v1/version: 404 M_UNRECOGNIZED instead of 405 M_UNRECOGNIZED; PUT /_matrix/key/v2/server: 404 M_UNRECOGNIZED instead of 405 M_UNRECOGNIZED'],
    'errors.bad-json': ['not_applicable', 'POST /_matrix/key/v2/query is not served (404 M_UNRECOGNIZED): the target is no notary'],
    'errors.oversized-body': ['not_applicable', /the target is no notary/],
    'outbound.key-fetch': ['could_not_run', /no correctly signed request was accepted/],
    'outbound.certificate-verification': ['could_not_run', /no authenticated endpoint accepted a correctly signed request/],
  });
});

t.test('a server that never answers holds the probe for three timeouts, not one per request', async (t) => {
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent.listen(8448, world.addr(13, 1), resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    silent.close(() => resolve());
  }));
  world.dns.set('silent.test', 'A', world.addr(13, 1));
  const config = world.probeConfigWith('probe-short.yaml', { federation_client: { request_timeout: 300 } });
  const r = await world.probe(['silent.test', '--config', config, '--json', '--only', 'identity,auth.signed-accepted,errors.unknown-endpoint']);
  const report = JSON.parse(r.stdout) as import('../src/probe/types.js').ProbeReport;
  t.equal(r.code, 0, 'nothing failed: nothing could be judged');
  t.same(report.summary, { pass: 0, fail: 0, not_applicable: 0, could_not_run: 8 });
  // Checks share the key document's exchange, so it is counted by path.
  const exchanges = report.checks.flatMap((c) => c.exchanges);
  const failure = (e: (typeof exchanges)[number]) => ('failure' in e.response ? e.response.failure : '');
  const waited = new Set(exchanges.filter((e) => /no complete response within/.test(failure(e))).map((e) => `${e.request.method} ${e.request.path}`));
  t.equal(waited.size, 3, `three requests waited for their timeout: ${[...waited].join(', ')}`);
  const notSent = exchanges.filter((e) => failure(e) === 'not sent: the last 3 requests to silent.test got no answer');
  t.equal(notSent.length + [...waited].length, new Set(exchanges.map((e) => `${e.label} ${e.request.method} ${e.request.path}`)).size, 'every other request was not sent');
});

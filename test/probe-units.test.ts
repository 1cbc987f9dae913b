// The probe's pure parts on crafted input: the judges of responses, key
// documents and outbound observations, the Authorization header variants,
// the report formats, --only; and its DNS server over the real wire.
import t from 'tap';
import { promises as dnsPromises } from 'node:dns';
import * as packet from 'dns-packet';
import { block } from './harness/addresses.js';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import { parseXMatrixHeader, requestSigningObject, signJson, verifyJsonSignature } from '../src/matrix/signing.js';
import * as headers from '../src/probe/auth-headers.js';
import { combine, describe, judgeAcceptance, judgeRefusal } from '../src/probe/judge.js';
import { judgeOldVerifyKeys, judgeSelfSignature, judgeServerName, judgeValidUntil, judgeVerifyKeys, judgeVersion } from '../src/probe/key-document.js';
import { judgeCertificateVerification, judgeHostHeader, judgeKeyFetch, judgeResolution, judgeTls, type RequestEvent } from '../src/probe/outbound-judge.js';
import { answerQuery, startProbeDnsServer } from '../src/probe/dns-server.js';
import { formatJunitReport, xmlEscape } from '../src/probe/report-junit.js';
import { formatTapReport } from '../src/probe/report-tap.js';
import { formatTextReport } from '../src/probe/report-text.js';
import { ALL_CHECKS, selectChecks, UnknownCheckError } from '../src/probe/registry.js';
import { readResponse } from '../src/probe/sender.js';
import { summarise } from '../src/probe/run.js';
import type { CheckResult, ProbeReport } from '../src/probe/types.js';

t.test('responses: refusals, acceptance, combined verdicts', async (t) => {
  t.same(judgeRefusal({ status: 401, errcode: 'M_UNAUTHORIZED' }), { verdict: 'pass', finding: 'refused: 401 M_UNAUTHORIZED' });
  t.same(judgeRefusal({ status: 401, body: 'no' }), { verdict: 'fail', finding: 'refused with 401 but the body is not a Matrix error ({errcode, error})' });
  t.same(judgeRefusal({ status: 400, errcode: 'M_UNAUTHORIZED' }, [401, 400]).verdict, 'pass');
  t.match(judgeRefusal({ status: 502, body: '<html>' }), { verdict: 'fail', finding: 'server error 502 without a Matrix error body instead of 401' });
  t.match(judgeRefusal({ failure: 'ECONNRESET' }), { verdict: 'could_not_run', finding: 'no answer (ECONNRESET): cannot tell whether it was refused' });
  t.match(judgeAcceptance({ status: 403, errcode: 'M_FORBIDDEN', error: 'whitelist' }), { acceptance: 'forbidden', finding: 'forbidden: 403 M_FORBIDDEN (whitelist)' });
  t.match(judgeAcceptance({ status: 401, errcode: 'M_UNAUTHORIZED' }), { acceptance: 'refused', finding: 'refused: 401 M_UNAUTHORIZED' });
  t.match(judgeAcceptance({ status: 405, errcode: 'M_UNRECOGNIZED' }), { acceptance: 'not_served' });
  t.match(judgeAcceptance({ status: 404, errcode: 'M_NOT_FOUND' }), { acceptance: 'accepted' });
  t.match(judgeAcceptance({ failure: 'timeout' }), { acceptance: 'no_answer', finding: 'no answer (timeout)' });
  t.equal(describe({ status: 204 }), '204');
  t.equal(combine([]), 'could_not_run');
  t.equal(combine([], 'not_applicable'), 'not_applicable');
  t.equal(combine(['not_applicable', 'not_applicable']), 'not_applicable');
  t.equal(combine(['pass', 'could_not_run']), 'could_not_run');
  t.equal(combine(['pass', 'could_not_run', 'fail']), 'fail');
  t.same(readResponse(400, Buffer.from('{"errcode":"M_X","error":5}')).response, { status: 400, body: '{"errcode":"M_X","error":5}', errcode: 'M_X' });
  t.same(readResponse(200, Buffer.from('not json')), { response: { status: 200, body: 'not json' } });
  t.equal((readResponse(200, Buffer.from(`"${'a'.repeat(600)}"`)).response as { body: string }).body.length, 501);
});

t.test('key documents, one aspect at a time', async (t) => {
  const key = generateSigningKey('k1');
  const other = generateSigningKey('k2');
  const now = Date.parse('2030-01-01T00:00:00Z');
  const doc = signJson({ server_name: 'a.test', valid_until_ts: now + 3600_000, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 }, 'curve:x': { key: 'ignored' } }, old_verify_keys: {} }, 'a.test', key);
  t.match(judgeServerName([], 'a.test'), { verdict: 'fail', reason: 'the key document is not a JSON object' });
  t.match(judgeServerName(doc, 'b.test'), { verdict: 'fail', reason: 'server_name is "a.test", expected "b.test"' });
  const vk = judgeVerifyKeys(doc);
  t.match(vk, { verdict: 'pass', reason: 'Ed25519 key(s): ed25519:k1' });
  t.match(judgeVerifyKeys({ verify_keys: { 'ed25519:k1': { key: 'AAAA' } } }), { verdict: 'fail', reason: /an Ed25519 key is 32 bytes, got 3/ });
  t.match(judgeVerifyKeys({ verify_keys: {} }), { verdict: 'fail', reason: 'no Ed25519 key in verify_keys' });
  t.match(judgeSelfSignature(doc, 'a.test', vk.keys), { verdict: 'pass', reason: 'signed by ed25519:k1' });
  const twoKeys = signJson({ ...doc, signatures: undefined, verify_keys: { [key.keyId]: { key: key.publicKeyBase64 }, [other.keyId]: { key: other.publicKeyBase64 } } }, 'a.test', key);
  t.match(judgeSelfSignature(twoKeys, 'a.test', judgeVerifyKeys(twoKeys).keys), { verdict: 'pass', reason: 'signed by ed25519:k1; not signed by ed25519:k2 (allowed)' });
  t.match(judgeSelfSignature({ ...doc, server_name: 'changed' }, 'a.test', vk.keys), { verdict: 'fail', reason: /does not verify/ });
  const byStranger = signJson({ ...doc, signatures: {} }, 'a.test', other);
  t.match(judgeSelfSignature(byStranger, 'a.test', vk.keys), { verdict: 'fail', reason: 'not signed by any of its verify_keys (ed25519:k1)' });
  t.match(judgeValidUntil(doc, now), { verdict: 'pass', reason: 'valid until 2030-01-01T01:00:00.000Z, 1.0 hours from now' });
  t.match(judgeValidUntil({ valid_until_ts: now + 30 * 86400_000 }, now), { verdict: 'pass', reason: /30\.0 days from now; other servers trust it for at most 7 days$/ });
  t.match(judgeValidUntil({ valid_until_ts: now - 86400_000 * 3 }, now), { verdict: 'fail', reason: /is 3\.0 days in the past$/ });
  t.match(judgeOldVerifyKeys({ old_verify_keys: [] }), { verdict: 'fail', reason: 'old_verify_keys is not an object' });
  t.match(judgeOldVerifyKeys({ old_verify_keys: { [other.keyId]: { key: other.publicKeyBase64 } } }), { verdict: 'fail', reason: 'ed25519:k2: expired_ts is missing or not an integer' });
  t.match(judgeOldVerifyKeys({ old_verify_keys: { 'ed25519:bad!': { key: other.publicKeyBase64, expired_ts: 1 } } }), { verdict: 'fail', reason: /is not ed25519:<\[a-zA-Z0-9_\]\+>/ });
  t.match(judgeOldVerifyKeys({ old_verify_keys: { [other.keyId]: { key: other.publicKeyBase64, expired_ts: 1 }, 'x:y': {} } }), { verdict: 'pass', reason: '1 old key(s), each with key and expired_ts' });
  t.match(judgeVersion('x'), { verdict: 'fail', reason: 'the body is not a JSON object' });
  t.match(judgeVersion({ server: 'x' }), { verdict: 'fail', reason: '"server" is not an object' });
  t.match(judgeVersion({ server: { name: 1, version: 2 } }), { verdict: 'fail', reason: 'server.name and server.version must be a string' });
  t.match(judgeVersion({ server: {} }), { verdict: 'pass', reason: 'server (no name) (no version)' });
});

t.test('Authorization header variants sign what they say', async (t) => {
  const key = generateSigningKey('run');
  const keys: headers.HeaderKeys = {
    origin: 'probe.test',
    destination: 'target.test',
    key,
    forger: generateSigningKey('run'),
    unpublished: generateSigningKey('other'),
    unfetchableOrigin: 'nokeys.invalid',
    unfetchableKey: generateSigningKey('run'),
  };
  const req = { method: 'POST', uri: '/x?a=b', content: { a: 1 } };
  // The object each header's signature covers, as a receiver rebuilds it.
  const verifies = (header: string, over: { method: string; uri: string; destination: string; content?: unknown }, k = key, origin = 'probe.test') => {
    const auth = parseXMatrixHeader(header)!;
    const obj = { ...requestSigningObject({ ...over, origin }), signatures: { [origin]: { [auth.key]: auth.sig } } };
    return verifyJsonSignature(obj, origin, auth.key, k.publicKey).ok;
  };
  const right = { method: 'POST', uri: '/x?a=b', destination: 'target.test', content: { a: 1 } };
  t.ok(verifies(headers.signedHeader(req, keys), right));
  t.equal(parseXMatrixHeader(headers.signedHeader(req, keys))!.destination, 'target.test');
  t.notOk(verifies(headers.forgedHeader(req, keys), right), 'forged');
  t.ok(verifies(headers.forgedHeader(req, keys), right, keys.forger), 'by the forger');
  t.ok(verifies(headers.otherUriHeader(req, keys), { ...right, uri: '/x?a=b&probe=other' }));
  t.ok(verifies(headers.otherUriHeader({ method: 'GET', uri: '/x' }, keys), { method: 'GET', uri: '/x?probe=other', destination: 'target.test' }));
  t.ok(verifies(headers.otherMethodHeader(req, keys), { ...right, method: 'GET' }));
  t.ok(verifies(headers.otherMethodHeader({ method: 'GET', uri: '/x' }, keys), { method: 'POST', uri: '/x', destination: 'target.test' }));
  t.ok(verifies(headers.otherBodyHeader(req, keys)!, { ...right, content: { a: 1, probe: 'other' } }));
  t.equal(headers.otherBodyHeader({ method: 'GET', uri: '/x' }, keys), undefined);
  t.equal(parseXMatrixHeader(headers.wrongDestinationHeader(req, keys))!.destination, headers.OTHER_DESTINATION);
  t.ok(verifies(headers.wrongDestinationHeader(req, keys), { ...right, destination: headers.OTHER_DESTINATION }));
  const missing = parseXMatrixHeader(headers.missingDestinationHeader(req, keys))!;
  t.equal(missing.destination, undefined);
  t.ok(verifies(headers.missingDestinationHeader(req, keys), { ...right, destination: headers.OTHER_DESTINATION }));
  t.ok(verifies(headers.omittedDestinationHeader(req, keys), right));
  t.equal(parseXMatrixHeader(headers.omittedDestinationHeader(req, keys))!.destination, undefined);
  t.equal(parseXMatrixHeader(headers.unknownKeyHeader(req, keys))!.key, 'ed25519:other');
  t.ok(verifies(headers.unfetchableOriginHeader(req, keys), right, keys.unfetchableKey, 'nokeys.invalid'));
  const malformed = headers.malformedHeaders(req, keys);
  t.equal(malformed.length, 9);
  for (const { label, header } of malformed) {
    // Each is refused by fedpeer's parser, or (signature, key id, scheme) by the checks after it.
    let parsed: ReturnType<typeof parseXMatrixHeader> | 'threw';
    try {
      parsed = parseXMatrixHeader(header);
    } catch {
      parsed = 'threw';
    }
    if (['sig not base64', 'key id without algorithm', 'origin not a server name'].includes(label)) t.type(parsed, 'object', label);
    else if (label === 'another scheme') t.equal(parsed, null, label);
    else t.equal(parsed, 'threw', label);
  }
});

const ev = (over: Partial<RequestEvent>): RequestEvent => ({ kind: 'request', at: 1, remote: '127.0.0.1', method: 'GET', path: '/_matrix/key/v2/server', host: 'probe.test', user_agent: 'Synapse/1.99', sni: 'probe.test', tls_version: 'TLSv1.3', status: 200, ...over });

t.test('outbound observations', async (t) => {
  const origin = { targetAddresses: ['10.0.0.1'], targetSoftware: 'Synapse' };
  t.match(judgeKeyFetch({ baselineAccepted: false, keyId: 'ed25519:k', fetches: [], origin }), { verdict: 'could_not_run' });
  t.match(judgeKeyFetch({ baselineAccepted: true, keyId: 'ed25519:k', fetches: [ev({ user_agent: 'Other/1', remote: '10.9.9.9' })], origin }), {
    verdict: 'pass',
    reason: /through another server \(a notary\)/,
    observed: { fetches: [{ by: 'another server' }] },
  });
  t.match(judgeKeyFetch({ baselineAccepted: true, keyId: 'ed25519:k', fetches: [ev({ user_agent: null, remote: '::ffff:10.0.0.1' })], origin }), { verdict: 'pass', reason: /directly/ });

  t.match(judgeTls({ fetches: [], expectedSni: ['probe.test'] }), { verdict: 'could_not_run' });
  t.match(judgeTls({ fetches: [ev({ sni: undefined, tls_version: undefined })], expectedSni: ['probe.test'] }), { verdict: 'not_applicable' });
  t.match(judgeTls({ fetches: [ev({ sni: null })], expectedSni: ['probe.test'] }), { verdict: 'fail', reason: 'sent no SNI (TLS TLSv1.3)' });
  t.match(judgeTls({ fetches: [ev({ sni: 'other.test' })], expectedSni: ['probe.test'] }), { verdict: 'fail', reason: 'sent SNI "other.test", not probe.test (TLS TLSv1.3)' });
  t.match(judgeTls({ fetches: [ev({ sni: '10.0.0.2' })], expectedSni: null }), { verdict: 'fail', reason: /for an IP address/ });
  t.match(judgeTls({ fetches: [ev({ sni: null, tls_version: 'TLSv1.2' })], expectedSni: null }), { verdict: 'pass', reason: 'no SNI, as for an IP address; TLS TLSv1.2' });

  t.match(judgeHostHeader({ fetches: [], expectedHosts: ['probe.test'] }), { verdict: 'could_not_run' });
  t.match(judgeHostHeader({ fetches: [ev({ host: 'probe.test:8448' }), ev({ host: null })], expectedHosts: ['probe.test'] }), { verdict: 'fail', reason: 'Host "probe.test:8448", null instead of probe.test' });

  const facts = { host: 'probe.test', explicitPort: false, ipLiteral: false, wellKnownObservable: true, wellKnownRequests: [] as RequestEvent[], dnsQuestions: [] as Array<{ at: number; name: string; type: string }> };
  const q = (at: number, name: string, type: string) => ({ at, name, type });
  const wk = (at: number, status?: number) => ev({ at, path: '/.well-known/matrix/server', ...(status === undefined ? { status: undefined } : { status }) });
  t.match(judgeResolution({ ...facts, dnsQuestions: null, wellKnownObservable: false }), {
    verdict: 'could_not_run',
    reason: 'no lookup of probe.test was seen: the target may have it cached from an earlier run, or there was nothing to see it with (run the probe with --dns-listen and point the target at it; give the probe a TLS listener on 443)',
  });
  t.match(judgeResolution({ ...facts }), { verdict: 'could_not_run', reason: 'no lookup of probe.test was seen: the target may have it cached from an earlier run' });
  t.match(judgeResolution({ ...facts, dnsQuestions: [q(1, '_matrix._tcp.probe.test', 'SRV'), q(2, '_matrix-fed._tcp.probe.test', 'SRV')], wellKnownRequests: [wk(0, 404)] }), {
    verdict: 'fail',
    reason: 'asked _matrix._tcp.probe.test before _matrix-fed._tcp.probe.test (seen: GET https://probe.test/.well-known/matrix/server (404), then SRV _matrix._tcp.probe.test, then SRV _matrix-fed._tcp.probe.test)',
  });
  t.match(judgeResolution({ ...facts, dnsQuestions: [q(1, '_matrix-fed._tcp.probe.test', 'SRV')], wellKnownRequests: [wk(2, 404)] }), { verdict: 'fail', reason: /^looked up SRV records before asking for the well-known/ });
  t.match(judgeResolution({ ...facts, dnsQuestions: [q(1, '_matrix-fed._tcp.probe.test', 'SRV')] }), { verdict: 'fail', reason: /^looked up SRV records before asking for the well-known/ });
  t.match(judgeResolution({ ...facts, dnsQuestions: [q(2, '_matrix-fed._tcp.probe.test', 'SRV')], wellKnownRequests: [wk(1, 200)] }), { verdict: 'fail', reason: /^looked up SRV records of probe\.test after its well-known delegated it/ });
  t.match(judgeResolution({ ...facts, dnsQuestions: [q(2, 'probe.test', 'A'), q(3, 'unrelated.test', 'A'), q(4, 'probe.test', 'MX')], wellKnownRequests: [wk(1)] }), {
    verdict: 'pass',
    reason: 'GET https://probe.test/.well-known/matrix/server (no answer), then A probe.test',
  });
  t.match(judgeResolution({ ...facts, explicitPort: true, wellKnownRequests: [wk(1, 404)] }), { verdict: 'fail', reason: /^asked for the well-known of a name with an explicit port/ });
  t.match(judgeResolution({ ...facts, ipLiteral: true, dnsQuestions: [q(1, '_matrix-fed._tcp.probe.test', 'SRV')] }), { verdict: 'fail', reason: /^looked up SRV records for an IP address/ });
  t.match(judgeResolution({ ...facts, explicitPort: true, dnsQuestions: [q(1, 'probe.test', 'AAAA')] }), { verdict: 'pass', reason: 'used a name with an explicit port directly: AAAA probe.test' });

  const u = 'probe.test:8449';
  t.match(judgeCertificateVerification({ untrustedOrigin: u, response: { failure: 'timeout' }, events: [] }), { verdict: 'could_not_run', reason: 'no answer (timeout)' });
  t.match(judgeCertificateVerification({ untrustedOrigin: u, response: { status: 401, errcode: 'M_UNAUTHORIZED' }, events: [] }), { verdict: 'could_not_run', reason: /never connected to probe\.test:8449/ });
  t.match(
    judgeCertificateVerification({
      untrustedOrigin: u,
      response: { status: 401, errcode: 'M_UNAUTHORIZED' },
      events: [
        { kind: 'connection', at: 1, remote: 'x' },
        { kind: 'tls_refused', at: 2, remote: 'x', error: 'tlsv1 alert unknown ca' },
      ],
    }),
    { verdict: 'pass', reason: 'connected to probe.test:8449, aborted the handshake (tlsv1 alert unknown ca), and refused the request (401 M_UNAUTHORIZED)' },
  );
});

function result(over: Partial<CheckResult>): CheckResult {
  return {
    id: 'auth.unsigned',
    group: 'auth',
    title: 'An unsigned request is refused',
    requirement: 'must',
    spec: { section: 'S', url: 'https://spec.matrix.org/#x' },
    expected: 'E',
    verdict: 'pass',
    reason: 'R',
    exchanges: [],
    duration_ms: 12,
    ...over,
  };
}

t.test('report formats carry every verdict', async (t) => {
  const checks = [
    result({}),
    result({
      id: 'identity.version',
      group: 'identity',
      verdict: 'fail',
      requirement: 'should',
      reason: 'bad <thing> & "quotes" # not a directive',
      exchanges: [
        { label: 'a', request: { method: 'GET', path: '/v', authorization: [] }, response: { failure: 'reset' }, finding: 'F1' },
        { label: 'b', request: { method: 'POST', path: '/w', authorization: ['X-Matrix x'], body: '{}', body_bytes: 2 }, response: { status: 500, errcode: 'M_UNKNOWN', error: 'boom' }, finding: 'F2' },
        { label: 'c', request: { method: 'GET', path: '/v', authorization: [] }, response: { status: 502, body: '<html>' }, finding: 'F3' },
      ],
    }),
    result({ id: 'errors.bad-json', group: 'errors', verdict: 'not_applicable', reason: 'no notary' }),
    result({ id: 'rooms.valid-event', group: 'rooms', verdict: 'could_not_run', reason: 'later\u0001' }),
  ];
  const report: ProbeReport = { schema: 'fedpeer-probe/1', fedpeer_version: '0.1.0', target: 't.test', origin: 'p.test', started_at: '2030-01-01T00:00:00.000Z', duration_ms: 1500, ok: false, summary: summarise(checks), checks };
  t.same(report.summary, { pass: 1, fail: 1, not_applicable: 1, could_not_run: 1 });
  const text = formatTextReport(report);
  t.match(text, /^fedpeer probe t\.test as p\.test: 1 passed, 1 failed, 1 not applicable, 1 could not run \(1\.5 s\)\n\nidentity\n {2}FAIL {2}identity\.version {2}An unsigned request is refused \(should\)\n/);
  t.match(text, / {8}- a: F1\n {10}sent: GET \/v \(no Authorization\)\n {10}got: {2}no answer \(reset\)\n/);
  t.match(text, / {10}sent: POST \/w \(Authorization: X-Matrix x, 2-byte body\)\n {10}got: {2}500 M_UNKNOWN: boom\n/);
  t.match(text, / {10}got: {2}502 without a Matrix error body: <html>\n/);
  t.match(text, /\n {2}N\/A {3}errors\.bad-json .*\n {8}no notary\n\nrooms\n {2}SKIP {2}rooms\.valid-event/);
  t.match(text, /\n1 check\(s\) failed: identity\.version$/);
  const tap = formatTapReport(report).split('\n');
  t.equal(tap[2], '1..4');
  t.equal(tap[4], 'not ok 2 - identity.version: An unsigned request is refused');
  t.equal(tap[5], '  ---');
  t.equal(tap[6], '  reason: "bad <thing> & \\"quotes\\" # not a directive"');
  t.match(tap, ['TAP version 14', /^# /, '1..4', 'ok 1 - auth.unsigned: An unsigned request is refused']);
  t.ok(tap.includes('ok 3 - errors.bad-json: An unsigned request is refused # SKIP not applicable: no notary'));
  const junit = formatJunitReport(report);
  t.match(junit, /<failure message="bad &lt;thing&gt; &amp; &quot;quotes&quot; # not a directive" type="should">bad &lt;thing&gt;/);
  t.match(junit, /<skipped message="could not run: later\uFFFD"\/>/);
  t.match(junit, /<testsuites name="fedpeer probe t\.test as p\.test" tests="4" failures="1" errors="0" skipped="2" time="1\.500">/);
  t.equal(xmlEscape("a'b"), 'a&apos;b');
});

t.test('--only: ids and groups, in run order', async (t) => {
  t.equal(selectChecks().length, ALL_CHECKS.length);
  t.same(selectChecks([]).length, ALL_CHECKS.length);
  t.same(
    selectChecks(['auth.unsigned', ' identity ']).map((c) => c.id),
    ['identity.server-name', 'identity.verify-keys', 'identity.self-signature', 'identity.valid-until', 'identity.old-verify-keys', 'identity.version', 'auth.unsigned'],
  );
  t.throws(() => selectChecks(['nope']), UnknownCheckError);
  t.equal(new Set(ALL_CHECKS.map((c) => c.id)).size, ALL_CHECKS.length, 'ids are unique');
  for (const c of ALL_CHECKS) t.match(c.id, new RegExp(`^${c.group}\\.[a-z-]+$`), `${c.id} is <group>.<name>`);
});

t.test("the probe's DNS server", async (t) => {
  const hosts = new Map([['probe.test', ['127.112.1.1', '::1']]]);
  t.equal(answerQuery(Buffer.from('junk'), hosts), undefined);
  const response = packet.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'probe.test' }] });
  t.equal(answerQuery(response, hosts), undefined, 'answers are not answered');
  const two = packet.encode({ type: 'query', id: 2, questions: [{ type: 'A', name: 'a' }, { type: 'A', name: 'b' }] });
  t.equal((packet.decode(answerQuery(two, hosts)!.reply) as { rcode?: string }).rcode, 'FORMERR');

  const server = await startProbeDnsServer({ address: block('probe-units')(0, 53), port: 0, hosts });
  t.teardown(() => server.close());
  const resolver = new dnsPromises.Resolver({ timeout: 500, tries: 1 });
  resolver.setServers([`${server.address}:${server.port}`]);
  t.same(await resolver.resolve4('PROBE.test'), ['127.112.1.1']);
  t.same(await resolver.resolve6('probe.test'), ['::1']);
  await t.rejects(resolver.resolveSrv('_matrix-fed._tcp.probe.test'), { code: 'ENOTFOUND' });
  await t.rejects(resolver.resolveMx('probe.test'), { code: 'ENODATA' }, 'a known name without the type');
  t.same(
    server.questions.map((q) => `${q.type} ${q.name}`),
    ['A probe.test', 'AAAA probe.test', 'SRV _matrix-fed._tcp.probe.test', 'MX probe.test'],
  );
});

t.test('the observer records refused handshakes and caps what it keeps', async (t) => {
  const { makeTestPki } = await import('./harness/test-ca.js');
  const { createServer } = await import('node:https');
  const { connect } = await import('node:net');
  const { observeServers } = await import('../src/probe/observer.js');
  const { eventually } = await import('./harness/tls-probe.js');
  const leaf = await (await makeTestPki()).leaf(['probe.test']);
  const server = createServer({ cert: leaf.chainPem, key: leaf.keyPem }, (_req, res) => res.end());
  const address = block('probe-units')(2, 1);
  await new Promise<void>((resolve) => server.listen(8448, address, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const before = ['connection', 'tlsClientError', 'request'].map((e) => server.listenerCount(e));
  const log = observeServers([server], { maxEvents: 2 });
  // Plain HTTP on a TLS port: the handshake fails on the server's side.
  for (let i = 0; i < 2; i++) {
    const socket = connect(8448, address, () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => {});
    socket.resume();
    await new Promise((resolve) => socket.on('close', resolve));
  }
  await eventually(() => log.dropped >= 1, { withinMs: 2000, everyMs: 20 });
  t.match(log.events, [{ kind: 'connection' }, { kind: 'tls_refused', error: /./ }]);
  t.ok(log.dropped >= 1, 'the second connection was counted, not kept');
  log.clear();
  t.equal(log.events.length, 0);
  t.equal(log.dropped, 0);
  log.detach();
  t.same(['connection', 'tlsClientError', 'request'].map((e) => server.listenerCount(e)), before, 'detached');
});

t.test('the schema validator used on the reports finds what is wrong', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { validateJsonSchema } = await import('./harness/json-schema.js');
  const schema = JSON.parse(readFileSync(new URL('../docs/probe-report.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
  const good: ProbeReport = { schema: 'fedpeer-probe/1', fedpeer_version: '0', target: 't', origin: 'o', started_at: '2030-01-01T00:00:00.000Z', duration_ms: 1, ok: true, summary: summarise([]), checks: [result({ exchanges: [{ label: 'l', request: { method: 'GET', path: '/', authorization: [] }, response: { failure: 'x' }, finding: 'f' }] })] };
  t.same(validateJsonSchema(schema, good), []);
  const bad = JSON.parse(JSON.stringify(good));
  bad.schema = 'other';
  bad.extra = 1;
  delete bad.summary.fail;
  bad.checks[0].verdict = 'maybe';
  bad.checks[0].duration_ms = -1;
  bad.checks[0].exchanges[0].response = { status: 200, failure: 'both' };
  bad.checks[0].exchanges[0].request.path = 'relative';
  bad.ok = 'yes';
  t.same(validateJsonSchema(schema, bad).sort(), [
    '$.checks[0].duration_ms: -1 < 0',
    '$.checks[0].exchanges[0].request.path: "relative" does not match ^/',
    '$.checks[0].exchanges[0].response: matches 0 of the oneOf alternatives, not exactly one',
    '$.checks[0].verdict: "maybe" is not one of ["pass","fail","not_applicable","could_not_run"]',
    '$.ok: expected boolean, got string',
    '$.schema: expected "fedpeer-probe/1", got "other"',
    '$.summary: missing fail',
    '$: unexpected property extra',
  ]);
  t.match(validateJsonSchema({ type: 'object', format: 'x', $ref: '#/$defs/none' }, {}), ['$: schema keyword format is not supported', '$: unresolved $ref #/$defs/none']);
});

t.test('docs/PROBE.md describes every check', async (t) => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../docs/PROBE.md', import.meta.url), 'utf8');
  for (const c of ALL_CHECKS) t.match(doc, `| \`${c.id}\` |`, c.id);
});

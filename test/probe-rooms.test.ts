// The probe's room checks against fedpeer targets on the private internet:
// a room of the target's joined with --room, a room of the probe's joined by
// a client token's user, and room peers with one part of receiving events
// swapped, each flagged by exactly the check about that part.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeWorld } from './harness/probe-world.js';
import { startClientApi } from './harness/client-api.js';
import { acceptForgedSignatures, acceptOversizedTransactions, acceptOwnUsersFromOthers, dropWrongHashes, forgetTransactionIds, serveRejectedEvents } from './harness/wrong-rooms.js';
import { validateJsonSchema } from './harness/json-schema.js';
import { parseSigningKeys } from '../src/matrix/signing-key.js';
import { roomChecks } from '../src/probe/checks/rooms.js';
import type { Fixture } from './harness/server-fixture.js';

const schema = JSON.parse(readFileSync(new URL('../docs/probe-report.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const ROOM_IDS = roomChecks.map((c) => c.id);

const world = await probeWorld('probe-rooms');
t.teardown(() => world.close());
const probeKey = parseSigningKeys(readFileSync(join(world.dir, 'probe.signing.key'), 'utf8'))[0]!;

/** A fedpeer target with a local user `host` and a public room #probe hosted by it. */
async function roomTarget(name: string, c: number, raw: Record<string, unknown> = {}): Promise<Fixture> {
  const target = await world.startTarget(name, c, { test_users: { [`@host:${name}`]: {}, [`@user:${name}`]: {} }, ...raw });
  await target.server.rooms.createRoom({ creator: `@host:${name}`, alias: 'probe', joinRule: 'public' });
  return target;
}

const verdicts = (report: { checks: Array<{ id: string; verdict: string; reason: string }> }) => Object.fromEntries(report.checks.map((c) => [c.id, [c.verdict, c.reason]]));

t.test('--room: every room check passes against fedpeer, and the probe leaves at the end', async (t) => {
  const target = await roomTarget('target.test', 2);
  t.teardown(() => target.close());
  const { code, report } = await world.probeJson('target.test', ['--only', 'rooms', '--room', '#probe:target.test']);
  t.same(report.checks.map((c) => c.id), ROOM_IDS);
  for (const c of report.checks) t.equal(c.verdict, 'pass', `${c.id}: ${c.reason}`);
  t.equal(code, 0);
  t.same(validateJsonSchema(schema, report), [], 'the report follows docs/probe-report.schema.json');
  t.match(verdicts(report), {
    'rooms.valid-event': ['pass', /^@fedpeer-probe:probe\.test joined #probe:target\.test \(!.*:target\.test\)\. State event \$\S+: accepted: \/event serves it, \/state_ids holds it \(\/send: no error\)\. Message \$\S+: accepted: \/event serves it, it is among make_join's prev_events/],
    'rooms.forged-signature': ['pass', /dropped: \/event does not know it \(404\); \/send: error "signature check failed/],
    'rooms.content-hash': ['pass', /kept redacted: \/event serves it with content \{\}/],
    'rooms.auth-power': ['pass', /not accepted: \/event does not know it \(404\); \/send: error "rejected: org\.fedpeer\.probe\.power needs level 50/],
    'rooms.auth-not-joined': ['pass', /not accepted: .*is not joined/],
    'rooms.wrong-room-id': ['pass', /not accepted: \/event does not know it \(404\); \/send had no result for it/],
    'rooms.wrong-origin': ['pass', /dropped: .*not signed by target\.test, the server of the sender @host:target\.test/],
    'rooms.pdu-limit': ['pass', 'refused with 400; /event serves none of its events'],
    'rooms.duplicate-transaction': ['pass', /^not applied twice: the repeat was answered 200 with the same answer as the first/],
  });
  // What was sent is in the report: the forged event's transaction, signed by the probe.
  const forged = report.checks.find((c) => c.id === 'rooms.forged-signature')!;
  t.match(forged.exchanges[0], { label: 'an event with a forged signature', request: { method: 'PUT', path: /^\/_matrix\/federation\/v1\/send\/fedpeer-probe-/, authorization: [/^X-Matrix origin="probe\.test"/] }, response: { status: 200 } });
  const roomId = target.server.rooms.rooms()[0]!;
  const member = target.server.rooms.state(roomId).find((s) => s.stateKey === '@fedpeer-probe:probe.test')!;
  t.equal(member.content.membership, 'leave', "the probe's user left the room at the end");
  const timeline = target.server.rooms.events(roomId).map((e) => e.content.body).filter(Boolean);
  t.ok(timeline.includes('fedpeer probe: a valid event'), 'the valid message is in the target timeline');
  for (const body of ['a forged signature', 'a message from a user who is not joined', 'an event naming another room', 'added to a repeated transaction ID']) {
    t.notOk(timeline.includes(`fedpeer probe: ${body}`), `not in the timeline: ${body}`);
  }
});

t.test('--client-url and --access-token: the probe creates a room, the token user joins it, the client API sees the outcomes', async (t) => {
  const target = await roomTarget('client.test', 3);
  t.teardown(() => target.close());
  // Over https, with a certificate of the test CA the probe's config trusts.
  const leaf = await world.pki.leaf([world.addr(3, 1)]);
  const api = await startClientApi(target.server.rooms, world.addr(3, 1), 8443, { 'secret-token': '@user:client.test' }, { cert: leaf.chainPem, key: leaf.keyPem, name: world.addr(3, 1) });
  t.teardown(() => api.close());
  const r = await world.probe(['client.test', '--config', world.probeConfig, '--json', '--only', 'rooms', '--client-url', api.url, '--access-token', 'secret-token', '--user', '@user:client.test']);
  const report = JSON.parse(r.stdout) as import('../src/probe/types.js').ProbeReport;
  for (const c of report.checks) t.equal(c.verdict, 'pass', `${c.id}: ${c.reason}`);
  t.equal(r.code, 0);
  t.match(verdicts(report), {
    'rooms.valid-event': ['pass', /^the probe created !\S+:probe\.test; @user:client\.test joined it through the client API\. .*the client is shown it/],
    'rooms.content-hash': ['pass', /kept redacted: \/event serves it with content \{\}, and so is the client/],
    'rooms.auth-not-joined': ['pass', /the client is not shown it/],
    'rooms.auth-power': ['pass', /@fedpeer-probe-member:probe\.test/],
    'rooms.wrong-origin': ['pass', /@user:client\.test/],
  });
  t.notMatch(r.stdout, /secret-token/, 'the token is not in the report');
  t.match(r.stdout, /Bearer <access token>/);
  t.ok(api.seen.includes('GET /_matrix/client/v3/account/whoami'));
  t.ok(api.seen.some((s) => s.startsWith('POST /_matrix/client/v3/rooms/') && s.endsWith('/leave')), 'the user left the room at the end');
  t.same(target.server.rooms.invites(), [], 'the invite was used');
});

t.test('a server that serves rejected events over /event (as Synapse does) still passes: rejection is read from /state_ids or make_join', async (t) => {
  const target = await roomTarget('servesall.test', 4);
  t.teardown(() => target.close());
  serveRejectedEvents(target.server.rooms);
  const { code, report } = await world.probeJson('servesall.test', ['--only', 'rooms', '--room', '#probe:servesall.test']);
  for (const c of report.checks) t.equal(c.verdict, 'pass', `${c.id}: ${c.reason}`);
  t.equal(code, 0);
  t.match(verdicts(report), {
    // The state after a rejected event leaves it out (spec, "Rejection"), so /state_ids at it tells first.
    'rooms.auth-power': ['pass', /rejected: kept \(\/event serves it\) but (\/state_ids after it does not hold it|not among the prev_events of the event the target made next \(make_join\))/],
    'rooms.auth-not-joined': ['pass', /rejected: kept \(\/event serves it\) but (\/state_ids after it does not hold it|not among the prev_events of the event the target made next \(make_join\))/],
  });
});

const wrong: Array<[string, number, string, RegExp, (f: Fixture) => void]> = [
  ['forgery.test', 5, 'rooms.forged-signature', /\/event serves it: it was kept, not dropped; it is among the prev_events of the event the target made next/, (f) => acceptForgedSignatures(f.server.rooms, 'probe.test', probeKey)],
  ['dropper.test', 6, 'rooms.content-hash', /\/event does not know it \(404\): it was dropped instead of kept redacted/, (f) => dropWrongHashes(f.server.rooms)],
  ['forgetful.test', 7, 'rooms.duplicate-transaction', /^the transaction ID was processed a second time: its answer lists the added event and \/event serves the added event$/, (f) => forgetTransactionIds(f.server.rooms)],
  ['impostor.test', 11, 'rooms.wrong-origin', /\/event serves it: it was kept, not dropped; it is among the prev_events of the event the target made next/, (f) => acceptOwnUsersFromOthers(f.server.rooms)],
  ['glutton.test', 12, 'rooms.pdu-limit', /^answered 200, yet \/event serves 2 of its events \(\$\S+, \.\.\.\): the transaction was applied$/, (f) => acceptOversizedTransactions(f.server.rooms)],
];

for (const [name, c, check, reason, deviate] of wrong) {
  t.test(`${name} is flagged by ${check} alone, over the whole run`, async (t) => {
    const target = await roomTarget(name, c);
    t.teardown(() => target.close());
    deviate(target);
    const { code, report } = await world.probeJson(name, ['--room', `#probe:${name}`]);
    const failed = report.checks.filter((x) => x.verdict === 'fail');
    t.same(failed.map((x) => x.id), [check]);
    t.match(failed[0]?.reason, reason);
    t.equal(code, 1);
    t.same(
      report.checks.filter((x) => x.group === 'rooms' && x.id !== check && x.verdict !== 'pass').map((x) => x.id),
      [],
      'every other room check passes',
    );
  });
}

t.test('when the room cannot be had, the room checks say why', async (t) => {
  const target = await roomTarget('paths.test', 8);
  t.teardown(() => target.close());
  await target.server.rooms.createRoom({ creator: '@host:paths.test', alias: 'powerful', joinRule: 'public', powerLevels: { users_default: 100 } });
  const api = await startClientApi(target.server.rooms, world.addr(8, 1), 8008, { good: '@user:paths.test', stranger: '@nobody:paths.test' });
  t.teardown(() => api.close());
  const run = async (args: string[]) => (await world.probeJson('paths.test', ['--only', 'rooms.valid-event,rooms.auth-power', ...args])).report.checks;
  const client = (token: string) => ['--client-url', api.url, '--access-token', token];

  t.match(await run(['--room', '#nothing:paths.test']), [{ verdict: 'could_not_run', reason: /^@fedpeer-probe:probe\.test could not join #nothing:paths\.test through paths\.test: / }, { verdict: 'could_not_run' }]);
  t.match(await run(client('wrong')), [{ verdict: 'could_not_run', reason: `the client API at ${api.url} did not take the access token (whoami: 401 M_UNKNOWN_TOKEN)` }]);
  t.match(await run([...client('good'), '--user', '@other:paths.test']), [{ verdict: 'could_not_run', reason: "the access token is @user:paths.test's, not @other:paths.test's as --user says" }]);
  t.match(await run(client('stranger')), [{ verdict: 'could_not_run', reason: /^the target refused the invite of @nobody:paths\.test to the probe's room: / }]);
  t.match(await run(['--room', '#powerful:paths.test', ...client('good')]), [
    { verdict: 'pass', reason: /^@fedpeer-probe:probe\.test joined #powerful:paths\.test \(!\S+\); @user:paths\.test \(the access token's user\) is not in it, so the client API shows nothing\. / },
    { verdict: 'could_not_run', reason: /^@fedpeer-probe:probe\.test has power 100 in !\S+, enough for a org\.fedpeer\.probe\.power state event \(50\): give a room where the probe's user has less power$/ },
  ]);
});

t.test('a target busy with another transaction (429) gets the transaction again', async (t) => {
  const target = await roomTarget('busy.test', 9);
  t.teardown(() => target.close());
  let refused = 0;
  target.server.rooms.hooks.onSend = (req) => (req.origin === 'probe.test' && refused++ === 0 ? { reject: { status: 429, errcode: 'M_UNKNOWN', error: 'Too many concurrent transactions' } } : undefined);
  const { report } = await world.probeJson('busy.test', ['--only', 'rooms.forged-signature', '--room', '#probe:busy.test']);
  t.match(report.checks, [{ verdict: 'pass' }]);
  t.ok(refused > 1, 'the refused transaction came again');
});

t.test("the client API's answers are bounded: size, time, and a refused connection", async (t) => {
  const { createServer } = await import('node:http');
  const { createClientApi } = await import('../src/probe/client-api.js');
  const address = world.addr(10, 1);
  const server = createServer((req, res) => {
    if (req.url?.endsWith('/whoami')) {
      // A trickle, one byte a while: only the deadline of the whole exchange ends it.
      res.writeHead(200, { 'content-type': 'application/json' });
      const tick = setInterval(() => res.write(' '), 50);
      res.on('close', () => clearInterval(tick));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"content":"${'x'.repeat(1024 * 1024)}"}`);
  });
  await new Promise<void>((resolve) => server.listen(8008, address, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.on('connection', (s) => t.teardown(() => s.destroy()));
  const api = createClientApi({ url: `http://${address}:8008`, token: 'tok', timeoutMs: 400 });
  t.match(await api.whoami(), { response: { failure: /no complete answer within 400 ms/ } });
  t.match(await api.event('!r:x', '$e'), { response: { failure: 'answer larger than 1048576 bytes' } });
  const refused = createClientApi({ url: `http://${world.addr(10, 2)}:8008`, token: 'tok', timeoutMs: 400 });
  t.match(await refused.leave('!r:x'), { request: { method: 'POST', path: '/_matrix/client/v3/rooms/!r%3Ax/leave', authorization: ['Bearer <access token>'] }, response: { failure: /ECONNREFUSED/ } });
});

t.test('rooms of other versions: 1 (event IDs in the event, reference pairs) and 11', async (t) => {
  for (const [i, version] of ['1', '11'].entries()) {
    const name = `v${version}.test`;
    const target = await world.startTarget(name, 20 + i, { test_users: { [`@host:${name}`]: {} } });
    t.teardown(() => target.close());
    await target.server.rooms.createRoom({ creator: `@host:${name}`, alias: 'probe', joinRule: 'public', roomVersion: version });
    const { report } = await world.probeJson(name, ['--only', 'rooms', '--room', `#probe:${name}`]);
    for (const c of report.checks) t.equal(c.verdict, 'pass', `room version ${version}, ${c.id}: ${c.reason}`);
  }
});

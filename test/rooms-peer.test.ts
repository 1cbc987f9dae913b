// Two real fedpeers on the private internet federate rooms: each hosts a
// room the other joins, messages and state go both ways, invites, leaves and
// bans, a restart in the middle, and a fork from concurrent sends that both
// resolve to the same state.
import t from 'tap';
import { federationWorld } from './harness/federation.js';
import { startFixture, type Fixture } from './harness/server-fixture.js';

const world = await federationWorld('rooms-peer');
const { dns, addr } = world;
t.teardown(() => world.close());

const outbound = { federation_custom_ca_list: [world.caFile], federation_dns_servers: [dns.hostPort], ip_range_whitelist: ['127.82.0.0/16'] };
async function start(name: string, c: number, users: Record<string, unknown>, dir?: string): Promise<Fixture> {
  dns.set(name, 'A', addr(c, 1));
  return startFixture({ address: addr(c, 1), serverName: name, certNames: [name], raw: { ...outbound, test_users: users, ...(dir ? { data_dir: dir } : {}) } });
}
const A = await start('a.test', 1, { '@alice:a.test': { displayname: 'Alice' }, '@amy:a.test': {} });
t.teardown(() => A.close());
const B = await start('b.test', 2, { '@bob:b.test': { displayname: 'Bob' }, '@ben:b.test': {} });
t.teardown(() => B.close());
const a = A.server.rooms;
const b = B.server.rooms;

t.test('B joins a room A hosts, by alias; messages both ways', async (t) => {
  const { roomId, alias } = await a.createRoom({ creator: '@alice:a.test', alias: 'lobby', name: 'Lobby' });
  t.equal(alias, '#lobby:a.test');
  const joined = await b.join('@bob:b.test', '#lobby:a.test');
  t.equal(joined.roomId, roomId);
  await a.waitForEvent(roomId, (e) => e.eventId === joined.eventId, { timeout: 5000 });
  t.same(b.state(roomId).find((s) => s.type === 'm.room.name')?.content, { name: 'Lobby' }, 'B has the state');
  const fromA = await a.send('@alice:a.test', roomId, 'hello from A');
  const seenByB = await b.waitForEvent(roomId, (e) => e.eventId === fromA.eventId, { timeout: 5000 });
  t.equal(seenByB.content.body, 'hello from A');
  const fromB = await b.send('@bob:b.test', roomId, 'hello from B');
  const seenByA = await a.waitForEvent(roomId, (e) => e.eventId === fromB.eventId, { timeout: 5000 });
  t.equal(seenByA.content.body, 'hello from B');
  const bTimeline = b.events(roomId).map((e) => e.eventId);
  t.same(bTimeline.slice(bTimeline.indexOf(joined.eventId)), [joined.eventId, fromA.eventId, fromB.eventId], 'B timeline from its join');
  t.same(b.events(roomId).slice(0, bTimeline.indexOf(joined.eventId)).map((e) => e.eventId), a.events(roomId).slice(0, -3).map((e) => e.eventId), 'and the history before it, backfilled');
  t.same(a.events(roomId).slice(-3).map((e) => e.eventId), [joined.eventId, fromA.eventId, fromB.eventId]);
  t.same(a.state(roomId), b.state(roomId), 'same current state');
});

t.test('A joins a room B hosts by ID; state both ways', async (t) => {
  const { roomId } = await b.createRoom({ creator: '@bob:b.test', roomVersion: '9' });
  const joined = await a.join('@alice:a.test', roomId);
  await b.waitForEvent(roomId, (e) => e.eventId === joined.eventId, { timeout: 5000 });
  const topicA = await a.sendState('@alice:a.test', roomId, 'm.room.topic', '', { topic: 'from A' }).catch((e) => e);
  t.match(topicA, { status: 403, errcode: 'M_FORBIDDEN' }, 'alice lacks the power level for state');
  const topicB = await b.sendState('@bob:b.test', roomId, 'm.room.topic', '', { topic: 'from B' });
  await a.waitForEvent(roomId, (e) => e.eventId === topicB.eventId, { timeout: 5000 });
  t.same(a.state(roomId).find((s) => s.type === 'm.room.topic')?.content, { topic: 'from B' });
  const custom = await a.sendState('@alice:a.test', roomId, 'org.example.custom', '@alice:a.test', { n: 1 }).catch((e) => e);
  t.match(custom, { errcode: 'M_FORBIDDEN' }, 'state_default 50 stops alice');
  const pl = b.state(roomId).find((s) => s.type === 'm.room.power_levels')!;
  const raised = await b.sendState('@bob:b.test', roomId, 'm.room.power_levels', '', { ...pl.content, users: { '@bob:b.test': 100, '@alice:a.test': 50 } });
  await a.waitForEvent(roomId, (e) => e.eventId === raised.eventId, { timeout: 5000 });
  const custom2 = await a.sendState('@alice:a.test', roomId, 'org.example.custom', '@alice:a.test', { n: 2 });
  await b.waitForEvent(roomId, (e) => e.eventId === custom2.eventId, { timeout: 5000 });
  t.same(b.state(roomId).find((s) => s.type === 'org.example.custom')?.content, { n: 2 }, 'state from A reached B');
  t.same(a.state(roomId), b.state(roomId), 'same current state');
});

t.test('invites both ways; an uninvited server cannot join an invite-only room', async (t) => {
  const { roomId } = await a.createRoom({ creator: '@alice:a.test', joinRule: 'invite' });
  const refused = await b.join('@ben:b.test', roomId).catch((e) => e);
  t.match(refused, { status: 403 }, 'not invited: refused');
  const invited = await a.invite('@alice:a.test', roomId, '@bob:b.test');
  t.ok(b.invites('@bob:b.test').some((i) => i.roomId === roomId), 'B holds the invite');
  const inviteEvent = a.events(roomId).find((e) => e.eventId === invited.eventId)!;
  t.ok((inviteEvent.pdu.signatures as Record<string, unknown>)['b.test'], 'co-signed by B');
  const joined = await b.join('@bob:b.test', roomId);
  await a.waitForEvent(roomId, (e) => e.eventId === joined.eventId, { timeout: 5000 });
  t.same(b.invites('@bob:b.test').filter((i) => i.roomId === roomId), [], 'invite used');

  const theirs = await b.createRoom({ creator: '@bob:b.test', joinRule: 'invite', roomVersion: '1' });
  await b.invite('@bob:b.test', theirs.roomId, '@amy:a.test');
  t.equal(a.invites('@amy:a.test').length, 1);
  const amy = await a.join('@amy:a.test', theirs.roomId);
  await b.waitForEvent(theirs.roomId, (e) => e.eventId === amy.eventId, { timeout: 5000 });
  t.equal(b.state(theirs.roomId).find((s) => s.stateKey === '@amy:a.test')?.content.membership, 'join', 'room version 1 join');

  // A declined invite goes back through make_leave / send_leave.
  await b.invite('@bob:b.test', theirs.roomId, '@alice:a.test');
  const declined = await a.leave('@alice:a.test', theirs.roomId);
  await b.waitForEvent(theirs.roomId, (e) => e.eventId === declined.eventId, { timeout: 5000 });
  t.equal(b.state(theirs.roomId).find((s) => s.stateKey === '@alice:a.test')?.content.membership, 'leave');
});

t.test('leave and ban: a banned user cannot join again', async (t) => {
  const { roomId } = await a.createRoom({ creator: '@alice:a.test' });
  const ben = await b.join('@ben:b.test', roomId);
  const bob = await b.join('@bob:b.test', roomId);
  t.not(ben.eventId, bob.eventId);
  await a.waitForEvent(roomId, (e) => e.eventId === bob.eventId, { timeout: 5000 });
  const left = await b.leave('@bob:b.test', roomId);
  await a.waitForEvent(roomId, (e) => e.eventId === left.eventId, { timeout: 5000 });
  t.equal(a.state(roomId).find((s) => s.stateKey === '@bob:b.test')?.content.membership, 'leave');
  const ban = await a.sendState('@alice:a.test', roomId, 'm.room.member', '@ben:b.test', { membership: 'ban', reason: 'test' });
  await b.waitForEvent(roomId, (e) => e.eventId === ban.eventId, { timeout: 5000 });
  const again = await b.join('@ben:b.test', roomId).catch((e) => e);
  t.match(again, { status: 403 }, 'banned: refused');
  // B has no member left in the room: A answers its questions no more.
  const err = await B.server.peer.client.request('a.test', 'GET', `/_matrix/federation/v1/state_ids/${encodeURIComponent(roomId)}?event_id=${encodeURIComponent(ban.eventId)}`).catch((e) => e);
  t.match(err, { status: 403, body: { errcode: 'M_FORBIDDEN' } });
});

t.test('concurrent state changes fork the room; both sides resolve to the same state', async (t) => {
  const { roomId } = await a.createRoom({ creator: '@alice:a.test', powerLevels: { users: { '@alice:a.test': 100, '@bob:b.test': 100 } } });
  const joined = await b.join('@bob:b.test', roomId);
  await a.waitForEvent(roomId, (e) => e.eventId === joined.eventId, { timeout: 5000 });
  // Each side holds incoming transactions a moment, so both changes are made before either sees the other's.
  a.hooks.onSend = () => ({ delayMs: 300 });
  b.hooks.onSend = () => ({ delayMs: 300 });
  t.teardown(() => {
    delete a.hooks.onSend;
    delete b.hooks.onSend;
  });
  const [fromA, fromB] = await Promise.all([
    a.sendState('@alice:a.test', roomId, 'm.room.topic', '', { topic: 'A says' }),
    b.sendState('@bob:b.test', roomId, 'm.room.topic', '', { topic: 'B says' }),
  ]);
  await a.waitForEvent(roomId, (e) => e.eventId === fromB.eventId, { timeout: 5000 });
  await b.waitForEvent(roomId, (e) => e.eventId === fromA.eventId, { timeout: 5000 });
  t.equal(a.data.room(roomId)!.extremities.length, 2, 'A has two forward extremities');
  t.same([...a.data.room(roomId)!.extremities].sort(), [...b.data.room(roomId)!.extremities].sort(), 'the same two on B');
  const topicA = a.state(roomId).find((s) => s.type === 'm.room.topic')!;
  const topicB = b.state(roomId).find((s) => s.type === 'm.room.topic')!;
  t.equal(topicA.eventId, topicB.eventId, `both resolved the topic to the same event (${topicA.content.topic})`);
  t.same(a.state(roomId), b.state(roomId), 'same resolved state');
  // The next event names both extremities and closes the fork.
  const merge = await a.send('@alice:a.test', roomId, 'merge');
  t.same([...merge.eventId ? a.events(roomId).at(-1)!.pdu.prev_events as string[] : []].sort(), [fromA.eventId, fromB.eventId].sort());
  await b.waitForEvent(roomId, (e) => e.eventId === merge.eventId, { timeout: 5000 });
  t.same(b.data.room(roomId)!.extremities, [merge.eventId]);
  t.same(a.state(roomId), b.state(roomId));
});

t.test('a gap longer than one get_missing_events round: the state at the missing prev events is fetched', async (t) => {
  const { roomId } = await a.createRoom({ creator: '@alice:a.test', powerLevels: { users: { '@alice:a.test': 100, '@bob:b.test': 100 } } });
  const joined = await b.join('@bob:b.test', roomId);
  await a.waitForEvent(roomId, (e) => e.eventId === joined.eventId, { timeout: 5000 });
  // A swallows B's transactions unread: B believes them delivered.
  a.hooks.onSend = () => ({ respond: { pdus: {} } });
  const lost: string[] = [];
  for (let i = 0; i < 30; i++) {
    if (i === 3) lost.push((await b.sendState('@bob:b.test', roomId, 'm.room.topic', '', { topic: 'set in the gap' })).eventId);
    lost.push((await b.send('@bob:b.test', roomId, `lost ${i}`)).eventId);
  }
  t.ok(await b.queue.drained(10_000), 'B delivered everything (as far as it knows)');
  delete a.hooks.onSend;
  const last = await b.send('@bob:b.test', roomId, 'after the gap');
  const seen = await a.waitForEvent(roomId, (e) => e.eventId === last.eventId, { timeout: 10_000 });
  t.equal(seen.status, 'accepted');
  const timeline = a.events(roomId).map((e) => e.eventId);
  t.ok(lost.slice(-20).every((id) => timeline.includes(id)), 'the last 20 missing events came through get_missing_events');
  t.notOk(timeline.includes(lost[0]!), 'older ones were not fetched');
  t.same(a.state(roomId).find((s) => s.type === 'm.room.topic')?.content, { topic: 'set in the gap' }, 'the state from before the fetched events came through /state_ids');
  t.same(a.state(roomId), b.state(roomId), 'same state on both');
});

t.test('a restart of B in the middle: history and queue kept, missed events delivered', async (t) => {
  const { roomId } = await a.createRoom({ creator: '@alice:a.test' });
  await b.join('@bob:b.test', roomId);
  const before = await b.send('@bob:b.test', roomId, 'before the restart');
  await a.waitForEvent(roomId, (e) => e.eventId === before.eventId, { timeout: 5000 });
  const historyBefore = b.events(roomId).map((e) => e.eventId);
  await B.close();
  const missed = [];
  for (let i = 0; i < 3; i++) missed.push((await a.send('@alice:a.test', roomId, `while B is down ${i}`)).eventId);
  // A's transaction to B fails and waits for a retry.
  const t0 = Date.now();
  while (a.queue.status('b.test').failures === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  t.ok(a.queue.status('b.test').failures > 0, 'A could not deliver');
  t.ok(a.queue.status('b.test').queued >= 1, 'and keeps it queued');

  const { startServer } = await import('../src/commands/serve.js');
  const { captureLogger } = await import('./harness/server-fixture.js');
  const log = captureLogger();
  const again = await startServer(B.config, { logger: log.logger, accessLog: log.accessLog });
  t.teardown(() => again.close(1000));
  const b2 = again.rooms;
  t.same(b2.events(roomId).map((e) => e.eventId), historyBefore, 'history kept across the restart');
  // B speaks: A hears it is back and sends what it missed.
  const after = await b2.send('@bob:b.test', roomId, 'back');
  await a.waitForEvent(roomId, (e) => e.eventId === after.eventId, { timeout: 5000 });
  for (const id of missed) await b2.waitForEvent(roomId, (e) => e.eventId === id, { timeout: 10_000 });
  t.pass('every missed event arrived');
  t.same(a.state(roomId), b2.state(roomId));
});

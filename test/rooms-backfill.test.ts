// Backfill on join (src/rooms/backfill.ts): a peer joining a room with
// history fetches it from the resident with one bounded /backfill request,
// checks it and shows it before its join, without touching the current
// state; a resident answering with forged, garbage, oversized or endless
// history does not stop the join. Two real peers from the library.
import t from 'tap';
import { startPeer, createDevCa } from '../src/index.js';
import { block } from './harness/addresses.js';

const addr = block('rooms-backfill');
const ca = await createDevCa();
const A = await startPeer({ ca, bind: addr(1, 1), users: { alice: {} } });
t.teardown(() => A.close());
// B's bounds tightened so the oversized and endless answers end in a second, not minutes.
const B = await startPeer({ ca, bind: addr(1, 2), users: { bob: {}, ben: {}, bea: {}, bill: {}, bo: {} }, roomLimits: { backfillBytes: 256 << 10, backfillTimeMs: 1000, backfillEvents: 100 } });
t.teardown(() => B.close());
const alice = `@alice:${A.serverName}`;
const user = (name: string) => `@${name}:${B.serverName}`;

t.test('B joins a room with 30 messages and sees them, in order, before its join', async (t) => {
  const { roomId } = await A.createRoom({ creator: alice, name: 'History' });
  const sent: string[] = [];
  for (let i = 0; i < 30; i++) sent.push((await A.send(alice, roomId, `message ${i}`)).eventId);
  const joined = await B.join(user('bob'), roomId);
  const timeline = B.events(roomId);
  const joinAt = timeline.findIndex((e) => e.eventId === joined.eventId);
  t.ok(joinAt > 30, 'history before the join');
  const before = timeline.slice(0, joinAt);
  t.same(
    before.filter((e) => e.type === 'm.room.message').map((e) => e.content.body),
    sent.map((_, i) => `message ${i}`),
    'the 30 messages, oldest first',
  );
  t.same(before.filter((e) => e.type === 'm.room.message').map((e) => e.eventId), sent);
  t.equal(before[0]!.type, 'm.room.create', 'back to the creation');
  t.ok(before.every((e) => e.status === 'outlier'), 'history is stored as outliers');
  for (let i = 1; i < timeline.length; i++) t.ok(timeline[i]!.depth >= timeline[i - 1]!.depth, `depth ordered at ${i}`);
  t.same(B.state(roomId), A.state(roomId), 'the current state is what the join gave');
  t.same(B.rooms.data.room(roomId)!.extremities, [joined.eventId], 'history adds no extremity');

  // Later events still come after the join, and B still talks in the room.
  const later = await A.send(alice, roomId, 'after the join');
  await B.rooms.waitForEvent(roomId, (e) => e.eventId === later.eventId, { timeout: 5000 });
  const fromB = await B.send(user('bob'), roomId, 'hello');
  await A.rooms.waitForEvent(roomId, (e) => e.eventId === fromB.eventId, { timeout: 5000 });
  t.same(B.events(roomId).slice(-3).map((e) => e.eventId), [joined.eventId, later.eventId, fromB.eventId]);
});

t.test('more history than the limit: the latest 100 events, still in order', async (t) => {
  const { roomId } = await A.createRoom({ creator: alice });
  for (let i = 0; i < 120; i++) await A.send(alice, roomId, `m${i}`);
  const joined = await B.join(user('ben'), roomId);
  const timeline = B.events(roomId);
  const joinAt = timeline.findIndex((e) => e.eventId === joined.eventId);
  const bodies = timeline.slice(0, joinAt).filter((e) => e.type === 'm.room.message').map((e) => e.content.body);
  t.ok(bodies.length <= 100 && bodies.length >= 90, `at most the limit (${bodies.length})`);
  t.equal(bodies.at(-1), 'm119', 'the latest message is there');
  t.same(bodies, [...bodies].sort((x, y) => Number(String(x).slice(1)) - Number(String(y).slice(1))), 'in order');
});

t.test('a hostile resident cannot break the join or change the state', async (t) => {
  const hostile = async (name: string, answer: (roomId: string) => { respond?: unknown; delayMs?: number; reject?: { status: number; errcode: string } }) => {
    const { roomId } = await A.createRoom({ creator: alice });
    const real = await A.send(alice, roomId, 'real');
    A.hooks.onRequest = (r) => (r.endpoint === 'backfill' ? answer(roomId) : undefined);
    try {
      const joined = await B.join(user(name), roomId);
      const timeline = B.events(roomId);
      t.equal(timeline.at(-1)?.eventId, joined.eventId, `${name}: joined`);
      t.same(B.state(roomId), A.state(roomId), `${name}: the state is the join's`);
      t.same(B.rooms.data.room(roomId)!.extremities, [joined.eventId], `${name}: no extremity added`);
      return { roomId, real: real.eventId, timeline };
    } finally {
      delete A.hooks.onRequest;
    }
  };

  // Forged signatures, a bad hash, garbage, events of another room, and one not reached from the join: only real history is kept.
  let forged: string[] = [];
  let other = '';
  const r1 = await hostile('bea', (roomId) => {
    const head = A.rooms.data.room(roomId)!.extremities;
    const bad = A.rooms.buildEvent({ roomId, sender: alice, type: 'm.room.message', content: { body: 'forged' }, prevEvents: head, signature: 'bad' });
    const unsigned = A.rooms.buildEvent({ roomId, sender: alice, type: 'm.room.message', content: { body: 'unsigned' }, prevEvents: head, signature: 'none' });
    const stray = A.rooms.buildEvent({ roomId, sender: alice, type: 'm.room.message', content: { body: 'stray' }, prevEvents: [] });
    forged = [bad.eventId, unsigned.eventId, stray.eventId];
    other = stray.eventId;
    const real = A.rooms.queries.backfill(B.serverName, roomId, head, 100).pdus;
    return { respond: { origin: A.serverName, origin_server_ts: 0, pdus: [bad.pdu, unsigned.pdu, stray.pdu, 'garbage', 42, null, { type: 'x' }, ...real] } };
  });
  const shown = new Set(r1.timeline.map((e) => e.eventId));
  t.ok(shown.has(r1.real), 'the real history is there');
  t.notOk(forged.some((id) => shown.has(id)), 'no forged, unsigned or unreachable event shown');
  t.notOk(B.rooms.data.stored(forged[0]!), 'a forged event is not even stored');
  t.notOk(B.rooms.data.stored(other), 'an event the join does not reach is not stored');

  // Thousands of events: only the limit is looked at.
  const r2 = await hostile('bill', (roomId) => {
    const head = A.rooms.data.room(roomId)!.extremities;
    const many = Array.from({ length: 1000 }, (_, i) => A.rooms.buildEvent({ roomId, sender: alice, type: 'm.room.message', content: { body: `spam ${i}` }, prevEvents: head, signature: 'bad' }).pdu);
    return { respond: { pdus: many } };
  });
  t.notOk(r2.timeline.some((e) => String(e.content.body).startsWith('spam')), 'none of the flood');

  // Too large an answer, one that never comes, an error, a body of the wrong shape: the join stands, without history.
  const r3 = await hostile('bo', () => ({ respond: { pdus: [{ content: { body: 'x'.repeat(512 << 10) } }] } }));
  t.equal(r3.timeline.length, 1, 'oversized: only the join');
});

t.test('an endless or failing backfill leaves the join alone', async (t) => {
  // One resident each: a failed request puts its server in B's federation backoff, as any failed request does.
  let d = 0;
  for (const [name, decision] of [
    ['error', { reject: { status: 500, errcode: 'M_UNKNOWN' } }],
    ['shape', { respond: { pdus: 'not a list' } }],
    ['slow', { delayMs: 4000 }],
  ] as const) {
    const R = await startPeer({ ca, bind: addr(2, ++d), users: { rita: {} } });
    t.teardown(() => R.close());
    const rita = `@rita:${R.serverName}`;
    const { roomId } = await R.createRoom({ creator: rita });
    await R.send(rita, roomId, 'history');
    R.hooks.onRequest = (r) => (r.endpoint === 'backfill' ? decision : undefined);
    const started = Date.now();
    const joined = await B.join(user('bob'), roomId);
    t.equal(B.events(roomId).map((e) => e.eventId).join(), joined.eventId, `${name}: the room starts at the join`);
    t.same(B.state(roomId), R.state(roomId), `${name}: the state is the join's`);
    if (name === 'slow') t.ok(Date.now() - started < 4000, 'the join did not wait for the whole delay');
  }
});

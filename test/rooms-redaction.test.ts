// Redactions applied, through two real peers: a redaction accepted in a room
// replaces its target by the redacted form in the timeline, the state and
// every federation answer (/event, /backfill, /get_missing_events, /state),
// on both servers, also when the redaction arrives before its target; the
// apply-time rule of room versions 3 and later (the redact level, or the
// target's server); the auth rule of versions 1 and 2; v11's content.redacts.
import t from 'tap';
import { startPeer, createDevCa, type Peer } from '../src/index.js';
import { block } from './harness/addresses.js';

const addr = block('rooms-redact');
const ca = await createDevCa();
const A = await startPeer({ ca, bind: addr(1, 1), users: { alice: {} }, queueRetry: { initialMs: 100 } });
t.teardown(() => A.close());
const B = await startPeer({ ca, bind: addr(1, 2), users: { bob: {}, ben: {} }, queueRetry: { initialMs: 100 } });
t.teardown(() => B.close());
const alice = `@alice:${A.serverName}`;
const bob = `@bob:${B.serverName}`;
const ben = `@ben:${B.serverName}`;
const enc = encodeURIComponent;
const WAIT = { timeout: 10_000 };

async function sharedRoom(roomVersion: string): Promise<string> {
  const { roomId } = await A.createRoom({ creator: alice, roomVersion });
  const joined = await B.join(bob, roomId);
  await A.waitForEvent(roomId, (e) => e.eventId === joined.eventId, WAIT);
  return roomId;
}
const seen = (peer: Peer, roomId: string, eventId: string) => peer.waitForEvent(roomId, (e) => e.eventId === eventId, WAIT);
const timelineEvent = (peer: Peer, roomId: string, eventId: string) => peer.events(roomId).find((e) => e.eventId === eventId)!;
const getEvent = async (peer: Peer, from: Peer, eventId: string) => ((await from.request(peer.serverName, 'GET', `/_matrix/federation/v1/event/${enc(eventId)}`)).body as { pdus: Array<Record<string, unknown>> }).pdus[0]!;

t.test('a redaction by a user with the redact level: both servers, every answer', async (t) => {
  const roomId = await sharedRoom('10');
  const message = await B.send(bob, roomId, 'regrettable');
  await seen(A, roomId, message.eventId);
  const topic = await A.sendState(alice, roomId, 'm.room.topic', '', { topic: 'secret topic' });
  await seen(B, roomId, topic.eventId);
  const after = await A.send(alice, roomId, 'after');

  const redaction = await A.redact(alice, roomId, message.eventId, 'spam');
  const redactedHere = timelineEvent(A, roomId, message.eventId);
  t.same(redactedHere.content, {}, 'the content is gone on the redacting server');
  t.equal(redactedHere.redactedBy, redaction.eventId);
  t.match(redactedHere.pdu, { unsigned: { redacted_by: redaction.eventId, redacted_because: { type: 'm.room.redaction', redacts: message.eventId, content: { reason: 'spam' } } } });
  await seen(B, roomId, redaction.eventId);
  t.same(timelineEvent(B, roomId, message.eventId).content, {}, 'and on the server that receives the redaction');
  t.equal(timelineEvent(B, roomId, message.eventId).redactedBy, redaction.eventId);

  const fromA = await getEvent(A, B, message.eventId);
  t.same(fromA.content, {}, '/event answers the redacted form');
  t.same(fromA.unsigned, { redacted_by: redaction.eventId }, 'with redacted_by, without the redaction itself (as Synapse)');
  t.ok(fromA.signatures && fromA.hashes, 'signatures and hashes kept');
  const back = (await B.request(A.serverName, 'GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?v=${enc(redaction.eventId)}&limit=10`)).body as { pdus: Array<{ content: unknown; type: string; unsigned?: unknown }> };
  const inBackfill = back.pdus.find((p) => p.type === 'm.room.message' && (p.unsigned as { redacted_by?: string } | undefined)?.redacted_by === redaction.eventId);
  t.same(inBackfill?.content, {}, '/backfill answers the redacted form');
  const gme = (await B.request(A.serverName, 'POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { earliest_events: [], latest_events: [after.eventId], limit: 10 })).body as { events: Array<{ content: Record<string, unknown>; unsigned?: { redacted_by?: string } }> };
  t.same(gme.events.find((e) => e.unsigned?.redacted_by === redaction.eventId)?.content, {}, '/get_missing_events answers the redacted form');

  const topicRedaction = await A.redact(alice, roomId, topic.eventId);
  t.same(A.state(roomId).find((s) => s.type === 'm.room.topic')?.content, {}, 'a redacted state event stays in the state, redacted');
  const state = (await B.request(A.serverName, 'GET', `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(topicRedaction.eventId)}`)).body as { pdus: Array<{ type: string; content: unknown }> };
  t.same(state.pdus.find((p) => p.type === 'm.room.topic')?.content, {}, '/state answers it redacted');
  await seen(B, roomId, topicRedaction.eventId);
  t.same(B.state(roomId).find((s) => s.type === 'm.room.topic')?.content, {}, 'the other server redacted its state too');

  const create = A.state(roomId).find((s) => s.type === 'm.room.create')!;
  await A.redact(alice, roomId, create.eventId);
  t.same(A.state(roomId).find((s) => s.type === 'm.room.create')?.content, create.content, 'a redaction of m.room.create is ignored (as Synapse)');
});

t.test('room versions 3 and later: the redact level or the same server, checked when applied', async (t) => {
  const roomId = await sharedRoom('10');
  const ours = await A.send(alice, roomId, 'alice speaks');
  await seen(B, roomId, ours.eventId);
  t.match(await B.redact(bob, roomId, ours.eventId).catch((e) => e), { status: 403, errcode: 'M_FORBIDDEN' }, 'the library refuses what would not apply');
  t.match(await B.redact(bob, roomId, '$nope').catch((e) => e), { status: 404 }, 'an unknown event');
  t.match(await B.redact(ben, roomId, ours.eventId).catch((e) => e), { status: 403 }, 'a user not in the room');

  // Sent anyway, as a hostile server would: the auth rules accept it (v3+), it does not apply.
  const forged = B.buildEvent({ roomId, sender: bob, type: 'm.room.redaction', content: {}, redacts: ours.eventId });
  const r = await B.sendTransaction(A.serverName, { pdus: [forged.pdu] });
  t.same(r.body, { pdus: { [forged.eventId]: {} } }, 'accepted by the auth rules');
  await seen(A, roomId, forged.eventId);
  t.same(timelineEvent(A, roomId, ours.eventId).content, { msgtype: 'm.text', body: 'alice speaks' }, 'but the target keeps its content');

  const own = await B.send(bob, roomId, 'mine to take back');
  await seen(A, roomId, own.eventId);
  const taken = await B.redact(bob, roomId, own.eventId);
  await seen(A, roomId, taken.eventId);
  t.same(timelineEvent(A, roomId, own.eventId).content, {}, 'a user redacts their own event');

  const benJoin = await B.join(ben, roomId);
  await seen(A, roomId, benJoin.eventId);
  const bobs = await B.send(bob, roomId, 'bob again');
  await seen(A, roomId, bobs.eventId);
  const byBen = B.buildEvent({ roomId, sender: ben, type: 'm.room.redaction', content: {}, redacts: bobs.eventId });
  await B.sendTransaction(A.serverName, { pdus: [byBen.pdu] });
  t.same(timelineEvent(A, roomId, bobs.eventId).content, {}, 'another user of the same server may redact (no level needed)');
});

t.test('a redaction that arrives before the event it redacts', async (t) => {
  const roomId = await sharedRoom('10');
  const target = B.buildEvent({ roomId, sender: bob, type: 'm.room.message', content: { msgtype: 'm.text', body: 'comes late' } });
  const redaction = B.buildEvent({ roomId, sender: bob, type: 'm.room.redaction', content: {}, redacts: target.eventId });
  t.same((await B.sendTransaction(A.serverName, { pdus: [redaction.pdu] })).body, { pdus: { [redaction.eventId]: {} } });
  t.same((await B.sendTransaction(A.serverName, { pdus: [target.pdu] })).body, { pdus: { [target.eventId]: {} } });
  t.same(timelineEvent(A, roomId, target.eventId).content, {}, 'redacted as it arrives');
  t.equal(timelineEvent(A, roomId, target.eventId).redactedBy, redaction.eventId);
  t.same((await getEvent(A, B, target.eventId)).content, {}, '/event answers the redacted form');
});

t.test('room versions 1 and 2: redacts at the top level, the auth rules decide', async (t) => {
  const roomId = await sharedRoom('1');
  const bobs = await B.send(bob, roomId, 'v1 message');
  await seen(A, roomId, bobs.eventId);
  const redaction = await A.redact(alice, roomId, bobs.eventId);
  t.equal(timelineEvent(A, roomId, redaction.eventId).pdu.redacts, bobs.eventId, 'redacts at the top level');
  await seen(B, roomId, redaction.eventId);
  t.same(timelineEvent(B, roomId, bobs.eventId).content, {}, 'applied on both servers');

  const alices = await A.send(alice, roomId, 'v1 from alice');
  await seen(B, roomId, alices.eventId);
  const refused = B.buildEvent({ roomId, sender: bob, type: 'm.room.redaction', content: {}, redacts: alices.eventId });
  const r = await B.sendTransaction(A.serverName, { pdus: [refused.pdu] });
  t.match(r.body, { pdus: { [refused.eventId]: { error: /rejected: .*may not redact/ } } }, 'rejected by the v1 rule');
  t.same(timelineEvent(A, roomId, alices.eventId).content.body, 'v1 from alice');
});

t.test('room version 11: redacts in the content; the redacted redaction keeps it', async (t) => {
  const roomId = await sharedRoom('11');
  const bobs = await B.send(bob, roomId, 'v11 message');
  await seen(A, roomId, bobs.eventId);
  const redaction = await A.redact(alice, roomId, bobs.eventId, 'why');
  t.match(timelineEvent(A, roomId, redaction.eventId).pdu, { content: { redacts: bobs.eventId, reason: 'why' } });
  await seen(B, roomId, redaction.eventId);
  t.same(timelineEvent(B, roomId, bobs.eventId).content, {});
  await A.redact(alice, roomId, redaction.eventId);
  t.same(timelineEvent(A, roomId, redaction.eventId).content, { redacts: bobs.eventId }, 'v11 keeps content.redacts of a redacted redaction');
  t.same(timelineEvent(A, roomId, bobs.eventId).content, {}, 'the first target stays redacted');
});

t.test('redactions survive a restart', async (t) => {
  const C = await startPeer({ bind: addr(1, 3), users: { carol: {} } });
  const carol = `@carol:${C.serverName}`;
  const { roomId } = await C.createRoom({ creator: carol });
  const m = await C.send(carol, roomId, 'gone');
  await C.redact(carol, roomId, m.eventId);
  await C.close();
  const again = await startPeer({ bind: addr(1, 3), port: C.port, dataDir: C.dataDir, users: { carol: {} } });
  t.teardown(() => again.close());
  t.same(timelineEvent(again, roomId, m.eventId).content, {});
  t.equal(timelineEvent(again, roomId, m.eventId).pdu.unsigned && (timelineEvent(again, roomId, m.eventId).pdu.unsigned as { redacted_by?: string }).redacted_by !== undefined, true);
});

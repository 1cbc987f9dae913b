// What a hostile or broken server sends a room fedpeer hosts gets the spec's
// answer and changes nothing it should not: forged signatures, wrong hashes,
// unauthorised state, soft failure, oversized transactions and PDUs,
// duplicate transaction IDs, unknown rooms and room versions, and a
// get_missing_events answer that never ends. Two peers from the library.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { startPeer, createDevCa, type Peer } from '../src/index.js';
import { block } from './harness/addresses.js';

const addr = block('rooms-input');
const ca = await createDevCa();
const A = await startPeer({ ca, bind: addr(2, 1), users: { alice: {} }, queueRetry: { initialMs: 100 } });
t.teardown(() => A.close());
const M = await startPeer({ ca, bind: addr(2, 2), users: { mal: {}, other: {} } });
t.teardown(() => M.close());
const alice = `@alice:${A.serverName}`;
const mal = `@mal:${M.serverName}`;
const { roomId } = await A.createRoom({ creator: alice, alias: 'open' });
const enc = encodeURIComponent;
/** A well-formed event ID (room version 4+) of an event nobody has. */
const fakeId = () => `$${randomBytes(32).toString('base64url')}`;

t.test('a server with no member in the room is told nothing', async (t) => {
  const createId = A.state(roomId).find((s) => s.type === 'm.room.create')!.eventId;
  const cases: Array<[string, string]> = [
    ['GET', `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(createId)}`],
    ['GET', `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(createId)}`],
    ['GET', `/_matrix/federation/v1/event/${enc(createId)}`],
    ['GET', `/_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(createId)}`],
    ['GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?v=${enc(createId)}&limit=5`],
  ];
  for (const [method, path] of cases) t.match(await M.request(A.serverName, method, path), { status: 403, body: { errcode: 'M_FORBIDDEN' } }, path);
  t.match(await M.request(A.serverName, 'POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { latest_events: [createId] }), { status: 403 });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/state_ids/${enc('!nope:x')}?event_id=$x`), { status: 404, body: { errcode: 'M_NOT_FOUND' } });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/event/${enc('$nope')}`), { status: 404, body: { errcode: 'M_NOT_FOUND' } });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc(`#open:${A.serverName}`)}`), { status: 200, body: { room_id: roomId, servers: [A.serverName] } });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/query/directory?room_alias=${enc(`#none:${A.serverName}`)}`), { status: 404, body: { errcode: 'M_NOT_FOUND' } });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/user/devices/${enc(alice)}`), { status: 200, body: { user_id: alice, devices: [] } });
  t.match(await M.request(A.serverName, 'POST', '/_matrix/federation/v1/user/keys/query', { device_keys: { [alice]: [] } }), { status: 200, body: { device_keys: { [alice]: {} } } });
});

t.test('make_join: room version not offered, wrong user, unknown room', async (t) => {
  const base = `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(mal)}`;
  t.match(await M.request(A.serverName, 'GET', `${base}?ver=1&ver=2`), { status: 400, body: { errcode: 'M_INCOMPATIBLE_ROOM_VERSION', room_version: '10' } });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(alice)}?ver=10`), { status: 403 });
  t.match(await M.request(A.serverName, 'GET', `/_matrix/federation/v1/make_join/${enc('!no:x')}/${enc(mal)}?ver=10`), { status: 404 });
  A.hooks.onMakeJoin = () => ({ reject: { status: 403, errcode: 'M_FORBIDDEN', error: 'not today' } });
  const refused = await M.join(mal, roomId).catch((e) => e);
  t.match(refused, { status: 403, message: /not today/ }, 'a hook can refuse a join');
  delete A.hooks.onMakeJoin;
});

t.test('an invite of a room version fedpeer does not know', async (t) => {
  const r = await M.request(A.serverName, 'PUT', `/_matrix/federation/v2/invite/${enc('!r:m')}/${enc('$e')}`, { event: {}, room_version: '99', invite_room_state: [] });
  t.match(r, { status: 400, body: { errcode: 'M_UNSUPPORTED_ROOM_VERSION' } });
});

t.test('PDUs that fail the checks on receipt', async (t) => {
  await M.join(mal, roomId);
  await M.join(`@other:${M.serverName}`, roomId);
  const send = (pdus: unknown[], txnId?: string) => M.sendTransaction(A.serverName, { pdus: pdus as never[], ...(txnId ? { txnId } : {}) });

  const forged = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'forged' }, signature: 'bad' });
  let r = await send([forged.pdu]);
  t.match(r, { status: 200, body: { pdus: { [forged.eventId]: { error: /signature/ } } } }, 'forged signature');
  t.notOk(A.events(roomId).some((e) => e.eventId === forged.eventId), 'not in the timeline');

  const unsigned = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'x' }, signature: 'none' });
  r = await send([unsigned.pdu]);
  t.match(r.body, { pdus: { [unsigned.eventId]: { error: /invalid event|signature/ } } }, 'unsigned');

  const tampered = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'secret' }, hash: 'bad' });
  r = await send([tampered.pdu]);
  t.same(r.body, { pdus: { [tampered.eventId]: {} } }, 'wrong hash: accepted');
  const kept = A.events(roomId).find((e) => e.eventId === tampered.eventId)!;
  t.same(kept.content, {}, 'in its redacted form');
  t.match(kept.reason, /content hash/);

  const takeover = M.buildEvent({ roomId, sender: mal, type: 'm.room.power_levels', stateKey: '', content: { users: { [mal]: 100 } } });
  r = await send([takeover.pdu]);
  t.match(r.body, { pdus: { [takeover.eventId]: { error: /rejected/ } } }, 'unauthorised state change rejected');
  t.not(A.state(roomId).find((s) => s.type === 'm.room.power_levels')!.eventId, takeover.eventId);
  // Spec, "Rejection": an event whose only prev event was rejected is still accepted when it passes the auth rules.
  const afterRejected = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'after the rejected one' }, prevEvents: [takeover.eventId] });
  r = await send([afterRejected.pdu]);
  t.same(r.body, { pdus: { [afterRejected.eventId]: {} } }, 'an event after a rejected prev event: accepted');
  t.ok(A.events(roomId).some((e) => e.eventId === afterRejected.eventId), 'in the timeline');
  t.not(A.state(roomId).find((s) => s.type === 'm.room.power_levels')!.eventId, takeover.eventId, 'the rejected event is still not in the state');
  const usurp = M.buildEvent({ roomId, sender: mal, type: 'm.room.name', stateKey: '', content: { name: 'mine' }, prevEvents: [afterRejected.eventId] });
  r = await send([usurp.pdu]);
  t.match(r.body, { pdus: { [usurp.eventId]: { error: /rejected/ } } }, 'the state after a rejected event gives no power it would have given');

  const foreignSender = M.buildEvent({ roomId, sender: alice, type: 'm.room.message', content: { body: 'as alice' } });
  r = await send([foreignSender.pdu]);
  t.match(r.body, { pdus: { [foreignSender.eventId]: { error: /signature|not signed/ } } }, 'an event in the name of another server');

  const big = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'x'.repeat(70_000) } });
  r = await send([big.pdu]);
  t.match(r, { status: 200, body: { pdus: { } } }, 'oversized PDU: answered');
  t.notOk(A.events(roomId).some((e) => e.eventId === big.eventId), 'oversized PDU dropped');

  r = await send([1, 'x', null, [], { room_id: 5 }, { room_id: roomId }]);
  t.match(r, { status: 200, body: { pdus: {} } }, 'PDUs that are not events: answered, nothing stored');
  r = await M.sendTransaction(A.serverName, { edus: [{ content: {} }, 'x' as never, { edu_type: 'm.presence', content: { push: [] } }] });
  t.equal(r.status, 200, 'EDUs without edu_type are skipped');
  t.equal(A.edus({ type: 'm.presence' }).length, 1);

  const elsewhere = M.buildEvent({ roomId: '!unknown:elsewhere', sender: mal, type: 'm.room.message', content: {}, roomVersion: '10', prevEvents: [], authEvents: [] });
  r = await send([elsewhere.pdu]);
  t.equal(r.status, 200, 'a PDU for an unknown room is ignored');
});

t.test('what a member server may ask: state, state_ids, event_auth, backfill, get_missing_events', async (t) => {
  const msg = await A.send(alice, roomId, 'for the queries');
  const q = (method: string, path: string, body?: unknown) => M.request(A.serverName, method, path, body);
  const state = await q('GET', `/_matrix/federation/v1/state/${enc(roomId)}?event_id=${enc(msg.eventId)}`);
  const ids = await q('GET', `/_matrix/federation/v1/state_ids/${enc(roomId)}?event_id=${enc(msg.eventId)}`);
  const stateBody = state.body as { pdus: Array<{ type: string }>; auth_chain: unknown[] };
  const idsBody = ids.body as { pdu_ids: string[]; auth_chain_ids: string[] };
  t.equal(stateBody.pdus.length, idsBody.pdu_ids.length);
  t.same(new Set(A.state(roomId).map((s) => s.eventId)), new Set(idsBody.pdu_ids), 'the state before the message is the current state');
  t.equal(stateBody.auth_chain.length, idsBody.auth_chain_ids.length);
  t.ok(stateBody.pdus.some((p) => p.type === 'm.room.create'));
  t.match(await q('GET', `/_matrix/federation/v1/state_ids/${enc(roomId)}`), { status: 400, body: { errcode: 'M_MISSING_PARAM' } });
  const auth = await q('GET', `/_matrix/federation/v1/event_auth/${enc(roomId)}/${enc(msg.eventId)}`);
  t.ok((auth.body as { auth_chain: unknown[] }).auth_chain.length >= 3, 'auth chain of the message');
  const back = await q('GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?v=${enc(msg.eventId)}&limit=3`);
  t.same((back.body as { pdus: unknown[] }).pdus.length, 3, 'backfill honours the limit');
  t.match(await q('GET', `/_matrix/federation/v1/backfill/${enc(roomId)}`), { status: 400 });
  t.match(await q('GET', `/_matrix/federation/v1/backfill/${enc(roomId)}?v=${enc(msg.eventId)}&limit=x`), { status: 400 });
  const timeline = A.events(roomId).map((e) => e.eventId);
  const gme = await q('POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { earliest_events: [timeline.at(-4)], latest_events: [msg.eventId], limit: 10 });
  t.same((gme.body as { events: Array<{ origin_server_ts: number }> }).events.length, 2, 'the two events between earliest and latest');
  t.match(await q('POST', `/_matrix/federation/v1/get_missing_events/${enc(roomId)}`, { latest_events: 'x' }), { status: 400, body: { errcode: 'M_BAD_JSON' } });
  t.match(await q('GET', `/_matrix/federation/v1/event/${enc(msg.eventId)}`), { status: 200, body: { pdus: [{ content: { body: 'for the queries' } }] } });
});

t.test('soft failure: authorised by the state before it, not by the current state', async (t) => {
  const before = A.rooms.data.room(roomId)!.extremities;
  const memberEvent = A.state(roomId).find((s) => s.stateKey === mal)!.eventId;
  const ban = await A.sendState(alice, roomId, 'm.room.member', mal, { membership: 'ban' });
  await M.waitForEvent(roomId, (e) => e.eventId === ban.eventId, { timeout: 5000 });
  const authEvents = ['m.room.create', 'm.room.power_levels'].map((type) => A.state(roomId).find((s) => s.type === type)!.eventId);
  const late = M.buildEvent({ roomId, sender: mal, type: 'm.room.message', content: { body: 'after the ban' }, prevEvents: [...before], authEvents: [...authEvents, memberEvent] });
  const r = await M.sendTransaction(A.serverName, { pdus: [late.pdu] });
  t.same(r.body, { pdus: { [late.eventId]: {} } });
  t.notOk(A.events(roomId).some((e) => e.eventId === late.eventId), 'not in the timeline');
  t.match(A.events(roomId, { all: true }).find((e) => e.eventId === late.eventId), { status: 'soft-failed' }, 'soft-failed');
  t.not(A.rooms.data.room(roomId)!.extremities.includes(late.eventId), true, 'not a forward extremity');
});

t.test('transaction limits and idempotent transaction IDs', async (t) => {
  const other = `@other:${M.serverName}`;
  const many = Array.from({ length: 51 }, (_, i) => M.buildEvent({ roomId, sender: other, type: 'm.room.message', content: { body: `${i}` } }).pdu);
  t.match(await M.sendTransaction(A.serverName, { pdus: many }), { status: 400, body: { errcode: 'M_BAD_JSON', error: /at most 50 PDUs/ } });
  const edus = Array.from({ length: 101 }, () => ({ edu_type: 'm.typing', content: {} }));
  t.match(await M.sendTransaction(A.serverName, { edus }), { status: 400, body: { error: /at most 100 EDUs/ } });
  t.match(await M.request(A.serverName, 'PUT', '/_matrix/federation/v1/send/bad', { pdus: 'nope' }), { status: 400, body: { errcode: 'M_BAD_JSON' } });

  const once = M.buildEvent({ roomId, sender: other, type: 'm.room.message', content: { body: 'once' } });
  const typing = { edu_type: 'm.typing', content: { room_id: roomId, user_id: other, typing: true } };
  const first = await M.sendTransaction(A.serverName, { pdus: [once.pdu], edus: [typing], txnId: 'dup-1' });
  const twice = M.buildEvent({ roomId, sender: other, type: 'm.room.message', content: { body: 'twice' } });
  const second = await M.sendTransaction(A.serverName, { pdus: [twice.pdu], edus: [typing], txnId: 'dup-1' });
  t.same(second.body, first.body, 'the same answer for the same transaction ID');
  t.equal(A.events(roomId).filter((e) => e.eventId === once.eventId).length, 1);
  t.notOk(A.events(roomId).some((e) => e.eventId === twice.eventId), 'the repeat was not applied');
  t.equal(A.edus({ type: 'm.typing' }).length, 1, 'its EDU recorded once');
  t.match(A.edus({ type: 'm.typing' })[0], { origin: M.serverName, edu: typing });
});

t.test('get_missing_events that never ends: one bounded round, then refused', async (t) => {
  const other = `@other:${M.serverName}`;
  let asked = 0;
  // M answers every get_missing_events with an event whose prev event is again unknown.
  M.hooks.onRequest = (req) => {
    if (req.endpoint !== 'get_missing_events') return undefined;
    asked++;
    const deeper = M.buildEvent({ roomId, sender: other, type: 'm.room.message', content: { body: `deeper ${asked}` }, prevEvents: [fakeId()] });
    return { respond: { events: [deeper.pdu] } };
  };
  t.teardown(() => {
    delete M.hooks.onRequest;
  });
  const orphan = M.buildEvent({ roomId, sender: other, type: 'm.room.message', content: { body: 'orphan' }, prevEvents: [fakeId(), fakeId()] });
  const r = await M.sendTransaction(A.serverName, { pdus: [orphan.pdu] });
  t.match(r.body, { pdus: { [orphan.eventId]: { error: /prev events/ } } });
  t.equal(asked, 1, 'asked once');
  const ok = await A.send(alice, roomId, 'still working');
  t.ok(ok.eventId, 'the room goes on');
});

t.test('send_join, send_leave and invite with events that do not fit', async (t) => {
  const made = await M.request(A.serverName, 'GET', `/_matrix/federation/v1/make_join/${enc(roomId)}/${enc(`@other:${M.serverName}`)}?ver=10`);
  t.equal(made.status, 200);
  const good = M.buildEvent({ roomId, sender: `@other:${M.serverName}`, type: 'm.room.member', stateKey: `@other:${M.serverName}`, content: { membership: 'join' } });
  const path = (id: string, v = 'v2', what = 'send_join') => `/_matrix/federation/${v}/${what}/${enc(roomId)}/${enc(id)}`;
  t.match(await M.request(A.serverName, 'PUT', path(fakeId()), good.pdu), { status: 400, body: { error: /not .* as the path says/ } }, 'event ID not the path');
  t.match(await M.request(A.serverName, 'PUT', path(good.eventId), { nope: 1 }), { status: 400, body: { error: /Invalid event/ } }, 'not an event');
  const message = M.buildEvent({ roomId, sender: `@other:${M.serverName}`, type: 'm.room.message', content: {} });
  t.match(await M.request(A.serverName, 'PUT', path(message.eventId), message.pdu), { status: 400, body: { error: /Expected an m.room.member/ } });
  const foreign = M.buildEvent({ roomId, sender: alice, type: 'm.room.member', stateKey: alice, content: { membership: 'join' } });
  t.match(await M.request(A.serverName, 'PUT', path(foreign.eventId), foreign.pdu), { status: 403, body: { error: /does not belong/ } });
  const forged = M.buildEvent({ roomId, sender: `@other:${M.serverName}`, type: 'm.room.member', stateKey: `@other:${M.serverName}`, content: { membership: 'join' }, signature: 'bad' });
  t.match(await M.request(A.serverName, 'PUT', path(forged.eventId), forged.pdu), { status: 403, body: { error: /Signature/ } });
  const v1 = await M.request(A.serverName, 'PUT', path(good.eventId, 'v1'), good.pdu);
  t.match(v1, { status: 200, body: [200, { origin: A.serverName }] }, 'v1 send_join answers [200, body]');
  const leave = M.buildEvent({ roomId, sender: `@other:${M.serverName}`, type: 'm.room.member', stateKey: `@other:${M.serverName}`, content: { membership: 'leave' } });
  t.match(await M.request(A.serverName, 'PUT', path(leave.eventId, 'v1', 'send_leave'), leave.pdu), { status: 200, body: [200, {}] }, 'v1 send_leave');

  const invitePath = (id: string, v = 'v2') => `/_matrix/federation/${v}/invite/${enc(roomId)}/${enc(id)}`;
  t.match(await M.request(A.serverName, 'PUT', invitePath('$x'), { room_version: '10', event: { nope: 1 } }), { status: 400, body: { error: /Invalid event/ } });
  t.match(await M.request(A.serverName, 'PUT', invitePath('$x'), { event: {} }), { status: 400, body: { error: /room_version/ } });
  const notLocal = M.buildEvent({ roomId, sender: mal, type: 'm.room.member', stateKey: `@nobody:${A.serverName}`, content: { membership: 'invite' } });
  t.match(await M.request(A.serverName, 'PUT', invitePath(notLocal.eventId), { room_version: '10', event: notLocal.pdu }), { status: 404 });
  const wrongPath = M.buildEvent({ roomId, sender: mal, type: 'm.room.member', stateKey: alice, content: { membership: 'invite' } });
  t.match(await M.request(A.serverName, 'PUT', invitePath(fakeId()), { room_version: '10', event: wrongPath.pdu }), { status: 400 });
  const notInvite = M.buildEvent({ roomId, sender: mal, type: 'm.room.member', stateKey: alice, content: { membership: 'join' } });
  t.match(await M.request(A.serverName, 'PUT', invitePath(notInvite.eventId), { room_version: '10', event: notInvite.pdu }), { status: 400, body: { error: /invite/ } });
  const badSig = M.buildEvent({ roomId, sender: mal, type: 'm.room.member', stateKey: alice, content: { membership: 'invite' }, signature: 'bad' });
  t.match(await M.request(A.serverName, 'PUT', invitePath(badSig.eventId), { room_version: '10', event: badSig.pdu }), { status: 403 });
  const impostor = M.buildEvent({ roomId, sender: `@x:${A.serverName}`, type: 'm.room.member', stateKey: alice, content: { membership: 'invite' } });
  t.match(await M.request(A.serverName, 'PUT', invitePath(impostor.eventId), { room_version: '10', event: impostor.pdu }), { status: 403 });
  const v1invite = M.buildEvent({ roomId: '!v1:m', sender: mal, type: 'm.room.member', stateKey: alice, content: { membership: 'invite' }, roomVersion: '1', prevEvents: [], authEvents: [] });
  t.match(await M.request(A.serverName, 'PUT', `/_matrix/federation/v1/invite/${enc('!v1:m')}/${enc(v1invite.eventId)}`, v1invite.pdu), { status: 200, body: [200, { event: { signatures: { [A.serverName]: {} } } }] }, 'v1 invite co-signed');
  t.ok(A.invites(alice).some((i) => i.roomId === '!v1:m'));
});

t.test('library odds and ends: restart in the same data_dir, timeouts, hooks that throw, unreachable servers', async (t) => {
  const dir = A.dataDir;
  const again = await startPeer({ bind: addr(3, 1), dataDir: (await import('node:fs')).mkdtempSync(`${dir}-b`), users: { '@x:elsewhere': {} } });
  await again.close();
  const reopened = await startPeer({ bind: addr(3, 1), port: again.port, dataDir: again.dataDir });
  t.equal(reopened.caPem, again.caPem, 'the CA a previous start left is reused');
  await reopened.close();
  t.match(await A.waitForEvent(roomId, () => false, { timeout: 50 }).catch((e) => e), { status: 408 });
  A.hooks.onEvent = () => {
    throw new Error('observer broke');
  };
  const still = await A.send(alice, roomId, 'a throwing observer changes nothing');
  t.ok(still.eventId);
  delete A.hooks.onEvent;
  await t.rejects(A.request(`${addr(9, 9)}:1`, 'GET', '/x'), /ECONNREFUSED|connect/);
  t.match(await A.send('@nobody:x', roomId, 'x').catch((e) => e), { status: 400 });
  t.match(await A.createRoom({ creator: alice, roomVersion: '99' }).catch((e) => e), { errcode: 'M_UNSUPPORTED_ROOM_VERSION' });
  t.match(await A.createRoom({ creator: alice, alias: 'open' }).catch((e) => e), { errcode: 'M_ROOM_IN_USE' });
  t.throws(() => A.events('!none:x'), /Unknown room/);
  t.throws(() => A.state('!none:x'), /Unknown room/);
  t.ok(A.rooms.rooms().includes(roomId));
});

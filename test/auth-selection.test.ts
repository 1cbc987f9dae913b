// The auth events selection algorithm (server-server API) and rule 2, the
// checks on an event's auth_events list, with the expected slots written out
// by hand from the spec's list.
import t from 'tap';
import type { JsonObject } from '../src/matrix/canonical-json.js';
import { stateSlot } from '../src/matrix/events/types.js';
import { authEventSlots, authStateOf, checkAuthEventsList, checkEventAuth } from '../src/matrix/auth/index.js';
import { ALICE, ALL_VERSIONS, BOB, CHARLIE, TestRoom, makeEvent, versionOf } from './harness/room-events.js';

const CREATE = stateSlot('m.room.create', '');
const PL = stateSlot('m.room.power_levels', '');
const JR = stateSlot('m.room.join_rules', '');
const M = (user: string) => stateSlot('m.room.member', user);

t.test('authEventSlots: the spec’s selection, per event and version', async (t) => {
  const member = (sender: string, target: string, content: JsonObject) => ({ type: 'm.room.member', stateKey: target, sender, content });
  for (const version of ALL_VERSIONS) {
    const slots = (e: Parameters<typeof authEventSlots>[0]) => authEventSlots(e, version).sort();
    const v = `v${version.id}`;
    t.same(slots({ type: 'm.room.create', stateKey: '', sender: ALICE, content: {} }), [], `${v} create: none`);
    t.same(slots({ type: 'm.room.message', sender: BOB, content: {} }), [CREATE, PL, M(BOB)].sort(), `${v} message`);
    t.same(slots({ type: 'm.room.topic', stateKey: '', sender: BOB, content: {} }), [CREATE, PL, M(BOB)].sort(), `${v} state`);
    t.same(slots(member(BOB, BOB, { membership: 'join' })), [CREATE, PL, M(BOB), JR].sort(), `${v} own join: one member slot`);
    t.same(slots(member(ALICE, BOB, { membership: 'invite' })), [CREATE, PL, M(ALICE), M(BOB), JR].sort(), `${v} invite`);
    t.same(slots(member(BOB, BOB, { membership: 'knock' })), [CREATE, PL, M(BOB), JR].sort(), `${v} knock`);
    t.same(slots(member(ALICE, BOB, { membership: 'leave' })), [CREATE, PL, M(ALICE), M(BOB)].sort(), `${v} kick: no join rules`);
    t.same(slots(member(ALICE, BOB, { membership: 'ban' })), [CREATE, PL, M(ALICE), M(BOB)].sort(), `${v} ban: no join rules`);
    t.same(slots(member(ALICE, BOB, { membership: 7 })), [CREATE, PL, M(ALICE), M(BOB)].sort(), `${v} membership not a string`);
    t.same(slots({ type: 'm.room.member', sender: ALICE, content: { membership: 'join' } }), [CREATE, PL, M(ALICE), JR].sort(), `${v} member without state_key`);
    t.same(
      slots(member(ALICE, BOB, { membership: 'invite', third_party_invite: { signed: { token: 'tok', mxid: BOB } } })),
      [CREATE, PL, M(ALICE), M(BOB), JR, stateSlot('m.room.third_party_invite', 'tok')].sort(),
      `${v} third-party invite: its token's invite event`,
    );
    t.same(slots(member(ALICE, BOB, { membership: 'invite', third_party_invite: { signed: { token: 5 } } })), [CREATE, PL, M(ALICE), M(BOB), JR].sort(), `${v} third-party token not a string`);
    t.same(slots(member(ALICE, BOB, { membership: 'invite', third_party_invite: 'x' })), [CREATE, PL, M(ALICE), M(BOB), JR].sort(), `${v} third_party_invite not an object`);
    t.same(slots(member(ALICE, BOB, { membership: 'invite', third_party_invite: { signed: 'x' } })), [CREATE, PL, M(ALICE), M(BOB), JR].sort(), `${v} signed not an object`);
    const authorised = slots(member(BOB, BOB, { membership: 'join', join_authorised_via_users_server: CHARLIE }));
    if (version.restrictedJoinRule) t.same(authorised, [CREATE, PL, M(BOB), JR, M(CHARLIE)].sort(), `${v} restricted join: the authoriser's membership`);
    else t.same(authorised, [CREATE, PL, M(BOB), JR].sort(), `${v} no restricted joins: authoriser ignored`);
    t.same(slots(member(BOB, BOB, { membership: 'leave', join_authorised_via_users_server: CHARLIE })), [CREATE, PL, M(BOB)].sort(), `${v} authoriser only for joins`);
    t.same(slots(member(BOB, BOB, { membership: 'join', join_authorised_via_users_server: 1 })), [CREATE, PL, M(BOB), JR].sort(), `${v} authoriser not a string`);
  }
});

t.test('checkAuthEventsList (rule 2)', async (t) => {
  for (const version of ALL_VERSIONS) {
    const room = new TestRoom(version, { members: [BOB], joinRule: 'invite' });
    const state = (slot: string) => room.state.get(slot)!;
    const invite = room.build({ type: 'm.room.member', stateKey: CHARLIE, sender: BOB, content: { membership: 'invite' } });
    const given = invite.authEvents.map((id) => room.events.get(id)!);
    const v = `v${version.id}`;
    t.equal(invite.authEvents.length, 4, `${v} create, power levels, join rules, sender; the target has no membership yet`);
    t.same(checkAuthEventsList(invite, given), { ok: true }, `${v} allow: what the selection picks`);
    t.same(checkAuthEventsList(invite, [...given].reverse()), { ok: true }, `${v} allow: in any order`);
    t.same(checkAuthEventsList(invite, [...given, room.create]), { ok: true }, `${v} allow: extra events given but not listed are ignored`);
    const withList = (ids: string[]) => ({ ...invite, authEvents: ids });
    t.same(checkAuthEventsList(withList([state(CREATE).eventId]), given), { ok: true }, `${v} allow: a subset of the selection`);
    t.match(checkAuthEventsList(invite, given.slice(1)), { rule: 'auth_events.missing' }, `${v} auth_events.missing`);
    t.match(checkAuthEventsList(withList([...invite.authEvents, state(CREATE).eventId]), given), { rule: 'auth_events.duplicate' }, `${v} auth_events.duplicate: same event twice`);
    const otherCreate = makeEvent(version, { type: 'm.room.create', stateKey: '', sender: ALICE, roomId: room.roomId, content: { creator: ALICE } });
    t.match(checkAuthEventsList(withList([...invite.authEvents, otherCreate.eventId]), [...given, otherCreate]), { rule: 'auth_events.duplicate' }, `${v} auth_events.duplicate: two create events`);
    const topic = room.add({ type: 'm.room.topic', stateKey: '', sender: ALICE, content: { topic: 'x' } });
    t.match(checkAuthEventsList(withList([...invite.authEvents, topic.eventId]), [...given, topic]), { rule: 'auth_events.unexpected' }, `${v} auth_events.unexpected: a topic`);
    const message = room.add({ type: 'm.room.message', sender: ALICE, content: {} });
    t.match(checkAuthEventsList(withList([...invite.authEvents, message.eventId]), [...given, message]), { rule: 'auth_events.unexpected' }, `${v} auth_events.unexpected: not a state event`);
    const foreign = makeEvent(version, { type: 'm.room.member', stateKey: CHARLIE, sender: CHARLIE, roomId: '!other:example.com', content: { membership: 'join' } });
    t.match(checkAuthEventsList(withList([...invite.authEvents, foreign.eventId]), [...given, foreign]), { rule: 'auth_events.wrong_room' }, `${v} auth_events.wrong_room`);
    const rejected = state(PL).eventId;
    t.match(checkAuthEventsList(invite, given, { isRejected: (id) => id === rejected }), { rule: 'auth_events.rejected' }, `${v} auth_events.rejected`);
    t.same(checkAuthEventsList(invite, given, { isRejected: () => false }), { ok: true }, `${v} allow: none rejected`);
    const noCreate = invite.authEvents.filter((id) => id !== state(CREATE).eventId);
    t.match(checkAuthEventsList(withList(noCreate), given), { rule: 'auth_events.no_create' }, `${v} auth_events.no_create`);
    t.same(checkAuthEventsList(room.create, [topic]), { ok: true }, `${v} the create event: rule 1 allows before rule 2`);
  }
});

t.test('version flags, not numbers: restricted joins come with v8', async (t) => {
  t.equal(authEventSlots({ type: 'm.room.member', stateKey: BOB, sender: BOB, content: { membership: 'join', join_authorised_via_users_server: CHARLIE } }, versionOf('7')).length, 4);
  t.equal(authEventSlots({ type: 'm.room.member', stateKey: BOB, sender: BOB, content: { membership: 'join', join_authorised_via_users_server: CHARLIE } }, versionOf('8')).length, 5);
});

t.test('authStateOf: the auth events as the state the rules read', async (t) => {
  for (const version of ALL_VERSIONS) {
    const room = new TestRoom(version, { joinRule: 'invite' });
    const invite = room.build({ type: 'm.room.member', stateKey: BOB, sender: ALICE, content: { membership: 'invite' } });
    const message = room.add({ type: 'm.room.message', sender: ALICE, content: {} });
    const given = [...invite.authEvents.map((id) => room.events.get(id)!), message];
    const state = authStateOf(given);
    t.same([...state.keys()].sort(), [CREATE, PL, JR, M(ALICE)].sort(), `v${version.id}: one entry per state event, messages left out`);
    t.same(checkEventAuth(invite, state), { ok: true }, `v${version.id}: the invite passes against its auth events`);
    const bobJoins = room.build({ type: 'm.room.member', stateKey: BOB, sender: BOB, content: { membership: 'join' } });
    t.match(checkEventAuth(bobJoins, authStateOf(bobJoins.authEvents.map((id) => room.events.get(id)!))), { rule: 'member.join.not_invited' }, `v${version.id}: an uninvited join fails against its auth events`);
  }
});

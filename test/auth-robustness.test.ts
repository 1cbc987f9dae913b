// Property tests (fast-check): content from a stranger is any JSON. Whatever
// it holds (wrong types, prototype names as keys, huge maps), the selection
// and the rules answer with a result and never throw, and a verdict does not
// change when the same event is checked twice.
import t from 'tap';
import fc from 'fast-check';
import type { JsonObject, JsonValue } from '../src/matrix/canonical-json.js';
import { authEventSlots, authStateOf, checkAuthEventsList, checkEventAuth } from '../src/matrix/auth/index.js';
import { ALICE, ALL_VERSIONS, BOB, TestRoom } from './harness/room-events.js';

const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
t.comment(`fast-check seed ${seed} (FEDPEER_SEED replays)`);

const key = fc.oneof(
  fc.constantFrom('membership', 'join_rule', 'users', 'users_default', 'events', 'notifications', 'ban', 'kick', 'invite', 'redact', 'state_default', 'events_default', 'third_party_invite', 'signed', 'token', 'mxid', 'signatures', 'join_authorised_via_users_server', 'creator', 'room_version', 'm.federate', 'public_key', 'public_keys', '__proto__', 'constructor', 'toString', ALICE, BOB),
  fc.string(),
);
const value: fc.Arbitrary<JsonValue> = fc.letrec<{ v: JsonValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom<JsonValue>('join', 'invite', 'leave', 'ban', 'knock', 'public', 'restricted', 'knock_restricted', ALICE, BOB, 'tok', 'ed25519:x', '50', ' +100 ', true, false, null, 0, 50, 100, -1),
    fc.integer(),
    fc.double().filter(Number.isFinite),
    fc.string(),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(key, tie('v'), { maxKeys: 5 }),
  ),
})).v;
const content = fc.dictionary(key, value, { maxKeys: 8 }) as fc.Arbitrary<JsonObject>;
const type = fc.constantFrom('m.room.member', 'm.room.power_levels', 'm.room.join_rules', 'm.room.third_party_invite', 'm.room.create', 'm.room.aliases', 'm.room.redaction', 'm.room.topic', 'm.room.message');
const stateKey = fc.option(fc.constantFrom('', ALICE, BOB, '@x:remote.test', 'example.com', 'tok'), { nil: undefined });
const sender = fc.constantFrom(ALICE, BOB, '@x:remote.test', 'no-colon');

t.test('the rules never throw on any content, in any room version', async (t) => {
  const rooms = new Map(ALL_VERSIONS.map((v) => {
    const room = new TestRoom(v, { members: [BOB], powerLevels: { users: { [ALICE]: 100, [BOB]: 50 }, events: { 'm.room.name': 60 } } });
    room.add({ type: 'm.room.third_party_invite', stateKey: 'tok', sender: ALICE, content: { public_key: 'AAAA' } });
    return [v.id, room];
  }));
  let allowed = 0;
  let rejected = 0;
  fc.assert(
    fc.property(fc.constantFrom(...ALL_VERSIONS), type, stateKey, sender, content, (version, eventType, key, from, c) => {
      const room = rooms.get(version.id)!;
      const fields = { type: eventType, stateKey: key, sender: from, content: c };
      authEventSlots(fields, version);
      const event = room.build(fields);
      const first = checkEventAuth(event, room.state);
      const again = checkEventAuth(event, room.state);
      const list = checkAuthEventsList(event, event.authEvents.map((id) => room.events.get(id)!));
      checkEventAuth(event, authStateOf(event.authEvents.map((id) => room.events.get(id)!)));
      if (first.ok) allowed++;
      else rejected++;
      return JSON.stringify(first) === JSON.stringify(again) && (first.ok || (typeof first.rule === 'string' && first.reason.length > 0)) && typeof list.ok === 'boolean';
    }),
    { numRuns: 3000, seed },
  );
  t.ok(allowed > 0 && rejected > 0, `both verdicts came up (${allowed} allowed, ${rejected} rejected)`);
});

t.test('power levels as previous state: any content there never makes a check throw', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...ALL_VERSIONS), content, content, (version, before, after) => {
      const room = new TestRoom(version, { powerLevels: null });
      room.apply(room.build({ type: 'm.room.power_levels', stateKey: '', sender: ALICE, content: before }));
      for (const f of [
        { type: 'm.room.power_levels', stateKey: '', sender: ALICE, content: after },
        { type: 'm.room.member', stateKey: BOB, sender: ALICE, content: { membership: 'ban' } },
        { type: 'm.room.topic', stateKey: '', sender: ALICE, content: {} },
      ]) {
        const r = checkEventAuth(room.build(f), room.state);
        if (!r.ok && typeof r.rule !== 'string') return false;
      }
      return true;
    }),
    { numRuns: 1000, seed },
  );
  t.pass('no throw');
});

// Room versions 1 to 5 from the wire to the auth rules: power levels written
// as Python floats (100.0, 5e1), as old rooms hold them, arrive through
// parseEventJson as number literals (so hashes and signatures stay exact) and
// count as their integer value in the auth rules, as Synapse's int() makes them.
import t from 'tap';
import { generateSigningKey } from '../src/matrix/signing-key.js';
import {
  buildPdu,
  eventCanonicalJson,
  JsonNumberLiteral,
  parseEventJson,
  parsePdu,
  roomVersion,
  signPdu,
  stateSlot,
  verifyEventSignatures,
  type Pdu,
  type RoomEvent,
} from '../src/matrix/events/index.js';
import { checkEventAuth, namedPowerLevel, parseLevel, userPowerLevel } from '../src/matrix/auth/index.js';

const key = generateSigningKey('old');
const v5 = roomVersion('5')!;
const ALICE = '@alice:old.test';
const BOB = '@bob:old.test';
const f = (text: string) => new JsonNumberLiteral(text) as unknown as number;
let depth = 0;

/** Signs the event, writes it as text (floats as Python writes them) and receives it back as a peer would. */
function receive(type: string, stateKey: string, content: Record<string, unknown>, auth: RoomEvent[], sender = ALICE): RoomEvent {
  const pdu = buildPdu(
    { roomId: '!old:old.test', sender, type, stateKey, content: content as Pdu, prevEvents: auth.slice(-1), authEvents: auth, depth: ++depth, originServerTs: 1_500_000_000_000 + depth },
    v5,
  );
  const text = eventCanonicalJson(signPdu(pdu, v5, 'old.test', key), false);
  return parsePdu(parseEventJson(text), v5);
}

t.test('v5 power levels written as floats: exact signatures, integer levels, auth decisions', async (t) => {
  const create = receive('m.room.create', '', { creator: ALICE }, []);
  const join = receive('m.room.member', ALICE, { membership: 'join' }, [create]);
  const levels = receive('m.room.power_levels', '', { users: { [ALICE]: f('100.0'), [BOB]: f('5e1') }, users_default: 0, state_default: f('50.0'), ban: f('75.0'), events: {} }, [create, join]);
  t.ok((levels.content.users as Record<string, unknown>)[ALICE] instanceof JsonNumberLiteral, 'the float survives parsing');
  t.match(eventCanonicalJson(levels.pdu, false), /"@alice:old.test":100\.0,"@bob:old.test":50\.0/, 'and is written back as Python writes it');
  const lookup = () => key.publicKey;
  for (const ev of [create, join, levels]) t.ok(verifyEventSignatures(ev, lookup).ok, `${ev.type}: signature verifies`);

  t.equal(userPowerLevel(ALICE, levels, create), 100);
  t.equal(userPowerLevel(BOB, levels, create), 50);
  t.equal(namedPowerLevel(levels, 'ban'), 75);
  t.equal(parseLevel(f('1e400') as never, v5), undefined, 'infinity is no level');
  t.equal(parseLevel(f('12.0') as never, roomVersion('10')!), undefined, 'v10 takes integers only');

  const state = new Map<string, RoomEvent>([
    [stateSlot('m.room.create', ''), create],
    [stateSlot('m.room.member', ALICE), join],
    [stateSlot('m.room.power_levels', ''), levels],
  ]);
  const change = receive('m.room.power_levels', '', { users: { [ALICE]: f('100.0'), [BOB]: f('60.0') }, users_default: 0, state_default: f('50.0'), ban: f('75.0'), events: {} }, [create, join, levels]);
  t.same(checkEventAuth(change, state), { ok: true }, 'alice (100.0) may raise bob to 60.0');
  const topic = receive('m.room.topic', '', { topic: 'x' }, [create, join, levels]);
  t.same(checkEventAuth(topic, state), { ok: true }, 'state at alice\'s level 100.0 over state_default 50.0');
});

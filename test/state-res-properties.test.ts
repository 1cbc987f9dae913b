// Property tests (fast-check) of state resolution over generated room
// histories: branches that fork, send authorised events (topics, names, power
// level changes, joins, leaves, kicks, bans, invites, join rule changes) and
// merge by resolving their states. Whatever the history, resolution does not
// depend on the order of the state sets, keeps the unconflicted state, puts
// each event in its own slot and leaves a single state alone.
import t from 'tap';
import fc from 'fast-check';
import type { JsonObject } from '../src/matrix/canonical-json.js';
import type { RoomVersion } from '../src/matrix/events/room-versions.js';
import { stateSlot, type RoomEvent, type StateMap } from '../src/matrix/events/types.js';
import { authEventSlots, checkEventAuth, resolveState } from '../src/matrix/auth/index.js';
import { ALICE, ALL_VERSIONS, BOB, CHARLIE, EVELYN, ZARA, TestRoom } from './harness/room-events.js';

const seed = Number(process.env.FEDPEER_SEED ?? Date.now() % 2 ** 31);
t.comment(`fast-check seed ${seed} (FEDPEER_SEED replays)`);

const USERS = [ALICE, BOB, CHARLIE, EVELYN, ZARA];
const KINDS = ['topic', 'name', 'levels', 'join', 'leave', 'kick', 'ban', 'unban', 'invite', 'joinRule', 'fork', 'merge'] as const;
type Op = { kind: (typeof KINDS)[number]; branch: number; other: number; actor: number; target: number; value: number };

const op: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom(...KINDS),
  branch: fc.nat(7),
  other: fc.nat(7),
  actor: fc.nat(USERS.length - 1),
  target: fc.nat(USERS.length - 1),
  value: fc.nat(100),
});

interface Branch {
  state: Map<string, RoomEvent>;
  heads: string[];
  depth: number;
}

/** Plays the operations; every event a branch sends is allowed by that branch's state, as a well-behaved server's would be. */
function play(version: RoomVersion, ops: Op[]): { branches: Branch[]; events: Map<string, RoomEvent> } {
  const room = new TestRoom(version, { members: [BOB, CHARLIE], powerLevels: { users: { [ALICE]: 100, [BOB]: 50 } } });
  const events = new Map(room.events);
  const branches: Branch[] = [{ state: new Map(room.state), heads: [[...room.events.keys()].pop()!], depth: room.events.size }];
  let ts = 2_000_000_000_000;
  const lookup = (id: string) => events.get(id);
  for (const o of ops) {
    const branch = branches[o.branch % branches.length]!;
    const actor = USERS[o.actor]!;
    const target = USERS[o.target]!;
    if (o.kind === 'fork') {
      if (branches.length < 4) branches.push({ state: new Map(branch.state), heads: [...branch.heads], depth: branch.depth });
      continue;
    }
    if (o.kind === 'merge') {
      const other = branches[o.other % branches.length]!;
      if (other === branch) continue;
      const ids = resolveState(version, [idsOf(branch.state), idsOf(other.state)], lookup);
      branch.state = new Map([...ids].map(([slot, id]) => [slot, events.get(id)!]));
      branch.heads = [...new Set([...branch.heads, ...other.heads])];
      branch.depth = Math.max(branch.depth, other.depth);
      continue;
    }
    const fields = ((): { type: string; stateKey: string; content: JsonObject; sender: string } => {
      switch (o.kind) {
        case 'topic':
          return { type: 'm.room.topic', stateKey: '', sender: actor, content: { topic: `t${o.value}` } };
        case 'name':
          return { type: 'm.room.name', stateKey: '', sender: actor, content: { name: `n${o.value}` } };
        case 'levels':
          return { type: 'm.room.power_levels', stateKey: '', sender: actor, content: { users: { [ALICE]: 100, [actor]: Math.min(o.value, 100), [target]: o.value % 60 } } };
        case 'joinRule':
          return { type: 'm.room.join_rules', stateKey: '', sender: actor, content: { join_rule: o.value % 2 === 0 ? 'public' : 'invite' } };
        case 'join':
          return { type: 'm.room.member', stateKey: actor, sender: actor, content: { membership: 'join' } };
        case 'leave':
          return { type: 'm.room.member', stateKey: actor, sender: actor, content: { membership: 'leave' } };
        case 'kick':
        case 'unban':
          return { type: 'm.room.member', stateKey: target, sender: actor, content: { membership: 'leave' } };
        case 'ban':
          return { type: 'm.room.member', stateKey: target, sender: actor, content: { membership: 'ban' } };
        case 'invite':
          return { type: 'm.room.member', stateKey: target, sender: actor, content: { membership: 'invite' } };
      }
    })();
    const authEvents = authEventSlots(fields, version).flatMap((slot) => {
      const e = branch.state.get(slot);
      return e ? [e.eventId] : [];
    });
    branch.depth += 1;
    const event = room.build({ ...fields, authEvents, prevEvents: branch.heads, depth: branch.depth, originServerTs: ts++ });
    if (!checkEventAuth(event, branch.state).ok) continue;
    events.set(event.eventId, event);
    branch.state.set(stateSlot(event.type, event.stateKey!), event);
    branch.heads = [event.eventId];
  }
  return { branches, events };
}

function idsOf(state: Map<string, RoomEvent>): Map<string, string> {
  return new Map([...state].map(([slot, e]) => [slot, e.eventId]));
}

const asObject = (m: StateMap) => Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

for (const versions of [ALL_VERSIONS.filter((v) => v.stateResolution === 1), ALL_VERSIONS.filter((v) => v.id === '2' || v.id === '10' || v.id === '11')]) {
  t.test(`state resolution laws over generated histories (v${versions.map((v) => v.id).join(', v')})`, async (t) => {
    const checked = { resolutions: 0, conflicted: 0 };
    fc.assert(
      fc.property(fc.constantFrom(...versions), fc.array(op, { minLength: 5, maxLength: 60 }), fc.nat(1000), (version, ops, shuffleSeed) => {
        const { branches, events } = play(version, ops);
        const sets = branches.map((b) => idsOf(b.state));
        const lookup = (id: string) => events.get(id);
        const result = resolveState(version, sets, lookup);
        checked.resolutions++;
        const allSlots = new Set(sets.flatMap((s) => [...s.keys()]));
        if ([...allSlots].some((slot) => new Set(sets.map((s) => s.get(slot))).size > 1)) checked.conflicted++;

        // Independent of the order of the state sets.
        const shuffled = [...sets];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = (shuffleSeed * (i + 7)) % (i + 1);
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const reversed = resolveState(version, [...sets].reverse(), lookup);
        const permuted = resolveState(version, shuffled, lookup);
        if (JSON.stringify(asObject(result)) !== JSON.stringify(asObject(reversed))) return false;
        if (JSON.stringify(asObject(result)) !== JSON.stringify(asObject(permuted))) return false;

        // Every slot every set agrees on keeps that event; every event sits in its own slot.
        for (const slot of allSlots) {
          const values = new Set(sets.map((s) => s.get(slot)));
          if (values.size === 1 && !values.has(undefined) && result.get(slot) !== [...values][0]) return false;
        }
        for (const [slot, id] of result) {
          const e = events.get(id)!;
          if (stateSlot(e.type, e.stateKey!) !== slot) return false;
        }

        // A state resolved with itself is itself.
        for (const s of sets) if (JSON.stringify(asObject(resolveState(version, [s, s], lookup))) !== JSON.stringify(asObject(s))) return false;
        return true;
      }),
      { numRuns: 150, seed },
    );
    t.ok(checked.conflicted > 0, `some generated histories had conflicts (${checked.conflicted} of ${checked.resolutions})`);
  });
}

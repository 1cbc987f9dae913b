// State resolution of rooms with thousands of state events: two branches of a
// room of N members that each changed a few hundred state slots (bans, power
// levels and a topic on one; leaves, joins, a kick and a name on the other)
// resolved into one state, against the baseline of the same two state sets
// without conflicts (the first branch with itself), measured in the same run.
// The rooms are built with the test harness (TypeScript, loaded through tap's
// ts-node); the code measured is the built dist/.
import { register } from 'node:module';
import { pathToFileURL } from 'node:url';

process.env.TS_NODE_TRANSPILE_ONLY ??= '1';
register('@isaacs/ts-node-temp-fork-for-pr-2009/esm', pathToFileURL(`${process.cwd()}/`));

const SIZES = (process.env.BENCH_STATE_RES_SIZES ?? '1000,5000,20000').split(',').map(Number);
const CHANGES = Number(process.env.BENCH_STATE_RES_CHANGES ?? 100);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
// Unmeasured resolutions first, for at least WARMUP_SECONDS and 30 rounds: the
// first hundreds run as cold code, several times slower than once the JIT
// has compiled them (the first one is reported on its own).
const WARMUP_SECONDS = Number(process.env.BENCH_STATE_RES_WARMUP_SECONDS ?? 3);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(fn) {
  const started = process.hrtime.bigint();
  const result = fn();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, result };
}

async function buildBranches(harness, versionId, members) {
  const { TestRoom, ALICE, BOB } = harness;
  const user = (i) => `@u${i}:example.com`;
  const mods = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [user(i), 50]));
  const room = new TestRoom(versionId, { powerLevels: { users: { [ALICE]: 100, [BOB]: 50, ...mods } } });
  room.join(BOB);
  for (let i = 0; i < members; i++) room.join(user(i));
  const a = room;
  const b = room.fork();
  // Branch A: the admin bans CHANGES members, changes the power levels twice, sets a topic.
  for (let i = 0; i < CHANGES; i++) a.member(ALICE, user(members - 1 - i), 'ban');
  a.setPowerLevels({ users: { [ALICE]: 100, [BOB]: 50, ...mods, [user(30)]: 40 } });
  a.add({ type: 'm.room.topic', stateKey: '', sender: ALICE, content: { topic: 'A' } });
  a.setPowerLevels({ users: { [ALICE]: 100, [BOB]: 50, ...mods, [user(31)]: 40 } });
  // Branch B: CHANGES members leave, CHANGES new users join, a moderator kicks one and names the room.
  for (let i = 0; i < CHANGES; i++) b.member(user(100 + i), user(100 + i), 'leave');
  for (let i = 0; i < CHANGES; i++) b.join(user(members + i));
  b.member(BOB, user(25), 'leave');
  b.add({ type: 'm.room.name', stateKey: '', sender: BOB, content: { name: 'B' } });
  const events = new Map([...a.events, ...b.events]);
  return { a: a.stateIds(), b: b.stateIds(), getEvent: (id) => events.get(id), events: events.size };
}

export async function run() {
  const harness = await import('../test/harness/room-events.ts');
  const { resolveState } = await import('../dist/matrix/auth/index.js');
  const { roomVersion } = await import('../dist/matrix/events/room-versions.js');
  const table = [['room version, members (state events), events in the DAG', 'conflicted slots', 'first resolution, cold (ms)', 'resolution (median ms)', 'baseline: no conflicts (median ms)', 'resolved state']];
  const notes = [];
  for (const versionId of ['10', '1']) {
    const version = roomVersion(versionId);
    for (const members of SIZES) {
      const { a, b, getEvent, events } = await buildBranches(harness, versionId, members);
      const conflicted = new Set([...a.keys(), ...b.keys()].filter((slot) => a.get(slot) !== b.get(slot))).size;
      const same = new Map(a);
      const conflictedRuns = [];
      const baselineRuns = [];
      const first = time(() => resolveState(version, [a, b], getEvent)).ms;
      const warmUntil = performance.now() + WARMUP_SECONDS * 1000;
      for (let r = 0; r < 30 || performance.now() < warmUntil; r++) {
        resolveState(version, [a, b], getEvent);
        resolveState(version, [a, same], getEvent);
      }
      let resolved;
      for (let r = 0; r < ROUNDS; r++) {
        const c = time(() => resolveState(version, [a, b], getEvent));
        resolved = c.result;
        conflictedRuns.push(c.ms);
        baselineRuns.push(time(() => resolveState(version, [a, same], getEvent)).ms);
      }
      const banned = [...resolved.values()].filter((id) => getEvent(id).content.membership === 'ban').length;
      table.push([
        `v${versionId}, ${members.toLocaleString('en')} (${a.size.toLocaleString('en')}), ${events.toLocaleString('en')}`,
        conflicted,
        first.toFixed(1),
        median(conflictedRuns).toFixed(1),
        median(baselineRuns).toFixed(2),
        `${resolved.size.toLocaleString('en')} slots, ${banned} bans kept`,
      ]);
    }
  }
  notes.push(`each branch changed ${CHANGES} member slots one way and ${CHANGES * 2} the other, plus power levels, topic, name and a kick; after at least ${WARMUP_SECONDS} s and 30 rounds unmeasured, ${ROUNDS} rounds, the median reported (the cold column is the very first resolution of that room)`);
  notes.push('v10 runs state resolution v2 (auth difference over the whole auth DAG, power ordering, mainline ordering, iterative auth checks); v1 runs the original algorithm (conflicted events only)');
  return { title: 'State resolution', table, notes };
}

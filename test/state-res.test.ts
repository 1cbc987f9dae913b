// State resolution: the scenarios of Synapse's tests/state/test_v2.py
// reimplemented (a room DAG is walked in topological order, the state before
// each event resolved from its prev events' states), the spec's examples for
// v1 and v2, and the parts of the algorithm on their own.
import t, { type Test } from 'tap';
import { createHash } from 'node:crypto';
import type { JsonObject } from '../src/matrix/canonical-json.js';
import type { RoomVersion } from '../src/matrix/events/room-versions.js';
import { stateSlot, type RoomEvent, type StateMap } from '../src/matrix/events/types.js';
import { MissingEventError, authEventSlots, resolveState } from '../src/matrix/auth/index.js';
import { authDifference } from '../src/matrix/auth/auth-chain.js';
import { mainlineSort, reverseTopologicalPowerSort, senderPowerLevel } from '../src/matrix/auth/state-res-v2.js';
import { ALICE, ALL_VERSIONS, BOB, CHARLIE, EVELYN, ZARA, makeEvent, versionOf } from './harness/room-events.js';

const V2_VERSIONS = ALL_VERSIONS.filter((v) => v.stateResolution === 2);

interface Node {
  id: string;
  sender: string;
  type: string;
  stateKey?: string;
  content?: JsonObject;
}

const eventIdOf = (node: string) => `$${node}:example.com`;
const topic = (id: string, sender: string): Node => ({ id, sender, type: 'm.room.topic', stateKey: '' });
const levels = (id: string, sender: string, content: JsonObject): Node => ({ id, sender, type: 'm.room.power_levels', stateKey: '', content });
const membership = (id: string, sender: string, target: string, value: string): Node => ({ id, sender, type: 'm.room.member', stateKey: target, content: { membership: value } });

const INITIAL: Node[] = [
  { id: 'CREATE', sender: ALICE, type: 'm.room.create', stateKey: '', content: { creator: ALICE } },
  membership('IMA', ALICE, ALICE, 'join'),
  levels('IPOWER', ALICE, { users: { [ALICE]: 100 } }),
  { id: 'IJR', sender: ALICE, type: 'm.room.join_rules', stateKey: '', content: { join_rule: 'public' } },
  membership('IMB', BOB, BOB, 'join'),
  membership('IMC', CHARLIE, CHARLIE, 'join'),
  membership('IMZ', ZARA, ZARA, 'join'),
  { id: 'START', sender: ZARA, type: 'm.room.message' },
  { id: 'END', sender: ZARA, type: 'm.room.message' },
];
const INITIAL_EDGES = ['START', 'IMZ', 'IMC', 'IMB', 'IJR', 'IPOWER', 'IMA', 'CREATE'];

/**
 * Builds the DAG (each edge list a chain of "has prev event") in topological
 * order, smallest node name first among the ready ones; each event's auth
 * events are picked from the state before it, and that state is resolved from
 * the states after its prev events. Returns the states after each node.
 */
function runDag(version: RoomVersion, nodes: Node[], edges: string[][]) {
  const all = [...INITIAL, ...nodes];
  const byId = new Map(all.map((n) => [n.id, n]));
  const prevs = new Map(all.map((n) => [n.id, new Set<string>()]));
  for (const chain of [INITIAL_EDGES, ...edges]) for (let i = 0; i + 1 < chain.length; i++) prevs.get(chain[i]!)!.add(chain[i + 1]!);

  const events = new Map<string, RoomEvent>();
  const stateAfter = new Map<string, StateMap>();
  const depthOf = new Map<string, number>();
  const done = new Set<string>();
  let ts = 0;
  while (done.size < all.length) {
    const ready = all.filter((n) => !done.has(n.id) && [...prevs.get(n.id)!].every((p) => done.has(p))).map((n) => n.id).sort();
    const id = ready[0]!;
    const node = byId.get(id)!;
    const prevIds = [...prevs.get(id)!];
    let before: StateMap;
    if (prevIds.length === 0) before = new Map();
    else if (prevIds.length === 1) before = stateAfter.get(prevIds[0]!)!;
    else before = resolveState(version, prevIds.map((p) => stateAfter.get(p)!), (eid) => events.get(eid));
    const content = node.content ?? {};
    const authEvents = authEventSlots({ type: node.type, stateKey: node.stateKey, sender: node.sender, content }, version).flatMap((slot) => {
      const e = before.get(slot);
      return e === undefined ? [] : [e];
    });
    const depth = Math.max(0, ...prevIds.map((p) => depthOf.get(p)!)) + 1;
    depthOf.set(id, depth);
    const event = makeEvent(version, {
      eventId: eventIdOf(id),
      roomId: '!test:example.com',
      type: node.type,
      stateKey: node.stateKey,
      sender: node.sender,
      content,
      prevEvents: prevIds.map(eventIdOf),
      authEvents,
      depth,
      originServerTs: ts++,
    });
    events.set(event.eventId, event);
    const after = new Map(before);
    if (node.stateKey !== undefined) after.set(stateSlot(node.type, node.stateKey), event.eventId);
    stateAfter.set(id, after);
    done.add(id);
  }
  return { events, stateAfter };
}

/** Synapse's do_check: the state at END, apart from slots unchanged since START, is the expected nodes. */
function checkDag(t: Test, version: RoomVersion, nodes: Node[], edges: string[][], expectedNodes: string[]) {
  const { events, stateAfter } = runDag(version, nodes, edges);
  const expected = new Map(expectedNodes.map((n) => {
    const e = events.get(eventIdOf(n))!;
    return [stateSlot(e.type, e.stateKey!), e.eventId];
  }));
  const start = stateAfter.get('START')!;
  const end = new Map([...stateAfter.get('END')!].filter(([slot, id]) => expected.has(slot) || start.get(slot) !== id));
  t.same(Object.fromEntries(end), Object.fromEntries(expected), `v${version.id}: state at END`);
}

// Alice sets topics and demotes Bob (PA2) while Bob, on another branch, re-sends
// his level (PB) and sets a topic (T3).
const TOPIC_NODES: Node[] = [
      topic('T1', ALICE),
      levels('PA1', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
      topic('T2', ALICE),
      levels('PA2', ALICE, { users: { [ALICE]: 100, [BOB]: 0 } }),
      levels('PB', BOB, { users: { [ALICE]: 100, [BOB]: 50 } }),
      topic('T3', BOB),
];

const scenarios: Array<{ name: string; nodes: Node[]; edges: string[][]; expected: string[] }> = [
  {
    name: 'ban vs power levels: the ban wins over a power levels event sent by the banned user',
    nodes: [
      levels('PA', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
      membership('MA', ALICE, ALICE, 'join'),
      membership('MB', ALICE, BOB, 'ban'),
      levels('PB', BOB, { users: { [ALICE]: 100, [BOB]: 50 } }),
    ],
    edges: [
      ['END', 'MB', 'MA', 'PA', 'START'],
      ['END', 'PB', 'PA'],
    ],
    expected: ['PA', 'MA', 'MB'],
  },
  {
    name: 'join rule evasion: a join on a branch that did not see the room go invite-only is dropped',
    nodes: [
      { id: 'JR', sender: ALICE, type: 'm.room.join_rules', stateKey: '', content: { join_rules: 'private' } },
      membership('ME', EVELYN, EVELYN, 'join'),
    ],
    edges: [
      ['END', 'JR', 'START'],
      ['END', 'ME', 'START'],
    ],
    expected: ['JR'],
  },
  {
    name: 'offtopic power levels: a chain of power level changes beats its own ancestor',
    nodes: [
      levels('PA', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
      levels('PB', BOB, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 50 } }),
      levels('PC', CHARLIE, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 0 } }),
    ],
    edges: [
      ['END', 'PC', 'PB', 'PA', 'START'],
      ['END', 'PA'],
    ],
    expected: ['PC'],
  },
  {
    name: 'topic basic: a demoted user’s topic loses to the topic under the newer power levels',
    nodes: TOPIC_NODES,
    edges: [
      ['END', 'PA2', 'T2', 'PA1', 'T1', 'START'],
      ['END', 'T3', 'PB', 'PA1'],
    ],
    expected: ['PA2', 'T2'],
  },
  {
    name: 'topic reset: a banned user’s topic is undone',
    nodes: [
      topic('T1', ALICE),
      levels('PA', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
      topic('T2', BOB),
      membership('MB', ALICE, BOB, 'ban'),
    ],
    edges: [
      ['END', 'MB', 'T2', 'PA', 'T1', 'START'],
      ['END', 'T1'],
    ],
    expected: ['T1', 'MB', 'PA'],
  },
  {
    name: 'topic: a later topic on the winning branch',
    nodes: [
      ...TOPIC_NODES,
      { id: 'MZ1', sender: ZARA, type: 'm.room.message' },
      topic('T4', ALICE),
    ],
    edges: [
      ['END', 'T4', 'MZ1', 'PA2', 'T2', 'PA1', 'T1', 'START'],
      ['END', 'MZ1', 'T3', 'PB', 'PA1'],
    ],
    expected: ['T4', 'PA2'],
  },
  {
    name: 'mainline sort: the topic under the newest power levels wins over a later one under older levels',
    nodes: [
      topic('T1', ALICE),
      levels('PA1', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
      topic('T2', ALICE),
      levels('PA2', ALICE, { users: { [ALICE]: 100, [BOB]: 50 }, events: { 'm.room.power_levels': 100 } }),
      levels('PB', BOB, { users: { [ALICE]: 100, [BOB]: 50 } }),
      topic('T3', BOB),
      topic('T4', ALICE),
    ],
    edges: [
      ['END', 'T3', 'PA2', 'T2', 'PA1', 'T1', 'START'],
      ['END', 'T4', 'PB', 'PA1'],
    ],
    expected: ['T3', 'PA2'],
  },
];

for (const s of scenarios) {
  t.test(`v2 (Synapse test_v2.py): ${s.name}`, async (t) => {
    for (const version of V2_VERSIONS) checkDag(t, version, s.nodes, s.edges, s.expected);
  });
}

t.test('two joins at the same time: both kept (Synapse SimpleParamStateTestCase)', async (t) => {
  for (const version of ALL_VERSIONS) {
    const nodes: Node[] = [
      membership('JB', EVELYN, EVELYN, 'join'),
      { id: 'JC', sender: '@fred:example.com', type: 'm.room.member', stateKey: '@fred:example.com', content: { membership: 'join' } },
    ];
    checkDag(t, version, nodes, [['END', 'JB', 'START'], ['END', 'JC', 'START']], ['JB', 'JC']);
  }
});

// The spec's soft failure example (server-server API, "Soft failure"): B bans
// X, C is X's topic change on a branch that did not see the ban, D has both as
// prev events. "In the original version of the algorithm C would be in the
// resolved state, whereas in latter versions the algorithm tries to
// prioritise the ban over the topic change."
t.test('spec example: ban against a topic change on another branch', async (t) => {
  const X = EVELYN;
  const nodes: Node[] = [
    levels('PX', ALICE, { users: { [ALICE]: 100, [X]: 50 } }),
    membership('MX', X, X, 'join'),
    membership('B', ALICE, X, 'ban'),
    { id: 'C', sender: X, type: 'm.room.topic', stateKey: '', content: { topic: 'evading the ban' } },
  ];
  const edges = [['END', 'B', 'MX', 'PX', 'START'], ['END', 'C', 'MX']];
  for (const version of ALL_VERSIONS) {
    const { stateAfter } = runDag(version, nodes, edges);
    const atD = stateAfter.get('END')!;
    t.equal(atD.get(stateSlot('m.room.member', X)), eventIdOf('B'), `v${version.id}: X stays banned`);
    if (version.stateResolution === 1) t.equal(atD.get(stateSlot('m.room.topic', '')), eventIdOf('C'), 'v1: the topic change is in the resolved state');
    else t.notOk(atD.has(stateSlot('m.room.topic', '')), `v${version.id}: the ban wins over the topic change`);
  }
});

// The spec's state resolution example (server-server API, "Room State
// Resolution"): E3 and E4 both set the room name on two branches from E1.
t.test('spec example: two room names on two branches', async (t) => {
  const nodes: Node[] = [
    { id: 'E2', sender: ALICE, type: 'm.room.message' },
    { id: 'E3', sender: ALICE, type: 'm.room.name', stateKey: '', content: { name: 'E3' } },
    { id: 'E4', sender: ALICE, type: 'm.room.name', stateKey: '', content: { name: 'E4' } },
  ];
  // E3 is deeper (after E2), E4 is built after E3 and so later in origin_server_ts.
  const edges = [['END', 'E3', 'E2', 'START'], ['END', 'E4', 'START']];
  for (const version of ALL_VERSIONS) {
    const { stateAfter, events } = runDag(version, nodes, edges);
    t.ok(events.get(eventIdOf('E4'))!.originServerTs > events.get(eventIdOf('E3'))!.originServerTs && events.get(eventIdOf('E3'))!.depth > events.get(eventIdOf('E4'))!.depth);
    const winner = version.stateResolution === 1 ? 'E3' : 'E4';
    t.equal(stateAfter.get('END')!.get(stateSlot('m.room.name', '')), eventIdOf(winner), `v${version.id}: ${winner} (${version.stateResolution === 1 ? 'the greater depth' : 'same mainline position, the later origin_server_ts'})`);
  }
});

t.test('reverse topological power ordering: Kahn’s algorithm with the spec’s tie-breaks', async (t) => {
  const version = versionOf('10');
  // Synapse's LexicographicalTestCase graph, as auth events: l->o, m->n, m->o, n->o, p->o.
  const graph: Record<string, string[]> = { l: ['o'], m: ['n', 'o'], n: ['o'], o: [], p: ['o'] };
  const events = new Map(Object.entries(graph).map(([id, auth]) => [`$${id}`, makeEvent(version, { eventId: `$${id}`, type: 'm.room.member', stateKey: ALICE, sender: ALICE, content: { membership: 'join' }, authEvents: auth.map((a) => `$${a}`), originServerTs: 5 })]));
  const get = (id: string) => events.get(id)!;
  t.same(reverseTopologicalPowerSort(['$m', '$p', '$l'], new Set(events.keys()), get), ['$o', '$l', '$n', '$m', '$p'], 'same level and time: by event ID');
  t.same(reverseTopologicalPowerSort(['$m'], new Set(['$m', '$o']), get), ['$o', '$m'], 'only the full conflicted set is walked ($n is outside)');

  // The tie-breaks: higher sender level first, then earlier origin_server_ts, then smaller ID.
  const create = makeEvent(version, { eventId: '$create', type: 'm.room.create', stateKey: '', sender: ALICE, content: { creator: ALICE } });
  const levels = makeEvent(version, { eventId: '$pl', type: 'm.room.power_levels', stateKey: '', sender: ALICE, content: { users: { [ALICE]: 100, [BOB]: 50 } }, authEvents: ['$create'] });
  const mk = (id: string, sender: string, ts: number) => makeEvent(version, { eventId: id, type: 'm.room.join_rules', stateKey: '', sender, content: {}, authEvents: ['$create', '$pl'], originServerTs: ts });
  const pool = new Map([create, levels, mk('$b-late', BOB, 9), mk('$a-late', ALICE, 9), mk('$b-early', BOB, 1), mk('$c', CHARLIE, 0), mk('$b-early2', BOB, 1)].map((e) => [e.eventId, e]));
  const ids = ['$b-late', '$a-late', '$b-early', '$c', '$b-early2'];
  t.same(reverseTopologicalPowerSort(ids, new Set(ids), (id) => pool.get(id)!), ['$a-late', '$b-early', '$b-early2', '$b-late', '$c']);
  t.equal(senderPowerLevel(pool.get('$c')!, (id) => pool.get(id)!), 0);
  t.equal(senderPowerLevel(pool.get('$a-late')!, (id) => pool.get(id)!), 100);
});

t.test('sender power level from the event’s own auth events (Synapse test_get_power_level_for_sender)', async (t) => {
  for (const version of [versionOf('10'), versionOf('11')]) {
    const create = makeEvent(version, { type: 'm.room.create', stateKey: '', sender: ALICE, content: { room_version: version.id, ...(version.implicitRoomCreator ? {} : { creator: ALICE }) } });
    const join = makeEvent(version, { type: 'm.room.member', stateKey: ALICE, sender: ALICE, content: { membership: 'join' }, authEvents: [create.eventId], prevEvents: [create.eventId] });
    const levels = makeEvent(version, { type: 'm.room.power_levels', stateKey: '', sender: ALICE, content: { users: { [ALICE]: 100, [BOB]: 50 }, users_default: 10 }, authEvents: [create.eventId, join.eventId] });
    const pool = new Map([create, join, levels].map((e) => [e.eventId, e]));
    const topic = (sender: string, auth: RoomEvent[]) => makeEvent(version, { type: 'm.room.topic', stateKey: '', sender, content: { topic: 'Test' }, authEvents: auth.map((e) => e.eventId) });
    for (const [user, level] of [[ALICE, 100], [BOB, 50], [CHARLIE, 10]] as const) {
      t.equal(senderPowerLevel(topic(user, [create, join, levels]), (id) => pool.get(id)!), level, `v${version.id} ${user} with power levels`);
    }
    for (const [user, level] of [[ALICE, 100], [BOB, 0], [CHARLIE, 0]] as const) {
      t.equal(senderPowerLevel(topic(user, [create, join]), (id) => pool.get(id)!), level, `v${version.id} ${user} without power levels`);
    }
  }
});

t.test('mainline ordering', async (t) => {
  const version = versionOf('9');
  const create = makeEvent(version, { eventId: '$create', type: 'm.room.create', stateKey: '', sender: ALICE, content: { creator: ALICE } });
  const pl = (id: string, prev: string[]) => makeEvent(version, { eventId: id, type: 'm.room.power_levels', stateKey: '', sender: ALICE, content: { users: { [ALICE]: 100 } }, authEvents: ['$create', ...prev] });
  const topic = (id: string, auth: string[], ts: number) => makeEvent(version, { eventId: id, type: 'm.room.topic', stateKey: '', sender: ALICE, content: {}, authEvents: ['$create', ...auth], originServerTs: ts });
  const events = [create, pl('$p1', []), pl('$p2', ['$p1']), pl('$p3', ['$p2']), pl('$side', ['$p1']), pl('$side2', ['$side']), topic('$t-p3', ['$p3'], 1), topic('$t-p1', ['$p1'], 9), topic('$t-side2', ['$side2'], 0), topic('$t-none', [], 5), topic('$t-p2-late', ['$p2'], 7), topic('$t-p2-early', ['$p2'], 3), topic('$t-p2-early-b', ['$p2'], 3)];
  const pool = new Map(events.map((e) => [e.eventId, e]));
  const get = (id: string) => pool.get(id)!;
  const ids = ['$t-p3', '$t-p1', '$t-side2', '$t-none', '$t-p2-late', '$t-p2-early-b', '$t-p2-early'];
  t.same(mainlineSort(ids, '$p3', get), ['$t-none', '$t-side2', '$t-p1', '$t-p2-early', '$t-p2-early-b', '$t-p2-late', '$t-p3'], 'no power levels first, then by the mainline event met, then time, then ID');
  t.same(mainlineSort([], '$p3', get), []);
  t.same(mainlineSort(['$t-p3', '$t-p1'], undefined, get), ['$t-p3', '$t-p1'], 'no resolved power levels: by time');
});

t.test('auth difference: state events count in their own set’s chain (as Synapse computes it)', async (t) => {
  const version = versionOf('10');
  // A <- B <- C (C cites B, B cites A); D cites A.
  const mk = (id: string, auth: string[]) => makeEvent(version, { eventId: id, type: 'm.room.member', stateKey: id, sender: ALICE, content: {}, authEvents: auth });
  const pool = new Map([mk('$A', []), mk('$B', ['$A']), mk('$C', ['$B']), mk('$D', ['$A'])].map((e) => [e.eventId, e]));
  const get = (id: string) => pool.get(id)!;
  const set = (...ids: string[]) => new Map(ids.map((id) => [id, id]));
  t.same([...authDifference([set('$A'), set('$B')], get)].sort(), ['$B']);
  t.same([...authDifference([set('$C'), set('$D')], get)].sort(), ['$B', '$C', '$D']);
  t.same([...authDifference([set('$C'), set('$C')], get)].sort(), []);
  t.same([...authDifference([set('$C'), set('$B'), set('$A')], get)].sort(), ['$B', '$C']);
  // More than 32 state sets: several words of bits per event.
  const many = Array.from({ length: 40 }, (_, i) => (i === 37 ? set('$D') : set('$C')));
  t.same([...authDifference(many, get)].sort(), ['$B', '$C', '$D']);
  const all = Array.from({ length: 64 }, () => set('$C'));
  t.same([...authDifference(all, get)].sort(), [], '64 sets, no difference');
  // A cycle (possible with room versions 1 and 2's chosen event IDs) ends the walk.
  const cyclic = new Map([mk('$X', ['$Y']), mk('$Y', ['$X']), mk('$Z', [])].map((e) => [e.eventId, e]));
  t.same([...authDifference([set('$X'), set('$Z')], (id) => cyclic.get(id)!)].sort(), ['$X', '$Y', '$Z']);
});

t.test('resolveState: trivial inputs, missing events, rejected events', async (t) => {
  for (const version of ALL_VERSIONS) {
    const v = `v${version.id}`;
    t.same(resolveState(version, [], () => undefined), new Map(), `${v} no state sets`);
    const one = new Map([['a\u0000', '$1']]);
    t.same(resolveState(version, [one], () => undefined), one, `${v} one state set`);
    t.same(resolveState(version, [one, new Map(one)], () => undefined), one, `${v} identical state sets need no events`);
    const { stateAfter, events } = runDag(version, [topic('T1', ALICE), topic('T2', ALICE)], [['END', 'T1', 'START'], ['END', 'T2', 'START']]);
    const sets = [stateAfter.get('T1')!, stateAfter.get('T2')!];
    const missing = eventIdOf(version.stateResolution === 1 ? 'T1' : 'IMZ');
    let error: unknown;
    try {
      resolveState(version, sets, (id) => (id === missing ? undefined : events.get(id)));
    } catch (e) {
      error = e;
    }
    t.ok(error instanceof MissingEventError, `${v} MissingEventError`);
    t.match(error, { eventId: missing, name: 'MissingEventError', message: /needs event .* fetch it and resolve again/ }, `${v} naming the event`);
    // Same depth: v1 takes the lowest sha1(event_id); v2 the later origin_server_ts (T2, built after T1).
    const sha1 = (id: string) => createHash('sha1').update(id).digest('hex');
    const v1Winner = sha1(eventIdOf('T1')) < sha1(eventIdOf('T2')) ? 'T1' : 'T2';
    t.equal(resolveState(version, sets, (id) => events.get(id)).get(stateSlot('m.room.topic', '')), eventIdOf(version.stateResolution === 1 ? v1Winner : 'T2'), `${v} with every event known`);
  }
});

t.test('v2: rejected events stay out of the state, rejected auth events are not used', async (t) => {
  for (const version of V2_VERSIONS) {
    const nodes: Node[] = [
      levels('PB', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
      topic('T', BOB),
      { id: 'N', sender: ALICE, type: 'm.room.name', stateKey: '' },
    ];
    const { stateAfter, events } = runDag(version, nodes, [['END', 'T', 'PB', 'START'], ['END', 'N', 'START']]);
    const sets = [stateAfter.get('T')!, stateAfter.get('N')!];
    const get = (id: string) => events.get(id);
    const plain = resolveState(version, sets, get);
    t.equal(plain.get(stateSlot('m.room.topic', '')), eventIdOf('T'), `v${version.id}: Bob's topic, allowed by PB`);
    const topicRejected = resolveState(version, sets, get, { isRejected: (id) => id === eventIdOf('T') });
    t.notOk(topicRejected.has(stateSlot('m.room.topic', '')), `v${version.id}: a rejected topic stays out`);
    const levelsRejected = resolveState(version, sets, get, { isRejected: (id) => id === eventIdOf('PB') });
    t.notOk(levelsRejected.has(stateSlot('m.room.topic', '')), `v${version.id}: without the rejected PB Bob may not set the topic`);
    t.equal(levelsRejected.get(stateSlot('m.room.power_levels', '')), eventIdOf('IPOWER'), `v${version.id}: the rejected power levels stay out`);
  }
});

t.test('v1: conflicts only where two sets disagree; auth slots resolved as a chain, others newest allowed', async (t) => {
  const version = versionOf('1');
  // Branch 1: Alice raises Bob, Bob changes the power levels, Alice names the room.
  // Branch 2: Zara (level 0) names the room deeper in the DAG, Alice sets a topic.
  const nodes: Node[] = [
    levels('P1', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
    levels('P2', BOB, { users: { [ALICE]: 100, [BOB]: 50, [CHARLIE]: 10 } }),
    { id: 'N1', sender: ALICE, type: 'm.room.name', stateKey: '' },
    { id: 'X1', sender: ZARA, type: 'm.room.message' },
    { id: 'X2', sender: ZARA, type: 'm.room.message' },
    { id: 'X3', sender: ZARA, type: 'm.room.message' },
    { id: 'N3', sender: ZARA, type: 'm.room.name', stateKey: '' },
    topic('O', ALICE),
  ];
  const { stateAfter, events } = runDag(version, nodes, [
    ['END', 'N1', 'P2', 'P1', 'START'],
    ['END', 'O', 'N3', 'X3', 'X2', 'X1', 'START'],
  ]);
  const end = stateAfter.get('END')!;
  t.equal(end.get(stateSlot('m.room.power_levels', '')), eventIdOf('IPOWER'), 'power levels: P2 is checked after IPOWER (P1 is in neither set), under which Bob has 0: the chain stops');
  t.equal(end.get(stateSlot('m.room.topic', '')), eventIdOf('O'), 'a slot only one branch has is not conflicted in v1');
  t.ok(events.get(eventIdOf('N3'))!.depth > events.get(eventIdOf('N1'))!.depth, 'N3 is the deeper name');
  t.equal(end.get(stateSlot('m.room.name', '')), eventIdOf('N1'), 'name: N3 is newer but Zara may not set it, N1 is allowed');
});

t.test('v1: when no candidate is allowed the oldest is kept', async (t) => {
  const version = versionOf('1');
  const nodes: Node[] = [
    { id: 'Z1', sender: ZARA, type: 'm.room.name', stateKey: '' },
    { id: 'M', sender: ZARA, type: 'm.room.message' },
    { id: 'Z2', sender: ZARA, type: 'm.room.name', stateKey: '' },
  ];
  const { stateAfter } = runDag(version, nodes, [['END', 'Z1', 'START'], ['END', 'Z2', 'M', 'START']]);
  t.equal(stateAfter.get('END')!.get(stateSlot('m.room.name', '')), eventIdOf('Z1'));
});

t.test('v1: a power levels chain stops at the first event not allowed after the previous', async (t) => {
  const version = versionOf('1');
  const nodes: Node[] = [
    levels('P1', ALICE, { users: { [ALICE]: 100, [BOB]: 50 } }),
    levels('PZ', ZARA, { users: { [ALICE]: 100, [ZARA]: 100 } }),
    { id: 'N', sender: ZARA, type: 'm.room.name', stateKey: '' },
    { id: 'M', sender: ALICE, type: 'm.room.message' },
  ];
  // Zara's power levels event stands on nothing (she has 0): on its own branch it is "allowed" only because
  // the branch's state is built without checks here; resolution must still stop before it.
  const { stateAfter } = runDag(version, nodes, [['END', 'P1', 'START'], ['END', 'N', 'PZ', 'M', 'START']]);
  const end = stateAfter.get('END')!;
  t.equal(end.get(stateSlot('m.room.power_levels', '')), eventIdOf('P1'), 'P1 (older) first; PZ is not allowed after it');
  t.equal(end.get(stateSlot('m.room.name', '')), eventIdOf('N'), 'the only name, unconflicted in v1');
});

t.test('v2 with chosen event IDs (room version 2): cyclic auth events and non-state auth events end, order-independent', async (t) => {
  const version = versionOf('2');
  const e = (id: string, type: string, stateKey: string | undefined, auth: string[], content: JsonObject = {}, ts = 1) =>
    makeEvent(version, { eventId: id, type, stateKey, sender: ALICE, content, authEvents: auth, originServerTs: ts });
  const pool = new Map(
    [
      e('$create:example.com', 'm.room.create', '', [], { creator: ALICE }),
      e('$join:example.com', 'm.room.member', ALICE, ['$create:example.com'], { membership: 'join' }),
      // Two power levels events citing each other, and a topic citing a message as an auth event.
      e('$pa:example.com', 'm.room.power_levels', '', ['$create:example.com', '$join:example.com', '$pb:example.com'], { users: { [ALICE]: 100 } }, 2),
      e('$pb:example.com', 'm.room.power_levels', '', ['$create:example.com', '$join:example.com', '$pa:example.com'], { users: { [ALICE]: 90 } }, 3),
      e('$msg:example.com', 'm.room.message', undefined, ['$create:example.com', '$join:example.com']),
      e('$topic:example.com', 'm.room.topic', '', ['$create:example.com', '$join:example.com', '$pb:example.com', '$msg:example.com'], {}, 4),
    ].map((x) => [x.eventId, x]),
  );
  const base = [[stateSlot('m.room.create', ''), '$create:example.com'], [stateSlot('m.room.member', ALICE), '$join:example.com']] as const;
  const a = new Map([...base, [stateSlot('m.room.power_levels', ''), '$pa:example.com']]);
  const b = new Map([...base, [stateSlot('m.room.power_levels', ''), '$pb:example.com'], [stateSlot('m.room.topic', ''), '$topic:example.com']]);
  const get = (id: string) => pool.get(id);
  const ab = resolveState(version, [a, b], get);
  const ba = resolveState(version, [b, a], get);
  t.same(Object.fromEntries(ab), Object.fromEntries(ba), 'same either way');
  t.equal(ab.get(stateSlot('m.room.create', '')), '$create:example.com');
  t.equal(ab.get(stateSlot('m.room.topic', '')), '$topic:example.com', 'the topic is allowed by the state it is checked against');
});

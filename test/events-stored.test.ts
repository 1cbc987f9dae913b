// parseStoredPdu reads back what parsePdu accepted (the room store's events)
// without canonical JSON or hashes: for every room version it must give the
// very fields parsePdu gave, references of both formats and `redacts` where
// the version keeps it included.
import t from 'tap';
import { parsePdu, parseStoredPdu } from '../src/matrix/events/index.js';
import { ALICE, ALL_VERSIONS, madeUpEventId, makeEvent } from './harness/room-events.js';

for (const version of ALL_VERSIONS) {
  t.test(`room version ${version.id}`, async (t) => {
    const target = madeUpEventId(version, ALICE);
    const made = makeEvent(version, {
      type: 'm.room.redaction',
      sender: ALICE,
      content: version.redactsInContent ? { redacts: target, reason: 'spam' } : { reason: 'spam' },
      ...(version.redactsInContent ? {} : { redacts: target }),
      prevEvents: [madeUpEventId(version, ALICE), madeUpEventId(version, ALICE)],
      authEvents: [madeUpEventId(version, ALICE)],
      depth: 7,
    });
    const parsed = parsePdu(made.pdu, version);
    t.same(parseStoredPdu(parsed.pdu, version, parsed.eventId), parsed, 'the fields parsePdu gives');
    t.equal(parseStoredPdu(parsed.pdu, version, parsed.eventId).redacts, target);
    const state = parsePdu(makeEvent(version, { type: 'm.room.topic', stateKey: '', sender: ALICE, content: { topic: 'x' } }).pdu, version);
    t.same(parseStoredPdu(state.pdu, version, state.eventId), state, 'a state event');
  });
}

t.test('a stored PDU without references (as no accepted event is) reads as none', async (t) => {
  const version = ALL_VERSIONS[9]!;
  const parsed = parsePdu(makeEvent(version, { type: 'm.room.message', sender: ALICE, content: { body: 'x' } }).pdu, version);
  const { prev_events: _p, auth_events: _a, ...bare } = parsed.pdu;
  const read = parseStoredPdu(bare, version, parsed.eventId);
  t.same([read.prevEvents, read.authEvents, read.redacts], [[], [], undefined]);
});

// The room checks: events made to order (a valid one, a forged signature, a
// wrong content hash, failed auth checks, another room, another server's
// user), a transaction over the PDU limit and a repeated transaction ID, sent
// into a room the target is in, and what became of each read back from the
// target (see room-judge.ts for how each outcome is told apart).
import { redactPdu } from '../../matrix/events/index.js';
import type { JsonObject } from '../../matrix/canonical-json.js';
import type { BuildEventOptions, BuiltEvent } from '../../rooms/build-event.js';
import type { CheckDefinition, ProbeContext } from '../context.js';
import { SPEC_REFS } from '../context.js';
import { combine, describe, isMatrixError } from '../judge.js';
import { judgeAccepted, judgeDropped, judgeDuplicate, judgeNotAccepted, judgePduLimit, judgeRedacted, type Judgement, type EventObservation } from '../room-judge.js';
import {
  after,
  build,
  describeSend,
  exchange,
  getEvent,
  readServed,
  statusOf,
  newTxnId,
  observe,
  probeUsers,
  roomSession,
  sendTransaction,
  statePower,
  sync,
  type ObserveOptions,
  type ProbeRoom,
} from '../room-session.js';
import type { Exchange, Outcome } from '../types.js';

/** The state type the power check tries to set (harmless if a wrong server takes it). */
export const POWER_TEST_TYPE = 'org.fedpeer.probe.power';
/** The spec's limit is 50 PDUs per transaction. */
const OVER_LIMIT = 51;

const text = (body: string): JsonObject => ({ msgtype: 'm.text', body: `fedpeer probe: ${body}` });

/** Runs `body` in the run's room, or says why there is none. */
async function inRoom(ctx: ProbeContext, body: (room: ProbeRoom) => Promise<Outcome>): Promise<Outcome> {
  const session = await roomSession(ctx);
  if ('missing' in session) return { verdict: 'could_not_run', reason: session.missing, exchanges: session.setup };
  return body(session.room);
}

/** Sends `events` in one transaction, waits until the target has handled them, and judges what it shows of `subject`. */
async function trial(
  ctx: ProbeContext,
  room: ProbeRoom,
  label: string,
  events: BuiltEvent[],
  subject: BuiltEvent,
  judge: (o: EventObservation) => Judgement,
  opts: ObserveOptions = {},
): Promise<Outcome> {
  const sent = await sendTransaction(ctx, events.map((e) => e.pdu));
  const exchanges: Exchange[] = [exchange(label, sent.result, describeSend(sent))];
  const marker = await sync(ctx, room, `after ${label}`);
  exchanges.push(marker.exchange);
  if (!marker.ok) return { verdict: 'could_not_run', reason: `the target did not show the probe's next event, so it may not have handled this one yet: ${marker.exchange.finding}`, exchanges };
  const seen = await observe(ctx, room, subject, sent, opts);
  const { verdict, reason } = judge(seen.observation);
  return { verdict, reason: `${subject.eventId}: ${reason}`, exchanges: [...exchanges, ...seen.exchanges] };
}

/** One message made to order: who sends it, its text, and what is wrong with it. */
interface Message extends Pick<BuildEventOptions, 'sender' | 'signature' | 'hash' | 'extra'> {
  /** What the transaction carries, for the report. */
  label: string;
  body: string;
}

/** A check that sends one message made to order (or says why it cannot: a string) and judges what became of it. */
function oneMessage(
  id: string,
  title: string,
  expected: string,
  make: (ctx: ProbeContext, room: ProbeRoom) => Message | string,
  judge: (o: EventObservation, event: BuiltEvent, room: ProbeRoom) => Judgement,
): CheckDefinition {
  return roomCheck(id, title, expected, (ctx, room) => {
    const m = make(ctx, room);
    if (typeof m === 'string') return Promise.resolve({ verdict: 'could_not_run', reason: m });
    const { label, body, ...options } = m;
    const event = build(ctx, room, { ...options, type: 'm.room.message', content: text(body) });
    return trial(ctx, room, label, [event], event, (o) => judge(o, event, room));
  });
}

function roomCheck(id: string, title: string, expected: string, run: (ctx: ProbeContext, room: ProbeRoom) => Promise<Outcome>, spec: CheckDefinition['spec'] = SPEC_REFS.pduChecks): CheckDefinition {
  return { id, group: 'rooms', title, requirement: 'must', spec, expected, run: (ctx) => inRoom(ctx, (room) => run(ctx, room)) };
}

async function validEvent(ctx: ProbeContext, room: ProbeRoom): Promise<Outcome> {
  const state = build(ctx, room, { sender: room.user, type: 'm.room.member', stateKey: room.user, content: { membership: 'join', displayname: `fedpeer probe ${ctx.runTag}` } });
  const message = build(ctx, room, { sender: room.user, type: 'm.room.message', content: text('a valid event'), ...after(state, room.version) });
  const sent = await sendTransaction(ctx, [state.pdu, message.pdu]);
  const exchanges: Exchange[] = [exchange('a state event and a message', sent.result, describeSend(sent))];
  const marker = await sync(ctx, room, 'after the valid events');
  exchanges.push(marker.exchange);
  if (!marker.ok) return { verdict: 'could_not_run', reason: `the target did not show the probe's next event: ${marker.exchange.finding}`, exchanges };
  const ofState = await observe(ctx, room, state, sent, { state: { after: message.eventId }, skipNewest: true });
  const ofMessage = await observe(ctx, room, message, sent);
  const judged = [judgeAccepted(ofState.observation), judgeAccepted(ofMessage.observation)];
  return {
    verdict: combine(judged.map((j) => j.verdict)),
    reason: `${room.how}. State event ${state.eventId}: ${judged[0]!.reason}. Message ${message.eventId}: ${judged[1]!.reason}`,
    exchanges: [...room.setup, ...exchanges, ...ofState.exchanges, ...ofMessage.exchanges],
  };
}

async function authPower(ctx: ProbeContext, room: ProbeRoom): Promise<Outcome> {
  const power = statePower(ctx, room, room.weakUser, POWER_TEST_TYPE);
  if (power.has >= power.needs) {
    return { verdict: 'could_not_run', reason: `${room.weakUser} has power ${power.has} in ${room.roomId}, enough for a ${POWER_TEST_TYPE} state event (${power.needs}): give a room where the probe's user has less power` };
  }
  const event = build(ctx, room, { sender: room.weakUser, type: POWER_TEST_TYPE, stateKey: '', content: { run: ctx.runTag } });
  return trial(ctx, room, `a state event needing power ${power.needs} from ${room.weakUser} (power ${power.has})`, [event], event, judgeNotAccepted, { state: {} });
}

async function pduLimit(ctx: ProbeContext): Promise<Outcome> {
  const session = await roomSession(ctx);
  const room = 'room' in session ? session.room : undefined;
  const user = probeUsers(ctx.origin).main;
  const events: BuiltEvent[] = [];
  for (let i = 0; i < OVER_LIMIT; i++) {
    const content = text(`PDU ${i + 1} of ${OVER_LIMIT}`);
    const previous = events[i - 1];
    events.push(
      room
        ? build(ctx, room, { sender: room.user, type: 'm.room.message', content, ...(previous ? after(previous, room.version) : {}) })
        : ctx.rooms.buildEvent({ roomId: `!fedpeer-probe-limit-${ctx.runTag}:${ctx.origin}`, roomVersion: '10', sender: user, type: 'm.room.message', content, prevEvents: previous ? [previous.eventId] : [], depth: i + 1 }),
    );
  }
  const sent = await sendTransaction(ctx, events.map((e) => e.pdu));
  const exchanges: Exchange[] = [exchange(`${OVER_LIMIT} PDUs`, sent.result, describeSend(sent))];
  const answer = 'status' in sent.result.response ? { status: sent.result.response.status, matrixError: isMatrixError(sent.result.response) } : { failure: sent.result.response.failure, matrixError: false };
  let applied: string[] | undefined;
  if (room && answer.status !== undefined) {
    const marker = await sync(ctx, room, `after ${OVER_LIMIT} PDUs`);
    exchanges.push(marker.exchange);
    if (marker.ok) {
      applied = [];
      for (const e of [events[0]!, events[OVER_LIMIT - 1]!]) {
        const r = await getEvent(ctx, e.eventId);
        exchanges.push(exchange('/event', r, describe(r.response)));
        if (statusOf(r) === 200) applied.push(e.eventId);
      }
    }
  }
  return { ...judgePduLimit(answer, applied), exchanges };
}

async function duplicate(ctx: ProbeContext, room: ProbeRoom): Promise<Outcome> {
  const txnId = newTxnId(ctx);
  const first = build(ctx, room, { sender: room.user, type: 'm.room.message', content: text('the first of a repeated transaction') });
  const added = build(ctx, room, { sender: room.user, type: 'm.room.message', content: text('added to a repeated transaction ID'), ...after(first, room.version) });
  const once = await sendTransaction(ctx, [first.pdu], txnId);
  const exchanges: Exchange[] = [exchange(`transaction ${txnId}`, once.result, describeSend(once))];
  const marker = await sync(ctx, room, 'after the first transaction');
  exchanges.push(marker.exchange);
  const firstServed = await getEvent(ctx, first.eventId);
  exchanges.push(exchange('/event of its event', firstServed, describe(firstServed.response)));
  if (!once.pdus || !marker.ok || statusOf(firstServed) !== 200) return { verdict: 'could_not_run', reason: 'the first transaction was not taken, so there is nothing to repeat', exchanges };
  const again = await sendTransaction(ctx, [first.pdu, added.pdu], txnId);
  exchanges.push(exchange(`transaction ${txnId} again, one event added`, again.result, describeSend(again)));
  const marker2 = await sync(ctx, room, 'after the repeated transaction');
  exchanges.push(marker2.exchange);
  const addedServed = await getEvent(ctx, added.eventId);
  exchanges.push(exchange('/event of the added event', addedServed, describe(addedServed.response)));
  const status = statusOf(again.result);
  const judged = judgeDuplicate(
    {
      ...(status !== undefined ? { status } : { failure: describe(again.result.response) }),
      listsAdded: again.pdus !== undefined && added.eventId in again.pdus,
      sameAnswer: JSON.stringify(again.result.json) === JSON.stringify(once.result.json),
    },
    readServed(addedServed),
  );
  return { ...judged, exchanges };
}

export const roomChecks: CheckDefinition[] = [
  roomCheck(
    'rooms.valid-event',
    'A valid event is accepted',
    'A correctly formed, signed and authorised state event and message sent in a transaction are accepted: /event serves them, /state_ids after the state event holds it, the client (with a token) is shown them.',
    validEvent,
  ),
  oneMessage(
    'rooms.forged-signature',
    'An event with a forged signature is dropped',
    "An event whose signature does not verify with the origin's key is dropped: /event does not serve it and it never becomes part of the room.",
    (_ctx, room) => ({ label: 'an event with a forged signature', sender: room.user, body: 'a forged signature', signature: 'bad' }),
    judgeDropped,
  ),
  oneMessage(
    'rooms.content-hash',
    'An event with a wrong content hash is redacted, not dropped',
    'An event whose content hash does not match (its signature, over the redacted form, still verifies) is kept in its redacted form: /event serves it with the redacted content, and so does the client.',
    (_ctx, room) => ({ label: 'an event with a wrong content hash', sender: room.user, body: 'a wrong content hash', hash: 'bad' }),
    (o, event, room) => judgeRedacted(o, redactPdu(event.pdu, room.version).content as JsonObject),
  ),
  roomCheck(
    'rooms.auth-power',
    'A state change without power is rejected',
    'A state event from a joined sender without the power level it needs fails the authorization rules and is rejected: it never reaches the room state (/state_ids) or the client.',
    authPower,
  ),
  oneMessage(
    'rooms.auth-not-joined',
    'A message from a user who is not joined is rejected',
    'A message from a sender who is not a member of the room fails the authorization rules and is rejected: it is never among the events the target builds on (make_join prev_events) nor shown to the client.',
    (ctx) => {
      const outsider = probeUsers(ctx.origin).outsider;
      return { label: `a message from ${outsider}, who never joined`, sender: outsider, body: 'a message from a user who is not joined' };
    },
    judgeNotAccepted,
  ),
  oneMessage(
    'rooms.wrong-room-id',
    'An event naming another room is not taken into this one',
    "An event whose room_id names another room than the one its prev_events and auth_events belong to is not accepted: it does not become part of the test room, as its auth events are not that room's.",
    (ctx, room) => {
      const other = `!fedpeer-probe-${ctx.runTag}:${ctx.origin}`;
      return { label: `an event of ${room.roomId} naming ${other}`, sender: room.user, body: 'an event naming another room', extra: { room_id: other } };
    },
    judgeNotAccepted,
  ),
  oneMessage(
    'rooms.wrong-origin',
    "An event of another server's user, signed by the probe, is dropped",
    "An event whose sender belongs to another server (the target's own user) and that only the probe signed lacks the signature of the sender's server and is dropped.",
    (ctx, room) =>
      room.targetMember === undefined
        ? `no member of ${ctx.target} is joined to ${room.roomId}, in whose name the probe could send`
        : { label: `a message in the name of ${room.targetMember}, signed only by ${ctx.origin}`, sender: room.targetMember, body: `a message in the name of ${room.targetMember}` },
    judgeDropped,
  ),
  {
    id: 'rooms.pdu-limit',
    group: 'rooms',
    title: 'A transaction of 51 PDUs is refused',
    requirement: 'must',
    spec: SPEC_REFS.transactions,
    expected: 'A transaction carries at most 50 PDUs; one with 51 is refused with a 4xx answer and none of its events is applied.',
    run: pduLimit,
  },
  roomCheck(
    'rooms.duplicate-transaction',
    'A repeated transaction ID is not applied twice',
    'A transaction sent again under the same ID (as a sender retrying it does) is answered 200 without being processed again: an event added to the repeat stays unknown.',
    duplicate,
    SPEC_REFS.transactions,
  ),
];

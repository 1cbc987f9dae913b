// Verdicts of the room checks from what the target showed of an event the
// probe sent. Pure. The spec's outcomes are told apart by what each one
// permits the target to show (Server-Server API, "Checks performed on receipt
// of a PDU", "Rejection"):
// - accepted: served by /event, in the state when it is a state event, shown
//   to clients;
// - dropped (bad signature): not kept at all, so /event does not serve it;
// - rejected (failed auth): it may be kept and served by /event, but it must
//   not reach the state, the room's newest events (the prev_events of events
//   the target makes, as make_join shows them) or clients;
// - redacted (bad content hash): kept, with the redacted content.
import type { JsonObject } from '../matrix/canonical-json.js';
import type { Verdict } from './types.js';

/** What the target showed of one event; a field is undefined when it was not (or could not be) observed. */
export interface EventObservation {
  /** The per-PDU result of /send: undefined when the answer has no entry for the event. */
  pduResult?: { error?: string };
  /** GET /event: the event's content as served, 'not_found' for a 404, or why nothing can be said. */
  served: { content: JsonObject } | 'not_found' | { unknown: string };
  /** Among the prev_events of an event the target made (make_join's template) after this one arrived. */
  newest?: boolean;
  /** State events: in /state_ids at an event after it (the state this event made). */
  inState?: boolean;
  /** The client API: shown (with the content seen) or not found. */
  client?: { content: JsonObject } | 'not_found';
}

export interface Judgement {
  verdict: Verdict;
  reason: string;
}

const isServed = (o: EventObservation): o is EventObservation & { served: { content: JsonObject } } => typeof o.served === 'object' && 'content' in o.served;
const unknownWhy = (o: EventObservation): string | undefined => (typeof o.served === 'object' && 'unknown' in o.served ? o.served.unknown : undefined);

function pduLine(o: EventObservation): string {
  if (o.pduResult === undefined) return '/send had no result for it';
  return o.pduResult.error === undefined ? '/send: no error' : `/send: error "${o.pduResult.error}"`;
}

/** A valid event: the target takes it. */
export function judgeAccepted(o: EventObservation): Judgement {
  const problems: string[] = [];
  if (o.pduResult?.error !== undefined) problems.push(`/send answered an error for it ("${o.pduResult.error}")`);
  if (o.served === 'not_found') problems.push('/event does not know it (404): it was dropped');
  if (o.inState === false) problems.push('/state_ids after it does not hold it: it did not reach the state');
  if (o.client === 'not_found') problems.push("the target's client is not shown it");
  if (problems.length > 0) return { verdict: 'fail', reason: problems.join('; ') };
  const why = unknownWhy(o);
  if (why !== undefined) return { verdict: 'could_not_run', reason: `cannot tell: ${why}` };
  const seen = ['/event serves it', ...(o.inState ? ['/state_ids holds it'] : []), ...(o.newest ? ["it is among make_join's prev_events"] : []), ...(o.client ? ['the client is shown it'] : [])];
  return { verdict: 'pass', reason: `accepted: ${seen.join(', ')} (${pduLine(o)})` };
}

/** Signs of acceptance a rejected or dropped event must never show. */
function acceptanceSigns(o: EventObservation): string[] {
  const signs: string[] = [];
  if (o.newest === true) signs.push("it is among the prev_events of the event the target made next (make_join): the target took it into the room");
  if (o.inState === true) signs.push('/state_ids after it holds it: it changed the room state');
  if (o.client !== undefined && o.client !== 'not_found') signs.push("the target's client is shown it");
  return signs;
}

/** A bad signature (or another server's event signed by the probe): the event is dropped. */
export function judgeDropped(o: EventObservation): Judgement {
  const signs = acceptanceSigns(o);
  if (isServed(o)) signs.unshift('/event serves it: it was kept, not dropped');
  if (signs.length > 0) return { verdict: 'fail', reason: signs.join('; ') };
  if (o.served === 'not_found') return { verdict: 'pass', reason: `dropped: /event does not know it (404); ${pduLine(o)}` };
  return { verdict: 'could_not_run', reason: `cannot tell: ${unknownWhy(o)}` };
}

/** A failed auth check: the event is rejected (it may be kept, never accepted). */
export function judgeNotAccepted(o: EventObservation): Judgement {
  const signs = acceptanceSigns(o);
  if (signs.length > 0) return { verdict: 'fail', reason: signs.join('; ') };
  const tail = `${o.client === 'not_found' ? "; the client is not shown it" : ''}; ${pduLine(o)}`;
  if (o.served === 'not_found') return { verdict: 'pass', reason: `not accepted: /event does not know it (404)${tail}` };
  if (o.inState === false) return { verdict: 'pass', reason: `rejected: kept (/event serves it) but /state_ids after it does not hold it${tail}` };
  if (o.newest === false) return { verdict: 'pass', reason: `rejected: kept (/event serves it) but not among the prev_events of the event the target made next (make_join)${tail}` };
  if (o.client === 'not_found') return { verdict: 'pass', reason: `rejected: kept (/event serves it) but the client is not shown it; ${pduLine(o)}` };
  return { verdict: 'could_not_run', reason: `cannot tell: ${unknownWhy(o) ?? '/event serves it and nothing else showed whether it was accepted'}` };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}

/** A wrong content hash: the event is kept in its redacted form (`redacted` is that form's content). */
export function judgeRedacted(o: EventObservation, redacted: JsonObject): Judgement {
  if (o.served === 'not_found') return { verdict: 'fail', reason: `/event does not know it (404): it was dropped instead of kept redacted; ${pduLine(o)}` };
  if (!isServed(o)) return { verdict: 'could_not_run', reason: `cannot tell: ${unknownWhy(o)}` };
  if (!sameJson(o.served.content, redacted)) return { verdict: 'fail', reason: `/event serves it with content ${JSON.stringify(o.served.content)}, not the redacted ${JSON.stringify(redacted)}: the content hash was not checked` };
  if (o.client === 'not_found') return { verdict: 'fail', reason: "kept redacted, but the target's client is not shown it: a redacted event is still accepted" };
  if (o.client !== undefined && !sameJson(o.client.content, redacted)) return { verdict: 'fail', reason: `the client is shown content ${JSON.stringify(o.client.content)}, not the redacted ${JSON.stringify(redacted)}` };
  return { verdict: 'pass', reason: `kept redacted: /event serves it with content ${JSON.stringify(redacted)}${o.client ? ', and so is the client' : ''}; ${pduLine(o)}` };
}

/**
 * The answer to a transaction of 51 PDUs, and which of its events /event
 * serves afterwards (undefined when there was no room to send them in).
 */
export function judgePduLimit(answer: { status?: number; failure?: string; matrixError: boolean }, applied: readonly string[] | undefined): Judgement {
  const { status } = answer;
  if (status === undefined) return { verdict: 'could_not_run', reason: `no answer: ${answer.failure}` };
  if (applied !== undefined && applied.length > 0) return { verdict: 'fail', reason: `answered ${status}, yet /event serves ${applied.length} of its events (${applied[0]}, ...): the transaction was applied` };
  if (status >= 200 && status < 300) return { verdict: 'fail', reason: `answered ${status}: a transaction over 50 PDUs was taken` };
  if (status >= 500) return { verdict: 'fail', reason: `server error ${status} instead of refusing the transaction` };
  if (status < 400) return { verdict: 'fail', reason: `answered ${status} instead of refusing the transaction` };
  const body = answer.matrixError ? '' : ' (its body is not a Matrix error {errcode, error})';
  const none = applied === undefined ? '; sent for a room the target does not know, so only the answer is judged (give --room or a client token to see that nothing is applied)' : '; /event serves none of its events';
  return { verdict: 'pass', reason: `refused with ${status}${body}${none}` };
}

/**
 * A transaction sent again under the same ID with one more event: the
 * target must recognise the ID and not process the body again, so the added
 * event stays unknown to it. `added` is what /event said of that event.
 */
export function judgeDuplicate(
  repeat: { status?: number; failure?: string; listsAdded: boolean; sameAnswer: boolean },
  added: EventObservation['served'],
): Judgement {
  if (repeat.status === undefined) return { verdict: 'could_not_run', reason: `the repeated transaction got no answer: ${repeat.failure}` };
  const processed = typeof added === 'object' && 'content' in added;
  if (repeat.listsAdded || processed) {
    const how = [repeat.listsAdded ? 'its answer lists the added event' : '', processed ? '/event serves the added event' : ''].filter(Boolean).join(' and ');
    return { verdict: 'fail', reason: `the transaction ID was processed a second time: ${how}` };
  }
  if (repeat.status < 200 || repeat.status >= 300) {
    return { verdict: 'fail', reason: `the repeat was answered ${repeat.status}: a sender retries a transaction until it gets 200, so a retry must be answered as the first was` };
  }
  if (added !== 'not_found') return { verdict: 'could_not_run', reason: `cannot tell whether the added event was processed: ${added.unknown}` };
  return { verdict: 'pass', reason: `not applied twice: the repeat was answered ${repeat.status} ${repeat.sameAnswer ? 'with the same answer as the first' : 'with another answer than the first'} and /event does not know the event added to it (404)` };
}

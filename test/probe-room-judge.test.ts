// The room checks' verdicts from observations, every reading of them: what
// each outcome (accepted, dropped, rejected, redacted) permits the target
// to show, and the transaction checks' answers.
import t from 'tap';
import { judgeAccepted, judgeDropped, judgeDuplicate, judgeNotAccepted, judgePduLimit, judgeRedacted, type EventObservation } from '../src/probe/room-judge.js';

const served = { content: { body: 'x' } };
const obs = (o: Partial<EventObservation>): EventObservation => ({ served, ...o });

t.test('accepted', async (t) => {
  t.same(judgeAccepted(obs({ pduResult: {}, inState: true, newest: true, client: served })), {
    verdict: 'pass',
    reason: "accepted: /event serves it, /state_ids holds it, it is among make_join's prev_events, the client is shown it (/send: no error)",
  });
  t.match(judgeAccepted(obs({})), { verdict: 'pass', reason: 'accepted: /event serves it (/send had no result for it)' });
  t.match(judgeAccepted(obs({ newest: false })), { verdict: 'pass' }, 'a later event may have built on it: not a sign of rejection');
  t.same(judgeAccepted(obs({ pduResult: { error: 'no' }, served: 'not_found', inState: false, client: 'not_found' })), {
    verdict: 'fail',
    reason: '/send answered an error for it ("no"); /event does not know it (404): it was dropped; /state_ids after it does not hold it: it did not reach the state; the target\'s client is not shown it',
  });
  t.same(judgeAccepted(obs({ served: { unknown: '/event answered 500' } })), { verdict: 'could_not_run', reason: 'cannot tell: /event answered 500' });
});

t.test('dropped', async (t) => {
  t.same(judgeDropped(obs({ served: 'not_found', pduResult: { error: 'bad signature' }, newest: false })), { verdict: 'pass', reason: 'dropped: /event does not know it (404); /send: error "bad signature"' });
  t.match(judgeDropped(obs({ newest: true, client: served })), {
    verdict: 'fail',
    reason: /^\/event serves it: it was kept, not dropped; it is among the prev_events .*; the target's client is shown it$/,
  });
  t.match(judgeDropped(obs({ served: 'not_found', client: served })), { verdict: 'fail', reason: "the target's client is shown it" });
  t.same(judgeDropped(obs({ served: { unknown: 'no answer' } })), { verdict: 'could_not_run', reason: 'cannot tell: no answer' });
});

t.test('not accepted (rejected)', async (t) => {
  t.match(judgeNotAccepted(obs({ served: 'not_found', pduResult: {} })), { verdict: 'pass', reason: 'not accepted: /event does not know it (404); /send: no error' });
  t.match(judgeNotAccepted(obs({ inState: false, newest: false, client: 'not_found' })), {
    verdict: 'pass',
    reason: 'rejected: kept (/event serves it) but /state_ids after it does not hold it; the client is not shown it; /send had no result for it',
  });
  t.match(judgeNotAccepted(obs({ newest: false })), { verdict: 'pass', reason: /^rejected: kept \(\/event serves it\) but not among the prev_events/ });
  t.match(judgeNotAccepted(obs({ client: 'not_found' })), { verdict: 'pass', reason: /^rejected: kept \(\/event serves it\) but the client is not shown it/ });
  t.match(judgeNotAccepted(obs({ inState: true })), { verdict: 'fail', reason: '/state_ids after it holds it: it changed the room state' });
  t.match(judgeNotAccepted(obs({ served: 'not_found', newest: true })), { verdict: 'fail', reason: /took it into the room/ });
  t.match(judgeNotAccepted(obs({})), { verdict: 'could_not_run', reason: 'cannot tell: /event serves it and nothing else showed whether it was accepted' });
  t.match(judgeNotAccepted(obs({ served: { unknown: '/event answered 502' } })), { verdict: 'could_not_run', reason: 'cannot tell: /event answered 502' });
});

t.test('redacted', async (t) => {
  const r = {};
  t.match(judgeRedacted(obs({ served: { content: {} }, client: { content: {} } }), r), { verdict: 'pass', reason: /^kept redacted: \/event serves it with content \{\}, and so is the client/ });
  t.match(judgeRedacted(obs({ served: { content: { a: [1, { c: 2, b: 1 }] } } }), { a: [1, { b: 1, c: 2 }] }), { verdict: 'pass' }, 'key order does not matter');
  t.match(judgeRedacted(obs({ served: 'not_found' }), r), { verdict: 'fail', reason: /dropped instead of kept redacted/ });
  t.match(judgeRedacted(obs({}), r), { verdict: 'fail', reason: 'the content hash was not checked' });
  t.match(judgeRedacted(obs({ served: { content: {} }, client: 'not_found' }), r), { verdict: 'fail', reason: /a redacted event is still accepted/ });
  t.match(judgeRedacted(obs({ served: { content: {} }, client: served }), r), { verdict: 'fail', reason: /^the client is shown content \{"body":"x"\}/ });
  t.match(judgeRedacted(obs({ served: { unknown: 'no answer' } }), r), { verdict: 'could_not_run' });
});

t.test('51 PDUs', async (t) => {
  t.same(judgePduLimit({ status: 400, matrixError: true }, []), { verdict: 'pass', reason: 'refused with 400; /event serves none of its events' });
  t.match(judgePduLimit({ status: 400, matrixError: false }, undefined), { verdict: 'pass', reason: /^refused with 400 \(its body is not a Matrix error \{errcode, error\}\); sent for a room the target does not know/ });
  t.match(judgePduLimit({ status: 400, matrixError: true }, ['$a', '$b']), { verdict: 'fail', reason: 'answered 400, yet /event serves 2 of its events ($a, ...): the transaction was applied' });
  t.match(judgePduLimit({ status: 200, matrixError: false }, undefined), { verdict: 'fail', reason: 'answered 200: a transaction over 50 PDUs was taken' });
  t.match(judgePduLimit({ status: 502, matrixError: false }, undefined), { verdict: 'fail', reason: /^server error 502/ });
  t.match(judgePduLimit({ status: 302, matrixError: false }, undefined), { verdict: 'fail', reason: 'answered 302 instead of refusing the transaction' });
  t.match(judgePduLimit({ failure: 'reset', matrixError: false }, undefined), { verdict: 'could_not_run', reason: 'no answer: reset' });
});

t.test('a repeated transaction ID', async (t) => {
  const repeat = { status: 200, listsAdded: false, sameAnswer: true };
  t.match(judgeDuplicate(repeat, 'not_found'), { verdict: 'pass', reason: /answered 200 with the same answer as the first/ });
  t.match(judgeDuplicate({ ...repeat, sameAnswer: false }, 'not_found'), { verdict: 'pass', reason: /with another answer than the first/ });
  t.match(judgeDuplicate({ ...repeat, listsAdded: true }, 'not_found'), { verdict: 'fail', reason: 'the transaction ID was processed a second time: its answer lists the added event' });
  t.match(judgeDuplicate(repeat, { content: {} }), { verdict: 'fail', reason: 'the transaction ID was processed a second time: /event serves the added event' });
  t.match(judgeDuplicate({ ...repeat, status: 409 }, 'not_found'), { verdict: 'fail', reason: /^the repeat was answered 409: a sender retries/ });
  t.match(judgeDuplicate(repeat, { unknown: '/event answered 500' }), { verdict: 'could_not_run', reason: /\/event answered 500/ });
  t.match(judgeDuplicate({ failure: 'timeout', listsAdded: false, sameAnswer: false }, 'not_found'), { verdict: 'could_not_run', reason: 'the repeated transaction got no answer: timeout' });
});

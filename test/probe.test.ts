// `fedpeer probe` against fedpeer itself, in-process on the private
// internet: every check passes, or says why it does not apply; the room
// checks report that they cannot run yet. Then the report formats.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeWorld } from './harness/probe-world.js';
import type { ProbeReport, Verdict } from '../src/probe/types.js';
import { ALL_CHECKS } from '../src/probe/registry.js';

const world = await probeWorld('probe');
t.teardown(() => world.close());
const target = await world.startTarget('target.test', 2);
t.teardown(() => target.close());

/** What fedpeer, as it is today, must get for each check that does not pass. */
const NOT_PASSING: Record<string, Verdict> = {
  // fedpeer has no authenticated POST endpoint yet (user/keys/query comes with the room peer).
  'auth.other-body': 'not_applicable',
};

let report: ProbeReport;

t.test('the probe against fedpeer: no check fails', async (t) => {
  const r = await world.probeJson('target.test');
  report = r.report;
  t.equal(r.code, 0, 'exit 0');
  t.equal(report.schema, 'fedpeer-probe/1');
  t.equal(report.target, 'target.test');
  t.equal(report.origin, 'probe.test');
  t.same(report.checks.map((c) => c.id), ALL_CHECKS.map((c) => c.id), 'every check, in registry order');
  for (const c of report.checks) {
    const want = c.group === 'rooms' ? 'could_not_run' : (NOT_PASSING[c.id] ?? 'pass');
    t.equal(c.verdict, want, `${c.id}: ${c.reason}`);
  }
  t.equal(report.summary.fail, 0);
  t.ok(report.ok);
});

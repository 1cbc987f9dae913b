// Tests that need an outside tool (the Python reference implementation,
// pebble, chromium) call requireTool first. Outside CI a missing tool skips
// the test with a visible notice; under CI=true it fails, so CI can never pass
// by silently skipping. scripts/ensure-test-tools.mjs installs them.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

type Tap = { plan: (n: number, comment?: string) => void; fail: (msg: string) => unknown; comment: (...msg: unknown[]) => void };

export const PYTHON = process.env.FEDPEER_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

const cache = new Map<string, string | null>();

/** Returns null when the tool works, else what is missing and how to get it. */
export function toolProblem(tool: 'python-oracle' | 'pebble' | 'chromium' | 'microsocks'): string | null {
  if (cache.has(tool)) return cache.get(tool)!;
  let problem: string | null = null;
  if (tool === 'python-oracle') {
    const r = spawnSync(PYTHON, ['-c', 'import canonicaljson, signedjson.key, signedjson.sign, nacl.signing'], { encoding: 'utf8' });
    if (r.status !== 0) {
      problem = `${PYTHON} cannot import canonicaljson/signedjson/nacl: apt-get install python3-signedjson python3-canonicaljson python3-nacl`;
    }
  } else {
    const bin = tool;
    const r = spawnSync('sh', ['-c', `command -v ${bin} || ls /usr/bin/${bin}`], { encoding: 'utf8' });
    if (r.status !== 0) problem = `${bin} not found: apt-get install ${bin}`;
  }
  cache.set(tool, problem);
  return problem;
}

/** True when the test may go on; otherwise it has been skipped (or failed under CI). */
export function requireTool(t: Tap, tool: 'python-oracle' | 'pebble' | 'chromium' | 'microsocks'): boolean {
  const problem = toolProblem(tool);
  if (problem === null) return true;
  if (process.env.CI) t.fail(`required test tool missing under CI: ${problem}`);
  else {
    // plan(0, reason) reports the test as skipped ("1..0 # SKIP"), counted in tap's summary.
    t.comment(`NOTICE: skipping, ${problem}`);
    process.stderr.write(`NOTICE: test skipped, ${problem}\n`);
    t.plan(0, `SKIP missing tool: ${problem}`);
  }
  return false;
}

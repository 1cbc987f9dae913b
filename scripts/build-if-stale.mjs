#!/usr/bin/env node
// `npm start` builds only what is not built yet. dist/ is current when a
// successful build left its stamp (dist/.build-stamp) and nothing it is made
// from (src/, the tsconfig files) changed after that; then this costs a
// directory walk instead of a full tsc run (docs/PERFORMANCE.md).
//
//   node scripts/build-if-stale.mjs           build when stale, else say nothing
//   node scripts/build-if-stale.mjs --stamp   record that dist/ was just built (npm run build)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.build-stamp');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'];

function newest(path) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs; // a file removed or renamed changes its directory
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

function stampTime() {
  try {
    return statSync(stamp).mtimeMs;
  } catch {
    return -1;
  }
}

if (process.argv.includes('--stamp')) {
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  process.exit(0);
}

const source = Math.max(...INPUTS.map((p) => newest(join(root, p))));
if (stampTime() >= source) process.exit(0);
process.stderr.write('fedpeer: sources changed since the last build; building dist/ (tsc)...\n');
const started = Date.now();
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  process.stderr.write('fedpeer: the build failed (above); fix the errors and run npm start again\n');
  process.exit(tsc.status ?? 1);
}
// Dated when the build began: a source saved during the build is newer, so the next start builds again.
writeFileSync(stamp, `${new Date(started).toISOString()}\n`);
utimesSync(stamp, started / 1000, started / 1000);
process.stderr.write(`fedpeer: built in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

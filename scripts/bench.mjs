#!/usr/bin/env node
// npm run bench [-- NAME ...]: runs the benchmarks under bench/ (all, or the
// named ones) and prints their results as Markdown for docs/PERFORMANCE.md.
import { machine, pinningNote, runPinned } from '../bench/lib.mjs';

const pinned = await runPinned(new URL(import.meta.url).pathname, process.argv.slice(2));
if (pinned !== undefined) process.exit(pinned);

const ALL = ['key-server', 'key-server-instructions', 'tls-handshake', 'resolution', 'keys', 'events', 'state-res', 'x-matrix', 'idle-memory', 'rooms-send'];
// Run only when named: they need something outside the repository (another homeserver, given by the environment).
const ON_REQUEST = ['x-matrix-vs-homeserver'];
const chosen = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const names = chosen.length ? chosen : ALL;
const unknown = names.filter((n) => !ALL.includes(n) && !ON_REQUEST.includes(n));
if (unknown.length) {
  console.error(`bench: unknown benchmark ${unknown.join(', ')}; known: ${[...ALL, ...ON_REQUEST].join(', ')}`);
  process.exit(2);
}
console.log(`# fedpeer benchmarks\n\n- date: ${new Date().toISOString()}\n- machine: ${machine()}\n- command: npm run bench${chosen.length ? ` -- ${chosen.join(' ')}` : ''}\n- ${pinningNote()}\n`);
for (const name of names) {
  const mod = await import(`../bench/${name}.mjs`);
  const r = await mod.run();
  console.log(`## ${r.title}\n`);
  const [head, ...rows] = r.table;
  console.log(`| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log('');
  for (const n of r.notes) console.log(`- ${n}`);
  console.log('');
}

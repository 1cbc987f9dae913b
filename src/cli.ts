#!/usr/bin/env node
// The `fedpeer` executable. src/lean-start.ts is evaluated before the rest of
// the CLI is even linked: the command registry (src/cli/main.ts) is imported
// only after it, because every static import is resolved and linked before
// any module runs, and resolving the registry's module graph is work enough
// for V8 to optimise the loader's functions before start-up could be held.
import './lean-start.js';

const { main } = await import('./cli/main.js');
export { main };

const isEntry = process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href;
if (isEntry) {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
}

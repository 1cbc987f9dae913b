// Start-up is a burst of one-off work (every module compiled, the config
// parsed, certificates and keys read) that V8 takes for the shape of the
// work to come: nearly everything allocated survives, so it grows the young
// generation from 1 to 16 MiB, and the functions that did the work (Node's
// CommonJS lexer, the YAML parser) get hot, so TurboFan optimises them on
// worker threads whose malloc arenas stay resident. Together that is about
// 11 MiB of an idle listener's 74 (docs/PERFORMANCE.md, "Idle memory").
//
// cli.ts imports this module first, so while `fedpeer serve` starts the
// young generation keeps its initial size and nothing is optimised; once
// the listeners are bound, `endLeanStart` gives V8 back its defaults, and
// the request path is optimised and the young generation grows under load
// as before. Both flags are read by V8 each time it decides, so setting
// them at run time takes effect. A flag the operator gave node
// (NODE_OPTIONS or the command line) is left alone.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

/** The flags held during start-up, each with V8's default to restore and the names by which an operator may have set it. */
const HELD = [
  { hold: '--semi-space-growth-factor=1', restore: '--semi-space-growth-factor=2', given: /--(max-)?semi-space|--semi-space-growth-factor/ },
  { hold: '--no-turbofan', restore: '--turbofan', given: /--(no-)?(turbofan|opt)\b|--jitless/ },
] as const;

let held: Array<(typeof HELD)[number]> = [];

// The CLI module beside this one (cli.js when built, cli.ts under the tests' loader).
const CLI = fileURLToPath(new URL('./cli', import.meta.url));

function isServeEntry(argv: readonly string[]): boolean {
  if (!argv[1] || !argv.slice(2).includes('serve')) return false;
  try {
    return realpathSync(argv[1]).replace(/\.[jt]s$/, '') === CLI;
  } catch {
    return false;
  }
}

/**
 * The flags to hold for a process started with `argv` and node options
 * `operatorFlags`: none unless it is `fedpeer serve` itself (not a test or a
 * library importing the CLI), and none the operator set.
 */
export function leanStartFlags(argv: readonly string[], operatorFlags: string): string[] {
  if (!isServeEntry(argv)) return [];
  return HELD.filter((f) => !f.given.test(operatorFlags)).map((f) => f.hold);
}

export function beginLeanStart(argv: readonly string[] = process.argv, operatorFlags = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`): void {
  const flags = leanStartFlags(argv, operatorFlags);
  held = HELD.filter((f) => flags.includes(f.hold));
  for (const f of held) setFlagsFromString(f.hold);
}

/** V8's defaults again (the server is up); a no-op when nothing was held. */
export function endLeanStart(): void {
  for (const f of held) setFlagsFromString(f.restore);
  held = [];
}

beginLeanStart();

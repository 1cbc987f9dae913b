// The `fedpeer` command: finds the command (and subcommand) in the registry,
// reads the command line against its spec, prints help, and turns errors
// into one line and an exit code. The commands themselves are in
// src/cli/commands/ (what they take) and src/commands/ (what they do). The
// executable's entry is src/cli.ts, which loads this after src/lean-start.ts.
import { endLeanStart } from '../lean-start.js';
import { COMMANDS } from './registry.js';
import { commandHelp, overviewHelp, usageLine } from './help.js';
import { checkPositionals, parseCommandLine } from './parse.js';
import type { CommandSpec } from './types.js';
import { processIO, UsageError, type CommandIO } from '../commands/io.js';
import { closest } from '../suggest.js';
import { PACKAGE_VERSION } from '../version.js';

interface Found {
  spec: CommandSpec;
  /** `acme renew`: the words that named it. */
  path: string;
  rest: string[];
}

const isHelp = (word: string | undefined) => word === '--help' || word === '-h';

function unknown(kind: string, word: string, among: readonly CommandSpec[], where: string): UsageError {
  const guess = closest(word, among.map((c) => c.name));
  return new UsageError(`unknown ${kind} ${JSON.stringify(word)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}; ${where} has: ${among.map((c) => c.name).join(', ')}`);
}

/** Walks `words` down the registry: the command, then subcommands while the spec has no run of its own. */
function find(words: readonly string[], commands: readonly CommandSpec[], forHelp = false): Found {
  const [first, ...rest] = words;
  let spec = commands.find((c) => c.name === first);
  if (spec === undefined) throw unknown('command', first!, commands, 'fedpeer');
  let path = spec.name;
  while (spec.subcommands && !spec.run) {
    const next: string | undefined = rest[0];
    if (next === undefined || next.startsWith('-')) {
      if (forHelp || rest.some(isHelp)) return { spec, path, rest: [] };
      throw new UsageError(`${path} needs a subcommand: ${spec.subcommands.map((s) => `fedpeer ${path} ${s.name}`).join(', ')}. Run "fedpeer ${path} --help".`);
    }
    const sub: CommandSpec | undefined = spec.subcommands.find((s) => s.name === next);
    if (sub === undefined) throw unknown(`${path} subcommand`, next, spec.subcommands, path);
    spec = sub;
    path = `${path} ${sub.name}`;
    rest.shift();
  }
  return { spec, path, rest };
}

export async function main(argv: string[], io: CommandIO = processIO, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const first = argv[0];
  if (first === undefined || isHelp(first)) {
    io.stdout(overviewHelp(COMMANDS, PACKAGE_VERSION));
    return 0;
  }
  if (first === 'version' || first === '--version') {
    io.stdout(PACKAGE_VERSION);
    return 0;
  }
  let path = first;
  try {
    if (first === 'help') {
      if (argv.length === 1) {
        io.stdout(overviewHelp(COMMANDS, PACKAGE_VERSION));
        return 0;
      }
      const found = find(argv.slice(1), COMMANDS, true);
      if (found.rest.length > 0) throw new UsageError(`help takes a command name, got ${JSON.stringify(found.rest.join(' '))}`);
      io.stdout(commandHelp(found.spec, found.path));
      return 0;
    }
    if (first.startsWith('-')) {
      path = '';
      throw new UsageError(`${first}: options go after the command (fedpeer COMMAND [options]). Run "fedpeer --help" for the commands.`);
    }
    const found = find(argv, COMMANDS);
    // Only serve's start-up is held (lean-start.ts); `serve` elsewhere on the command line is not this command.
    if (found.spec.name !== 'serve') endLeanStart();
    path = found.path;
    const args = parseCommandLine(found.spec, path, found.rest);
    if (args.flag('help') || !found.spec.run) {
      io.stdout(commandHelp(found.spec, path));
      return 0;
    }
    checkPositionals(found.spec, path, args.positionals, usageLine(found.spec, path));
    return await found.spec.run({ io, args, env });
  } catch (e) {
    const err = e as Error & { exitCode?: number };
    io.stderr(`${path ? `fedpeer ${path}` : 'fedpeer'}: ${err.message}`);
    if (env.FEDPEER_DEBUG) io.stderr(String(err.stack));
    return e instanceof UsageError ? err.exitCode ?? 2 : 1;
  }
}

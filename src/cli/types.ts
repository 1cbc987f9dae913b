// What a `fedpeer` command declares about itself. One CommandSpec per
// command, in its own file under src/cli/commands/, listed once in
// src/cli/registry.ts: the parser, the help text and the error messages are
// all made from it (docs/DESIGN.md, "Adding a command").
import type { CommandIO } from '../commands/io.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  /** One letter: `-c` for `--config`. */
  short?: string;
  /** May be given more than once; the values are collected in order. */
  multiple?: boolean;
  /** The value's placeholder in help: FILE, NAME, HOST:PORT. */
  value?: string;
  /** One line (or a few) for the command's help. */
  description: string;
}

export interface ArgSpec {
  /** The placeholder in usage lines: NAME, FILE. */
  name: string;
  /** For the message when it is missing: "check needs a server name". */
  what: string;
  /** Missing is an error (before `run` is called). */
  required?: boolean;
  /** Takes every remaining argument (only the last). */
  variadic?: boolean;
}

/** The parsed command line, checked against the command's spec. */
export interface ParsedArgs {
  /** Positional arguments after the command (and subcommand) names. */
  positionals: string[];
  string(name: string): string | undefined;
  flag(name: string): boolean;
  /** A `multiple` option's values; empty when not given. */
  list(name: string): string[];
}

export interface RunContext {
  io: CommandIO;
  args: ParsedArgs;
  env: NodeJS.ProcessEnv;
}

export interface CommandSpec {
  /** As typed: `keygen`, `check`; a subcommand's own word (`renew` under `acme`). */
  name: string;
  /** One line for the command list. */
  summary: string;
  /** Paragraphs for `fedpeer COMMAND --help`, separated by blank lines. */
  description?: string;
  args?: ArgSpec[];
  options?: Record<string, OptionSpec>;
  /** Whole command lines, as a user would type them. */
  examples?: string[];
  /** Exit code; -1 means "keeps running" (serve). Absent for a command made only of subcommands. */
  run?(ctx: RunContext): Promise<number>;
  subcommands?: CommandSpec[];
}

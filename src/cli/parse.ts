// Reads a command line against one command's spec. Only the options the
// command declares are accepted: anything else is an error that names the
// command's options and, for a near miss, the one meant.
import { parseArgs } from 'node:util';
import { UsageError } from '../commands/io.js';
import { closest } from '../suggest.js';
import type { CommandSpec, OptionSpec, ParsedArgs } from './types.js';

/** Every command takes --help (-h). */
export const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', description: 'Show this help.' };

export function commandOptions(spec: CommandSpec): Record<string, OptionSpec> {
  return { ...spec.options, help: HELP_OPTION };
}

/** `--out FILE`, `-v, --verbose`, as help and messages show an option. */
export function optionLabel(name: string, o: OptionSpec): string {
  return `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
}

function optionList(options: Record<string, OptionSpec>): string {
  return Object.entries(options)
    .map(([name, o]) => `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`)
    .join(', ');
}

export function parseCommandLine(spec: CommandSpec, path: string, argv: readonly string[]): ParsedArgs {
  const options = commandOptions(spec);
  const nodeOptions = Object.fromEntries(
    Object.entries(options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
  );
  // Non-strict, with tokens: every check (and every message) is made here.
  const { tokens } = parseArgs({ args: [...argv], options: nodeOptions, strict: false, allowPositionals: true, tokens: true });
  const strings = new Map<string, string[]>();
  const flags = new Set<string>();
  const positionals: string[] = [];
  const seeHelp = `Run "fedpeer ${path} --help" for its usage.`;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      positionals.push(token.value);
      continue;
    }
    if (token.kind !== 'option') continue;
    // Known short forms arrive under their long name.
    const name = token.name;
    const o = options[name];
    if (o === undefined) {
      const typed = token.rawName.startsWith('--') ? token.name : undefined;
      const guess = typed === undefined ? undefined : closest(typed, Object.keys(options));
      throw new UsageError(
        `unknown option ${token.rawName}${guess ? ` (did you mean --${guess}?)` : ''}. ${path} takes: ${optionList(options)}. ${seeHelp}`,
      );
    }
    if (o.type === 'boolean') {
      if (token.value !== undefined) throw new UsageError(`${token.rawName} takes no value (got ${JSON.stringify(token.value)}). ${seeHelp}`);
      flags.add(name);
      continue;
    }
    if (token.value === undefined) throw new UsageError(`${token.rawName} needs a value: ${optionLabel(name, o)}. ${seeHelp}`);
    // `--out --json`: the next word is an option, so the value was forgotten (`--out=--json` says it is meant).
    if (!token.inlineValue && token.value.length > 1 && token.value.startsWith('-')) {
      throw new UsageError(`${token.rawName} needs a value: ${optionLabel(name, o)}, but is followed by ${token.value} (write ${token.rawName}=${token.value} if that is the value). ${seeHelp}`);
    }
    const values = strings.get(name) ?? [];
    if (values.length > 0 && !o.multiple) throw new UsageError(`--${name} given twice; it takes one value. ${seeHelp}`);
    values.push(token.value);
    strings.set(name, values);
  }
  return {
    positionals,
    string: (name) => strings.get(name)?.[0],
    flag: (name) => flags.has(name),
    list: (name) => strings.get(name) ?? [],
  };
}

/** Missing required and surplus positional arguments, checked before the command runs. */
export function checkPositionals(spec: CommandSpec, path: string, positionals: readonly string[], usage: string): void {
  const args = spec.args ?? [];
  const variadic = args.at(-1)?.variadic === true;
  args.forEach((a, i) => {
    if (a.required && positionals[i] === undefined) throw new UsageError(`${path} needs ${a.what}: ${usage}`);
  });
  if (!variadic && positionals.length > args.length) {
    const extra = positionals.slice(args.length);
    throw new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((x) => JSON.stringify(x)).join(' ')}: ${usage}`);
  }
}

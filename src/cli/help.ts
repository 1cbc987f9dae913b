// Help text, made from the command specs: the overview (`fedpeer --help`)
// and one command's page (`fedpeer COMMAND --help`, `fedpeer help COMMAND`).
import { commandOptions, optionLabel } from './parse.js';
import type { CommandSpec } from './types.js';
import { wrapWords } from '../wrap.js';

const WIDTH = 80;

function wrap(text: string, indent: string): string[] {
  return wrapWords(text, indent, WIDTH);
}

function argsSynopsis(spec: CommandSpec): string[] {
  return (spec.args ?? []).map((a) => {
    const name = a.variadic ? `${a.name}...` : a.name;
    return a.required ? name : `[${name}]`;
  });
}

/** `check NAME [--json] [--config FILE] ...`: the words after `fedpeer`. */
export function synopsis(spec: CommandSpec, path: string): string {
  const options = Object.entries(spec.options ?? {}).map(([name, o]) => `[--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}]${o.multiple ? '...' : ''}`);
  return [path, ...argsSynopsis(spec), ...options].join(' ');
}

/** The one-line usage error messages point to. */
export function usageLine(spec: CommandSpec, path: string): string {
  if (spec.subcommands && !spec.run) return `fedpeer ${path} SUBCOMMAND [options]`;
  const hasOptions = Object.keys(spec.options ?? {}).length > 0;
  return ['fedpeer', path, ...argsSynopsis(spec), ...(hasOptions ? ['[options]'] : [])].join(' ');
}

export function commandHelp(spec: CommandSpec, path: string): string {
  const lines = [`Usage: ${usageLine(spec, path)}`, '', ...wrap(spec.summary, '')];
  for (const paragraph of (spec.description ?? '').split(/\n\s*\n/).filter((p) => p.trim() !== '')) lines.push('', ...wrap(paragraph, ''));
  if (spec.subcommands) {
    lines.push('', 'Subcommands:');
    for (const sub of spec.subcommands) lines.push(`  ${synopsis(sub, sub.name)}`, ...wrap(sub.summary, '        '));
    lines.push('', `Run "fedpeer ${path} SUBCOMMAND --help" for a subcommand's options and an example.`);
    if (!spec.run) return lines.join('\n');
  }
  if (spec.args && spec.args.length > 0) {
    lines.push('', 'Arguments:');
    for (const a of spec.args) lines.push(`  ${a.name.padEnd(26)}${a.what}${a.required ? '' : ' (optional)'}`);
  }
  lines.push('', 'Options:');
  for (const [name, o] of Object.entries(commandOptions(spec))) {
    const label = `  ${optionLabel(name, o)}${o.multiple ? ' (repeatable)' : ''}`;
    const text = wrap(o.description, ' '.repeat(28));
    if (label.length < 27) lines.push(`${label.padEnd(28)}${text[0]!.trimStart()}`, ...text.slice(1));
    else lines.push(label, ...text);
  }
  if (spec.examples && spec.examples.length > 0) lines.push('', spec.examples.length === 1 ? 'Example:' : 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

export function overviewHelp(commands: readonly CommandSpec[], version: string): string {
  const lines = [`fedpeer ${version}: a small Synapse-compatible Matrix federation endpoint`, '', 'Usage: fedpeer COMMAND [options]', '', 'Commands:'];
  // A command made of subcommands is listed as its subcommands.
  const entries = commands.flatMap((c) => (c.subcommands && !c.run ? c.subcommands.map((s) => [s, `${c.name} ${s.name}`] as const) : [[c, c.name] as const]));
  for (const [spec, path] of entries) {
    const words = wrap(synopsis(spec, path), '    ');
    lines.push(`  ${words[0]!.trimStart()}`, ...words.slice(1), ...wrap(spec.summary, '        '));
  }
  lines.push(
    '  help [COMMAND]',
    '        This text, or one command\'s usage, options and an example.',
    '  version, --version',
    '',
    'Run "fedpeer COMMAND --help" (or "fedpeer help COMMAND") for its options and an example.',
  );
  return lines.join('\n');
}

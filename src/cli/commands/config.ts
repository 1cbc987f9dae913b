import type { CommandSpec } from '../types.js';

export const config: CommandSpec = {
  name: 'config',
  summary: 'Work with a configuration file.',
  subcommands: [
    {
      name: 'check',
      summary: 'Validate a configuration and print what would be served. Binds nothing.',
      description:
        'Prints the names, signing keys, certificates by SNI with their expiry, the well-known documents and the listeners. Every error in the file is reported, not only the first, and keys that look like typos of known keys are pointed out. Exit 1 on errors.',
      args: [{ name: 'FILE', what: 'a homeserver.yaml to check' }],
      options: {
        json: { type: 'boolean', description: 'Print the result as JSON (errors included).' },
        config: { type: 'string', short: 'c', value: 'FILE', description: 'The file to check, instead of FILE.' },
      },
      examples: ['fedpeer config check homeserver.yaml'],
      async run({ io, args }) {
        const { UsageError } = await import('../../commands/io.js');
        const file = args.positionals[0] ?? args.string('config');
        if (file === undefined) throw new UsageError('config check needs a file: fedpeer config check homeserver.yaml');
        const { configCheckCommand } = await import('../../commands/config-check.js');
        return configCheckCommand(io, { file, json: args.flag('json') });
      },
    },
  ],
};

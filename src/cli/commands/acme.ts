import { LOG_LEVEL_OPTION, logLevel } from '../options.js';
import type { CommandSpec } from '../types.js';

export const acme: CommandSpec = {
  name: 'acme',
  summary: 'Certificates from an ACME CA (Let\'s Encrypt) outside the running server.',
  subcommands: [
    {
      name: 'renew',
      summary: 'One ACME round: obtain or renew the certificates of acme.domains.',
      description:
        'Those expiring within acme.renew_days_before, or all with --force, are stored under acme.storage_dir, and the running server named by pid_file gets SIGHUP to install them. Exit 1 when any domain failed. --log-level info shows each step.',
      options: {
        config: { type: 'string', short: 'c', value: 'FILE', description: 'The homeserver.yaml with the acme section (required).' },
        force: { type: 'boolean', description: 'Renew every certificate, however long it is still valid.' },
        'log-level': LOG_LEVEL_OPTION,
      },
      examples: ['fedpeer acme renew --config /etc/fedpeer/homeserver.yaml'],
      async run({ io, args, env }) {
        const { UsageError } = await import('../../commands/io.js');
        const config = args.string('config');
        if (config === undefined) throw new UsageError('acme renew needs --config FILE (the homeserver.yaml with the acme section)');
        const level = logLevel(args, env, 'silent');
        const { acmeRenewCommand } = await import('../../commands/acme.js');
        const { createLogger } = await import('../../logger.js');
        // The result lines say what happened; --log-level info shows the steps.
        const { logger } = createLogger(level);
        try {
          return await acmeRenewCommand(io, { config, force: args.flag('force'), logger });
        } finally {
          logger.flush();
        }
      },
    },
  ],
};

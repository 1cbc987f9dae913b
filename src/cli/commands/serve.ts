import { LOG_LEVEL_OPTION, logLevel } from '../options.js';
import type { CommandSpec } from '../types.js';

export const serve: CommandSpec = {
  name: 'serve',
  summary: 'Run the server: from a homeserver.yaml, or as a development peer without one.',
  description:
    'Without --config it serves the embedded defaults: server_name localhost:8448 on https://127.0.0.1:8448, with a signing key, a development CA and a certificate created under --keys-dir on first run and reused after.\n\nSIGHUP reloads the certificates; SIGTERM or Ctrl-C stop gracefully (in-flight requests finish, exit 0).',
  options: {
    config: { type: 'string', short: 'c', value: 'FILE', description: 'The homeserver.yaml to serve.' },
    'keys-dir': { type: 'string', value: 'DIR', description: 'Where the development key, CA and certificates live without --config (default keys/).' },
    'log-level': LOG_LEVEL_OPTION,
  },
  examples: ['fedpeer serve', 'fedpeer serve --config /etc/fedpeer/homeserver.yaml'],
  async run({ io, args, env }) {
    const level = logLevel(args, env, 'info');
    const { serveCommand } = await import('../../commands/serve.js');
    const { createLogger } = await import('../../logger.js');
    const { logger, accessLog } = createLogger(level);
    const config = args.string('config');
    const keysDir = args.string('keys-dir');
    await serveCommand({ ...(config !== undefined ? { config } : {}), ...(keysDir !== undefined ? { keysDir } : {}), logger, accessLog, io });
    return -1; // keeps running until a signal
  },
};

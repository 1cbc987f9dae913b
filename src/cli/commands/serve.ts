import { UsageError } from '../../commands/io.js';
import { endLeanStart } from '../../lean-start.js';
import { LOG_LEVEL_OPTION, logLevel } from '../options.js';
import type { CommandSpec } from '../types.js';

const DEV_ONLY = ['server-name', 'bind', 'port', 'allow-private'] as const;

export const serve: CommandSpec = {
  name: 'serve',
  summary: 'Run the server: from a homeserver.yaml, or as a development peer under any name without one.',
  description:
    'Without --config it serves a development peer: server_name localhost:8448 (or --server-name) on https://127.0.0.1:8448 (or --bind, --port), with a signing key per name, a development CA and a certificate for the names served, all created under --keys-dir on first run and reused after. It trusts that CA for its own requests, so peers given certificates by `fedpeer dev-cert` federate with it.\n\nSIGHUP reloads the certificates; SIGTERM or Ctrl-C stop gracefully (in-flight requests finish, exit 0).',
  options: {
    config: { type: 'string', short: 'c', value: 'FILE', description: 'The homeserver.yaml to serve.' },
    'server-name': { type: 'string', value: 'NAME', description: 'Without --config: the server name (default localhost:PORT); DNS names and IP addresses both work.' },
    bind: { type: 'string', value: 'ADDR', description: 'Without --config: the address to listen on (default 127.0.0.1).' },
    port: { type: 'string', value: 'N', description: "Without --config: the port (default the server name's, else 8448); 0 picks a free one and prints it." },
    'allow-private': { type: 'boolean', description: 'Without --config: let outbound requests reach loopback and private addresses (a homeserver beside it).' },
    'keys-dir': { type: 'string', value: 'DIR', description: 'Without --config: where the development keys, CA and certificates live (default keys/).' },
    'log-level': LOG_LEVEL_OPTION,
  },
  examples: ['fedpeer serve', 'fedpeer serve --server-name fed.test --port 0', 'fedpeer serve --config /etc/fedpeer/homeserver.yaml'],
  async run({ io, args, env }) {
    const level = logLevel(args, env, 'info');
    const config = args.string('config');
    const given = DEV_ONLY.filter((o) => (o === 'allow-private' ? args.flag(o) : args.string(o) !== undefined));
    if (config !== undefined && given.length > 0) {
      throw new UsageError(`--${given[0]} makes a development peer without a config; with --config, set server_name, listeners and ip_range_whitelist in ${config}`);
    }
    const portText = args.string('port');
    if (portText !== undefined && !/^\d{1,5}$/.test(portText)) throw new UsageError(`--port: expected 0 (any free port) or 1-65535, got ${JSON.stringify(portText)}`);
    const serverName = args.string('server-name');
    const bind = args.string('bind');
    const keysDir = args.string('keys-dir');
    const { serveCommand } = await import('../../commands/serve.js');
    const { createLogger } = await import('../../logger.js');
    const { logger, accessLog } = createLogger(level);
    try {
      await serveCommand({
        ...(config !== undefined ? { config } : {}),
        ...(keysDir !== undefined ? { keysDir } : {}),
        dev: {
          ...(serverName !== undefined ? { serverName } : {}),
          ...(bind !== undefined ? { bind } : {}),
          ...(portText !== undefined ? { port: Number(portText) } : {}),
          ...(args.flag('allow-private') ? { allowPrivate: true } : {}),
        },
        logger,
        accessLog,
        io,
      });
    } finally {
      // Serving (or failed to start): V8's defaults again (src/lean-start.ts).
      endLeanStart();
    }
    return -1; // keeps running until a signal
  },
};

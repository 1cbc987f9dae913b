#!/usr/bin/env node
// The `fedpeer` command. Each subcommand lives in src/commands/; this file
// parses arguments, prints help, and turns errors into one line and an exit code.
// First, so that start-up's footprint is held down before anything else loads.
import { endLeanStart } from './lean-start.js';
import { parseArgs } from 'node:util';
import { createLogger } from './logger.js';
import { processIO, UsageError, type CommandIO } from './commands/io.js';
import { PACKAGE_VERSION } from './version.js';

const HELP = `fedpeer ${PACKAGE_VERSION}: a small Synapse-compatible Matrix federation endpoint

Usage: fedpeer <command> [options]

Commands:
  serve [--config FILE] [--keys-dir DIR]
        Run the server. Without --config it serves the embedded default:
        server_name localhost:8448 on https://127.0.0.1:8448 with a signing key,
        dev CA and localhost certificate created under keys/ on first run.
  acme renew --config FILE [--force]
        One ACME round: obtain or renew the certificates of acme.domains
        (those expiring within acme.renew_days_before, or all with --force),
        store them under acme.storage_dir, and SIGHUP the running server
        named by pid_file. Exit 1 when any domain failed. --log-level info
        shows each step.
  keygen [--out PATH]
        Write a new Ed25519 signing key in Synapse's format (mode 0600; never
        overwrites). Without --out the key is printed.
  generate-config --server-name NAME [--out homeserver.yaml]
        Write a commented configuration and a new signing key beside it
        (<host>.signing.key), as Synapse's --generate-config does; never
        overwrites either file.
  resolve NAME [--json] [--dns-server HOST:PORT] [--ca-file PEM] [--config FILE]
        Resolve a Matrix server name as outbound federation does (well-known,
        SRV, AAAA/A, 8448) and print each step and the ordered targets: the
        address and port dialled, the Host header, and the name the
        certificate must carry. --dns-server (repeatable) replaces
        federation_dns_servers; --ca-file (repeatable) adds to
        federation_custom_ca_list; --json prints {targets, steps, ...}
        (docs/FEDERATION.md). Exit 1 when resolution fails.
  check NAME [--json] [--config FILE] [--dns-server HOST:PORT] [--ca-file PEM]
        Diagnose federation with NAME using this server's resolver and trust
        settings: the well-known, both SRV records, every target's TCP
        connect, TLS handshake and certificate chain (the name it must carry,
        and why), the version and key endpoints, the client well-known. Prints
        the verdict, then each finding with its fix, then the details; --json
        prints the report (docs/CHECK.md). Exit 0 only when federation works.
  keys NAME [--notary NAME] [--json] [--config FILE] [--dns-server HOST:PORT] [--ca-file PEM]
        Fetch a server's key document (directly, or through --notary), run
        every check (server_name, Ed25519 keys, valid_until_ts, signatures)
        and print each result. Exit 0 when valid keys were obtained.
  request [--config FILE] [-X METHOD] [--data JSON] [-v] [--unsigned] DESTINATION PATH
        Send one federation request signed with X-Matrix as the server of
        --config, with full resolution and TLS policy; print the status
        (headers with -v) and the JSON body. Exit 1 on a non-2xx answer.
  probe NAME --config FILE [--only ID,...] [--room ALIAS_OR_ID] [--json | --tap] [--junit FILE]
        [--untrusted-port PORT] [--dns-listen ADDRESS[:PORT]] [--dns-server HOST:PORT] [--ca-file PEM]
        Conformance run against NAME's federation API as the server of --config,
        whose listeners the probe serves meanwhile (NAME calls back for its keys):
        key document, /version, request authentication, errors, and how NAME
        reaches out (resolution, SNI, Host, key fetch, certificate checks, with
        a second identity on --untrusted-port, default 8449, 0 for none).
        Each check: id, spec section, what was sent and received, verdict.
        --json prints the report (docs/PROBE.md), --tap TAP 14, --junit FILE
        writes JUnit XML. Exit 0 only when no check failed.
  config check FILE [--json]
        Validate a configuration and print what would be served: names,
        signing keys, certificates by SNI with their expiry, the well-known
        documents, listeners. Binds nothing. Exit 1 on errors.
  canonical-json
        Read JSON on stdin, print its Matrix canonical JSON.
  sign-json --key FILE --server-name NAME
        Read a JSON object on stdin, print it signed with every key in FILE.
  verify-json --server-name NAME --key-id ed25519:ID --public-key BASE64
        Read a signed JSON object on stdin; exit 0 when the signature verifies,
        1 with the reason when it does not.
  event sign --room-version V --key FILE --server-name NAME
  event id --room-version V
  event redact --room-version V
  event verify --room-version V (--config FILE | --public-key BASE64 --key-id ed25519:ID [--server-name NAME])
        Read one event (a PDU) on stdin. sign prints it with hashes and
        signatures added (every key in FILE); id prints its event ID; redact
        prints its redacted form; verify checks its format, content hash and
        every required signature (keys fetched through --config's key store,
        or the one given), exit 0 when all pass, 1 with the reason
        (docs/ROOMS.md).
  help, --help      This text.
  version, --version

Options for every command:
  --log-level LEVEL   trace, debug, info (default), warn, error, silent
                      (also FEDPEER_LOG_LEVEL)
`;

type Values = Record<string, string | boolean | string[] | undefined>;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  'keys-dir': { type: 'string' },
  out: { type: 'string', short: 'o' },
  key: { type: 'string' },
  'server-name': { type: 'string' },
  'key-id': { type: 'string' },
  'public-key': { type: 'string' },
  'room-version': { type: 'string' },
  'log-level': { type: 'string' },
  json: { type: 'boolean' },
  notary: { type: 'string' },
  request: { type: 'string', short: 'X' },
  data: { type: 'string', short: 'd' },
  verbose: { type: 'boolean', short: 'v' },
  unsigned: { type: 'boolean' },
  'dns-server': { type: 'string', multiple: true },
  'ca-file': { type: 'string', multiple: true },
  force: { type: 'boolean' },
  only: { type: 'string' },
  room: { type: 'string' },
  tap: { type: 'boolean' },
  junit: { type: 'string' },
  'untrusted-port': { type: 'string' },
  'dns-listen': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;


export async function main(argv: string[], io: CommandIO = processIO): Promise<number> {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as {
      values: Values;
      positionals: string[];
    });
  } catch (e) {
    io.stderr(`fedpeer: ${(e as Error).message}\nRun "fedpeer --help" for usage.`);
    return 2;
  }
  const command = positionals[0] ?? (values.version ? 'version' : 'help');
  // Only serve's start-up is held (lean-start.ts); `serve` elsewhere on the command line is not this command.
  if (command !== 'serve') endLeanStart();
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const list = (name: string) => (Array.isArray(values[name]) ? (values[name] as string[]) : undefined);
  // --config, --dns-server and --ca-file, shared by the commands that federate (resolve, check, keys, request).
  const outbound = () => ({
    ...(list('dns-server') ? { dnsServers: list('dns-server')! } : {}),
    ...(list('ca-file') ? { caFiles: list('ca-file')! } : {}),
    ...(str('config') ? { config: str('config')! } : {}),
  });
  try {
    switch (command) {
      case 'help':
        io.stdout(HELP);
        return 0;
      case 'version':
        io.stdout(PACKAGE_VERSION);
        return 0;
      case 'serve': {
        if (values.help) {
          io.stdout(HELP);
          return 0;
        }
        const { serveCommand } = await import('./commands/serve.js');
        const { logger, accessLog } = createLogger(str('log-level') ?? process.env.FEDPEER_LOG_LEVEL ?? 'info');
        try {
          await serveCommand({ ...(str('config') ? { config: str('config')! } : {}), ...(str('keys-dir') ? { keysDir: str('keys-dir')! } : {}), logger, accessLog, io });
        } finally {
          endLeanStart();
        }
        return -1; // keeps running until a signal
      }
      case 'acme': {
        if (positionals[1] !== 'renew') throw new UsageError(`unknown acme subcommand ${JSON.stringify(positionals[1] ?? '')}; try: fedpeer acme renew --config FILE [--force]`);
        const config = str('config');
        if (config === undefined) throw new UsageError('acme renew needs --config FILE (the homeserver.yaml with the acme section)');
        const { acmeRenewCommand } = await import('./commands/acme.js');
        // The result lines say what happened; --log-level info shows the steps.
        const { logger } = createLogger(str('log-level') ?? process.env.FEDPEER_LOG_LEVEL ?? 'silent');
        try {
          return await acmeRenewCommand(io, { config, force: values.force === true, logger });
        } finally {
          logger.flush();
        }
      }
      case 'keygen': {
        const { keygenCommand } = await import('./commands/keygen.js');
        return await keygenCommand(io, { ...(str('out') ? { out: str('out')! } : {}) });
      }
      case 'generate-config': {
        const { generateConfigCommand } = await import('./commands/generate-config.js');
        return await generateConfigCommand(io, { serverName: str('server-name'), out: str('out') } as { serverName?: string; out?: string });
      }
      case 'resolve': {
        const { resolveCommand } = await import('./commands/resolve.js');
        return await resolveCommand(io, {
          ...(positionals[1] ? { name: positionals[1] } : {}),
          json: values.json === true,
          ...outbound(),
        });
      }
      case 'check': {
        const { checkCommand } = await import('./commands/check.js');
        return await checkCommand(io, {
          ...(positionals[1] ? { name: positionals[1] } : {}),
          json: values.json === true,
          ...outbound(),
        });
      }
      case 'keys': {
        const { keysCommand } = await import('./commands/keys.js');
        return await keysCommand(io, {
          ...(positionals[1] ? { name: positionals[1] } : {}),
          ...(str('notary') ? { notary: str('notary')! } : {}),
          json: values.json === true,
          ...outbound(),
        });
      }
      case 'request': {
        const { requestCommand } = await import('./commands/request.js');
        return await requestCommand(io, {
          ...(positionals[1] ? { destination: positionals[1] } : {}),
          ...(positionals[2] ? { path: positionals[2] } : {}),
          ...(str('request') ? { method: str('request')! } : {}),
          ...(str('data') !== undefined ? { data: str('data')! } : {}),
          verbose: values.verbose === true,
          unsigned: values.unsigned === true,
          ...outbound(),
        });
      }
      case 'probe': {
        const { probeCommand } = await import('./commands/probe.js');
        return await probeCommand(io, {
          ...(positionals[1] ? { name: positionals[1] } : {}),
          ...(str('only') !== undefined ? { only: str('only')! } : {}),
          ...(str('room') !== undefined ? { room: str('room')! } : {}),
          ...(str('junit') !== undefined ? { junit: str('junit')! } : {}),
          ...(str('untrusted-port') !== undefined ? { untrustedPort: str('untrusted-port')! } : {}),
          ...(str('dns-listen') !== undefined ? { dnsListen: str('dns-listen')! } : {}),
          ...(str('log-level') ?? process.env.FEDPEER_LOG_LEVEL ? { logLevel: (str('log-level') ?? process.env.FEDPEER_LOG_LEVEL)! } : {}),
          json: values.json === true,
          tap: values.tap === true,
          ...outbound(),
        });
      }
      case 'config': {
        if (positionals[1] !== 'check') throw new UsageError(`unknown config subcommand ${JSON.stringify(positionals[1] ?? '')}; try: fedpeer config check FILE`);
        const { configCheckCommand } = await import('./commands/config-check.js');
        const file = positionals[2] ?? str('config');
        return await configCheckCommand(io, { ...(file ? { file } : {}), json: values.json === true });
      }
      case 'canonical-json': {
        const { canonicalJsonCommand } = await import('./commands/json-tools.js');
        return await canonicalJsonCommand(io);
      }
      case 'sign-json': {
        const { signJsonCommand } = await import('./commands/json-tools.js');
        return await signJsonCommand(io, { key: str('key'), serverName: str('server-name') } as { key?: string; serverName?: string });
      }
      case 'verify-json': {
        const { verifyJsonCommand } = await import('./commands/json-tools.js');
        return await verifyJsonCommand(io, { serverName: str('server-name'), keyId: str('key-id'), publicKey: str('public-key') } as {
          serverName?: string;
          keyId?: string;
          publicKey?: string;
        });
      }
      case 'event': {
        const { eventCommand } = await import('./commands/event.js');
        return await eventCommand(io, {
          ...(positionals[1] ? { subcommand: positionals[1] } : {}),
          ...(str('room-version') ? { roomVersion: str('room-version')! } : {}),
          ...(str('key') ? { key: str('key')! } : {}),
          ...(str('server-name') ? { serverName: str('server-name')! } : {}),
          ...(str('public-key') ? { publicKey: str('public-key')! } : {}),
          ...(str('key-id') ? { keyId: str('key-id')! } : {}),
          ...outbound(),
        });
      }
      default:
        io.stderr(`fedpeer: unknown command "${command}"\nRun "fedpeer --help" for usage.`);
        return 2;
    }
  } catch (e) {
    const err = e as Error & { exitCode?: number };
    io.stderr(`fedpeer ${command}: ${err.message}`);
    if (process.env.FEDPEER_DEBUG) io.stderr(String(err.stack));
    return e instanceof UsageError ? err.exitCode ?? 2 : 1;
  }
}

const isEntry = process.argv[1] && import.meta.url === (await import('node:url')).pathToFileURL((await import('node:fs')).realpathSync(process.argv[1])).href;
if (isEntry) {
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
}

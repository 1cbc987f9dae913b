import { LOG_LEVEL_OPTION, logLevel, OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { CommandSpec } from '../types.js';

export const probe: CommandSpec = {
  name: 'probe',
  summary: "Conformance run against a homeserver's federation API, as the server of --config. Exit 0 only when no check failed.",
  description:
    "The probe serves the listeners of --config while it runs (the target calls back for its keys) and checks the key document, /version, request authentication against forged and malformed signatures, error codes, and how the target reaches out: resolution, SNI, Host, key fetch and certificate checks, with a second, untrusted identity on --untrusted-port. The room checks send events made to order (forged signatures, wrong hashes, failed auth checks, another room or server, 51 PDUs, a repeated transaction) into --room, or into a room the probe creates for the user of --access-token (--client-url). Each check reports its id, spec section, what was sent and received, and a verdict (docs/PROBE.md).\n\nExit 0 when no check failed, 1 when one did or the probe could not start, 2 for a bad command line.",
  args: [{ name: 'NAME', what: 'the server name to probe', required: true }],
  options: {
    only: { type: 'string', value: 'ID,...', description: 'Run only these check ids or groups (identity, auth, errors, outbound, rooms), in the registry\'s order.' },
    room: { type: 'string', value: 'ALIAS_OR_ID', description: "A room on the target (#alias:server or !id:server) the probe's user may join: the room checks run in it, and the probe leaves it at the end." },
    'client-url': { type: 'string', value: 'URL', description: "The target's client-server API (e.g. http://127.0.0.1:8008), with --access-token: without --room the probe creates a room, invites the token's user and has them join through it; the room checks also look through it." },
    'access-token': { type: 'string', value: 'TOKEN', description: 'An access token of a user of the target, for --client-url (or FEDPEER_PROBE_ACCESS_TOKEN, which keeps it out of ps); never printed.' },
    user: { type: 'string', value: 'USER_ID', description: 'The user the access token must belong to (checked with /account/whoami).' },
    json: { type: 'boolean', description: 'Print the report as JSON (docs/probe-report.schema.json) instead of text.' },
    tap: { type: 'boolean', description: 'Print the report as TAP 14 instead of text.' },
    junit: { type: 'string', value: 'FILE', description: 'Also write JUnit XML to FILE (its directory must exist; checked before the run).' },
    'untrusted-port': { type: 'string', value: 'PORT', description: "The untrusted identity's port (default 8449, 0 for none); not a port of the config's listeners." },
    'dns-listen': { type: 'string', value: 'ADDRESS[:PORT]', description: "Run the probe's DNS server there (port 53 by default), to see how the target resolves the probe." },
    ...OUTBOUND_OPTIONS,
    config: { ...OUTBOUND_OPTIONS.config!, description: "The probe's identity, a homeserver.yaml (required): its server_name must be reachable by the target and must not be NAME." },
    'log-level': { ...LOG_LEVEL_OPTION, description: `${LOG_LEVEL_OPTION.description} The log of the probe's servers, on stderr; default silent.` },
  },
  examples: [
    'fedpeer probe hs.test --config probe.yaml',
    'fedpeer probe hs.test --config probe.yaml --only identity,auth --junit probe-junit.xml',
    "fedpeer probe hs.test --config probe.yaml --only rooms --room '#probe-room:hs.test'",
    'FEDPEER_PROBE_ACCESS_TOKEN=... fedpeer probe hs.test --config probe.yaml --client-url http://127.0.0.1:8008 --user @probed:hs.test',
  ],
  async run({ io, args, env }) {
    const level = logLevel(args, env, 'silent');
    const accessToken = args.string('access-token') ?? env.FEDPEER_PROBE_ACCESS_TOKEN;
    const { probeCommand } = await import('../../commands/probe.js');
    const optional = (option: string, field: string) => {
      const value = args.string(option);
      return value !== undefined ? { [field]: value } : {};
    };
    return probeCommand(io, {
      name: args.positionals[0]!,
      ...optional('only', 'only'),
      ...optional('room', 'room'),
      ...optional('client-url', 'clientUrl'),
      ...optional('user', 'user'),
      ...(accessToken !== undefined ? { accessToken } : {}),
      ...optional('junit', 'junit'),
      ...optional('untrusted-port', 'untrustedPort'),
      ...optional('dns-listen', 'dnsListen'),
      logLevel: level,
      json: args.flag('json'),
      tap: args.flag('tap'),
      ...outboundArgs(args),
    });
  },
};

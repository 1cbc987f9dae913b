import { LOG_LEVEL_OPTION, logLevel, OUTBOUND_OPTIONS, outboundArgs } from '../options.js';
import type { CommandSpec } from '../types.js';

export const probe: CommandSpec = {
  name: 'probe',
  summary: "Conformance run against a homeserver's federation API, as the server of --config. Exit 0 only when no check failed.",
  description:
    "The probe serves the listeners of --config while it runs (the target calls back for its keys) and checks the key document, /version, request authentication against forged and malformed signatures, error codes, and how the target reaches out: resolution, SNI, Host, key fetch and certificate checks, with a second, untrusted identity on --untrusted-port. Each check reports its id, spec section, what was sent and received, and a verdict (docs/PROBE.md).\n\nExit 0 when no check failed, 1 when one did or the probe could not start, 2 for a bad command line.",
  args: [{ name: 'NAME', what: 'the server name to probe', required: true }],
  options: {
    only: { type: 'string', value: 'ID,...', description: 'Run only these check ids or groups (identity, auth, errors, outbound, rooms), in the registry\'s order.' },
    room: { type: 'string', value: 'ALIAS_OR_ID', description: 'A room for the room checks (accepted; they cannot run until the room peer lands: docs/PROBE.md).' },
    json: { type: 'boolean', description: 'Print the report as JSON (docs/probe-report.schema.json) instead of text.' },
    tap: { type: 'boolean', description: 'Print the report as TAP 14 instead of text.' },
    junit: { type: 'string', value: 'FILE', description: 'Also write JUnit XML to FILE (its directory must exist; checked before the run).' },
    'untrusted-port': { type: 'string', value: 'PORT', description: "The untrusted identity's port (default 8449, 0 for none); not a port of the config's listeners." },
    'dns-listen': { type: 'string', value: 'ADDRESS[:PORT]', description: "Run the probe's DNS server there (port 53 by default), to see how the target resolves the probe." },
    ...OUTBOUND_OPTIONS,
    config: { ...OUTBOUND_OPTIONS.config!, description: "The probe's identity, a homeserver.yaml (required): its server_name must be reachable by the target and must not be NAME." },
    'log-level': { ...LOG_LEVEL_OPTION, description: `${LOG_LEVEL_OPTION.description} The log of the probe's servers, on stderr; default silent.` },
  },
  examples: ['fedpeer probe hs.test --config probe.yaml', 'fedpeer probe hs.test --config probe.yaml --only identity,auth --junit probe-junit.xml'],
  async run({ io, args, env }) {
    const level = logLevel(args, env, 'silent');
    const { probeCommand } = await import('../../commands/probe.js');
    const optional = (option: string, field: string) => {
      const value = args.string(option);
      return value !== undefined ? { [field]: value } : {};
    };
    return probeCommand(io, {
      name: args.positionals[0]!,
      ...optional('only', 'only'),
      ...optional('room', 'room'),
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

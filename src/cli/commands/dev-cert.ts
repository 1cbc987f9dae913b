import type { CommandSpec } from '../types.js';

export const devCert: CommandSpec = {
  name: 'dev-cert',
  summary: "Issue a certificate from the development peer's CA for other local services (a homeserver beside fedpeer).",
  description:
    'The certificate carries every NAME given (DNS names and IP addresses) and lasts 397 days; it is written as <keys-dir>/<first NAME>.crt and .key, beside the CA (dev-ca.crt) that `fedpeer serve` without a config uses and trusts. Give the other service the certificate and key, and make it trust dev-ca.crt (docs/SANDBOX.md).',
  args: [{ name: 'NAME', what: 'at least one NAME (a DNS name or IP address)', required: true, variadic: true }],
  options: {
    'keys-dir': { type: 'string', value: 'DIR', description: 'Where the development CA lives (default keys/); it is made there if missing.' },
    force: { type: 'boolean', description: 'Replace an existing certificate of that name.' },
  },
  examples: ['fedpeer dev-cert synapse.test 127.0.0.1'],
  async run({ io, args }) {
    const { devCertCommand } = await import('../../commands/dev-cert.js');
    const keysDir = args.string('keys-dir');
    return devCertCommand(io, { names: args.positionals, force: args.flag('force'), ...(keysDir !== undefined ? { keysDir } : {}) });
  },
};

// `fedpeer dev-cert NAME...`: a certificate from the development CA for
// another local service, so it and a development peer trust each other.
import { access } from 'node:fs/promises';
import { isIP } from 'node:net';
import { relative, resolve } from 'node:path';
import { isValidServerName } from '../matrix/server-name.js';
import { devFileStem, devNames, ensureDevCa, writeDevCertificate } from '../server/dev-files.js';
import { UsageError, type CommandIO } from './io.js';

export interface DevCertOptions {
  names: string[];
  keysDir?: string;
  force?: boolean;
  now?: () => number;
}

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

export async function devCertCommand(io: CommandIO, opts: DevCertOptions): Promise<number> {
  for (const name of opts.names) {
    const bare = name.replace(/^\[(.*)\]$/, '$1');
    // A certificate names hosts: a server name without its port.
    if (isIP(bare) === 0 && (!isValidServerName(name) || name.includes(':'))) {
      throw new UsageError(`not a DNS name or IP address: ${JSON.stringify(name)} (a certificate names hosts: no port, no https://)`);
    }
  }
  const keysDir = resolve(opts.keysDir ?? 'keys');
  const { ca, caCertPath, created } = await ensureDevCa(keysDir, opts.now);
  const stem = devFileStem(opts.names[0]!.replace(/^\[(.*)\]$/, '$1'));
  const certPath = resolve(keysDir, `${stem}.crt`);
  if (!opts.force && (await exists(certPath))) throw new UsageError(`refusing to overwrite ${certPath}; give --force to replace it`, 1);
  const names = devNames(opts.names);
  const cert = await writeDevCertificate(ca, keysDir, stem, names, opts.now);
  const rel = (p: string) => relative(process.cwd(), p) || p;
  io.stdout(
    [
      `wrote ${rel(cert.certPath)} and ${rel(cert.keyPath)} for ${[...names.dnsNames, ...names.ipAddresses].join(', ')}, valid until ${new Date(cert.notAfter).toISOString()}`,
      `issued by the development CA ${rel(caCertPath)}${created.length > 0 ? ' (created now)' : ''}: make the other side trust it (Synapse: federation_custom_ca_list)`,
    ].join('\n'),
  );
  return 0;
}

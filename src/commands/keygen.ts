// `fedpeer keygen`: a new Synapse-format signing key, mode 0600, never over an existing file.
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { formatSigningKeys, generateSigningKey } from '../matrix/signing-key.js';
import { UsageError, type CommandIO } from './io.js';

export async function keygenCommand(io: CommandIO, opts: { out?: string }): Promise<number> {
  const key = generateSigningKey();
  const text = formatSigningKeys([key]);
  if (!opts.out) {
    io.stdout(text);
    return 0;
  }
  const path = resolve(opts.out);
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, text, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new UsageError(`refusing to overwrite existing key file ${path}`, 1);
    throw new UsageError(`cannot write ${path}: ${(e as Error).message}`, 1);
  }
  io.stderr(`wrote ${key.keyId} to ${path} (public key ${key.publicKeyBase64})`);
  return 0;
}

// The control API's bearer token: `control_token` from the config, or one
// generated under data_dir on the first start (mode 0600) and read from there
// by `fedpeer room`. It is a secret: nothing here logs it.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/types.js';

export const CONTROL_TOKEN_FILE = 'control.token';

type TokenConfig = Pick<Config, 'controlToken' | 'dataDir'>;

export function controlTokenPath(dataDir: string): string {
  return join(dataDir, CONTROL_TOKEN_FILE);
}

/** The token of a client of the control API (the CLI): control_token, else the file; undefined when neither exists yet. */
export async function readControlToken(config: TokenConfig): Promise<string | undefined> {
  if (config.controlToken !== undefined) return config.controlToken;
  const file = controlTokenPath(config.dataDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new Error(`cannot read the control token ${file} (${code}): run as the user that runs fedpeer serve, or set control_token in the config`);
  }
  const token = text.trim();
  if (token === '') throw new Error(`the control token file ${file} is empty: delete it and restart fedpeer serve to make a new one, or set control_token in the config`);
  return token;
}

/** The token a server started from `config` accepts, generated and written (mode 0600) when there is none yet. */
export async function ensureControlToken(config: TokenConfig, random: (bytes: number) => Buffer = randomBytes): Promise<string> {
  const existing = await readControlToken(config);
  if (existing !== undefined) return existing;
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const token = random(32).toString('base64url');
  const file = controlTokenPath(config.dataDir);
  try {
    // 'wx': two servers starting on one data_dir must not overwrite each other's token.
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new Error(`cannot write the control token ${file} (${code}): make data_dir writable, or set control_token in the config`);
    const theirs = await readControlToken(config);
    // A dangling symbolic link exists for 'wx' but not for reading.
    if (theirs === undefined) throw new Error(`${file} is in the way of the control token (a dangling link?): remove it`);
    return theirs;
  }
  return token;
}

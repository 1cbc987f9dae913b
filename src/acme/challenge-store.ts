// HTTP-01 answers in flight: token -> key authorization. Kept in memory for
// the `type: acme` listeners of this process, and also written as files under
// acme.webroot when one is configured, so a web server that serves the
// webroot (or a running `fedpeer serve` while `fedpeer acme renew` runs in
// another process) answers them too.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ChallengeStore {
  get(token: string): string | undefined;
  set(token: string, keyAuthorization: string): Promise<void>;
  delete(token: string): Promise<void>;
}

// Tokens are base64url (RFC 8555 8.1); checking keeps a hostile ACME server
// from naming a path outside the webroot.
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export function createChallengeStore(opts: { webroot?: string } = {}): ChallengeStore {
  const answers = new Map<string, string>();
  const dir = opts.webroot === undefined ? undefined : join(opts.webroot, '.well-known', 'acme-challenge');
  return {
    get: (token) => answers.get(token),
    async set(token, keyAuthorization) {
      if (!TOKEN.test(token)) throw new Error(`ACME server sent an invalid challenge token ${JSON.stringify(token.slice(0, 80))}`);
      answers.set(token, keyAuthorization);
      if (dir !== undefined) {
        await mkdir(dir, { recursive: true });
        // Web servers run as another user; the answer is public by design.
        await writeFile(join(dir, token), keyAuthorization, { mode: 0o644 });
      }
    },
    async delete(token) {
      answers.delete(token);
      if (dir !== undefined) await rm(join(dir, token), { force: true });
    },
  };
}

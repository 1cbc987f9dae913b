// One ACME v2 (RFC 8555) order per domain through acme-client: account (made
// or found by its key), order, HTTP-01 challenge, finalize, download.
import { Agent } from 'node:https';
import { Client, axios as acmeAxios, crypto as acmeCrypto } from 'acme-client';
import type { ChallengeStore } from './challenge-store.js';
import { newPrivateKey } from './storage.js';

export interface IssuerOptions {
  directoryUrl: string;
  /** PEM of the CA that signs the ACME server's own HTTPS certificate (a private ACME server). */
  caPem?: string;
  accountKeyPem: string;
  email?: string;
  challenges: ChallengeStore;
  /** First wait between status polls; acme-client doubles it up to 6x. */
  pollMs: number;
  /** Per HTTP request to the ACME server. */
  timeoutMs: number;
}

export interface Issued {
  chainPem: string;
  keyPem: string;
}

export interface Issuer {
  issue(domain: string): Promise<Issued>;
}

export function createIssuer(opts: IssuerOptions): Issuer {
  // acme-client speaks through one shared axios instance; the only way to
  // trust a private ACME server is that instance's agent. fedpeer runs one
  // ACME configuration per process, so setting it here is not a race.
  acmeAxios.defaults.httpsAgent = opts.caPem === undefined ? undefined : new Agent({ ca: opts.caPem, keepAlive: false });
  acmeAxios.defaults.timeout = opts.timeoutMs;
  const client = new Client({
    directoryUrl: opts.directoryUrl,
    accountKey: opts.accountKeyPem,
    backoffAttempts: 10,
    backoffMin: opts.pollMs,
    backoffMax: opts.pollMs * 6,
  });
  return {
    async issue(domain) {
      const keyPem = await newPrivateKey();
      const [, csr] = await acmeCrypto.createCsr({ commonName: domain, altNames: [domain] }, keyPem);
      const chainPem = await client.auto({
        csr,
        ...(opts.email !== undefined ? { email: opts.email } : {}),
        // Enabling ACME is the operator's agreement, as certbot's --agree-tos.
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The CA's own check is the one that counts; a self-check from here
        // fails behind NAT without hairpinning and proves nothing more.
        skipChallengeVerification: true,
        challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'http-01') throw new Error(`${domain}: the CA offered no http-01 challenge (got ${challenge.type})`);
          await opts.challenges.set(challenge.token, keyAuthorization);
        },
        challengeRemoveFn: async (_authz, challenge) => {
          await opts.challenges.delete(challenge.token);
        },
      });
      return { chainPem, keyPem };
    },
  };
}

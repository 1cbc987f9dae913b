// Outbound requests whose answer a test wants to see whatever its status (a
// 403 is an answer to check, not an exception), and a transaction made of
// exactly the PDUs and EDUs given: the library's and the control API's
// `request` and `sendTransaction`.
import { randomBytes } from 'node:crypto';
import type { FederationClient } from './client.js';
import { FederationError } from './errors.js';

export interface FederationAnswer {
  status: number;
  body: unknown;
}

export interface TransactionInput {
  pdus?: readonly unknown[];
  edus?: readonly unknown[];
  /** Default: the time and random hex, unique per call. */
  txnId?: string;
}

/** One X-Matrix-signed request; the answer whatever its status (network and policy failures throw). */
export async function federationAnswer(client: Pick<FederationClient, 'request'>, destination: string, method: string, path: string, body?: unknown): Promise<FederationAnswer> {
  try {
    const r = await client.request(destination, method, path, body === undefined ? {} : { body });
    return { status: r.status, body: r.body };
  } catch (e) {
    if (e instanceof FederationError && e.status !== undefined) return { status: e.status, body: e.body };
    throw e;
  }
}

/** PUT /_matrix/federation/v1/send/{txnId} to `destination`, from `origin`. */
export function sendTransaction(
  client: Pick<FederationClient, 'request'>,
  origin: string,
  destination: string,
  txn: TransactionInput,
  opts: { now?: () => number; randomId?: () => string } = {},
): Promise<FederationAnswer> {
  const now = opts.now ?? Date.now;
  const txnId = txn.txnId ?? `${now()}.${(opts.randomId ?? (() => randomBytes(6).toString('hex')))()}`;
  return federationAnswer(client, destination, 'PUT', `/_matrix/federation/v1/send/${encodeURIComponent(txnId)}`, {
    origin,
    origin_server_ts: now(),
    pdus: txn.pdus ?? [],
    edus: txn.edus ?? [],
  });
}

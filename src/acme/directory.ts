// Before an ACME round, one GET of the directory with a deadline. acme-client
// retries an unreachable directory for over a minute and then fails with a
// TypeError from inside axios; this says in a sentence what is wrong with
// the URL (and how to fix it) within federation_client.request_timeout.
import * as http from 'node:http';
import * as https from 'node:https';

const TLS_TRUST = /^(?:CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_TLS_CERT_ALTNAME_INVALID)/;

/** A network or TLS failure in words, with the fix when there is an obvious one; undefined for anything else. */
export function describeNetworkError(err: { code?: string; message?: string }, timeoutMs: number): string | undefined {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return 'the connection was refused (nothing listens at that address and port)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'its host name does not resolve';
  if (code === 'ETIMEDOUT' || code === 'ECONNABORTED' || code === 'FEDPEER_TIMEOUT') return `no answer within ${timeoutMs / 1000} s (federation_client.request_timeout)`;
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'the connection was closed before an answer came';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'there is no route to that address';
  if (TLS_TRUST.test(code)) return `its TLS certificate is not trusted (${code}); for a private ACME server, set acme.ca_certificate_path to the CA that signed it`;
  if (code.startsWith('ERR_SSL') || code === 'EPROTO') return `the TLS handshake failed (${code}); is it an https URL on an HTTPS port?`;
  return undefined;
}

export interface DirectoryCheckOptions {
  /** PEM of the CA of a private ACME server. */
  caPem?: string;
  timeoutMs: number;
}

function get(url: URL, opts: DirectoryCheckOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const req = client.get(url, { ...(opts.caPem !== undefined && url.protocol === 'https:' ? { ca: opts.caPem } : {}), headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
        // A directory is a few hundred bytes; anything far larger is not one.
        if (body.length > 64 * 1024) req.destroy(Object.assign(new Error('directory too large'), { code: 'FEDPEER_TOO_LARGE' }));
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs, () => req.destroy(Object.assign(new Error('timeout'), { code: 'FEDPEER_TIMEOUT' })));
    req.on('error', reject);
  });
}

/** Resolves when `directoryUrl` answers an ACME directory; otherwise throws one sentence naming the cause and the fix. */
export async function checkDirectory(directoryUrl: string, opts: DirectoryCheckOptions): Promise<void> {
  const fail = (why: string) => new Error(`cannot use the ACME directory ${directoryUrl}: ${why}. Check acme.directory_url.`);
  let answer: { status: number; body: string };
  try {
    answer = await get(new URL(directoryUrl), opts);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw fail(describeNetworkError(err, opts.timeoutMs) ?? (err.code === 'FEDPEER_TOO_LARGE' ? 'it answered more than 64 KiB, not a directory' : `the request failed (${err.code ?? err.message})`));
  }
  if (answer.status !== 200) throw fail(`it answered HTTP ${answer.status}, not an ACME directory`);
  let doc: unknown;
  try {
    doc = JSON.parse(answer.body);
  } catch {
    throw fail('its answer is not JSON, so not an ACME directory');
  }
  const d = doc as Record<string, unknown> | null;
  if (typeof d !== 'object' || d === null || typeof d.newNonce !== 'string' || typeof d.newAccount !== 'string' || typeof d.newOrder !== 'string') {
    throw fail('its answer has no newNonce, newAccount and newOrder URLs, so it is not an ACME (RFC 8555) directory');
  }
}

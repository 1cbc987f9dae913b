// pebble (Debian package `pebble`, Let's Encrypt's ACME test server) on a
// loopback address. Its own HTTPS certificate comes from the test PKI (the
// Debian package ships no test certificates), so clients trust it with the
// test root. HTTP-01 validation dials the name's A record, looked up through
// the test DNS server given as `dnsServer`, on `httpPort`. The environment
// makes it fast and deterministic: no random validation sleeps, no rejected
// nonces, no reuse of earlier authorizations.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import * as https from 'node:https';
import { makeTestPki } from './test-ca.js';

export interface Pebble {
  directoryUrl: string;
  /** pebble's own (per-run) root, which issued certificates chain to. */
  rootPem(): Promise<string>;
  /** Everything pebble printed, for failure messages. */
  output(): string;
  close(): Promise<void>;
}

export async function startPebble(opts: { address: string; dnsServer: string; httpPort: number }): Promise<Pebble> {
  const pki = await makeTestPki();
  const leaf = await pki.leaf([opts.address]);
  const dir = mkdtempSync(join(tmpdir(), 'fedpeer-pebble-'));
  writeFileSync(join(dir, 'cert.pem'), leaf.chainPem);
  writeFileSync(join(dir, 'key.pem'), leaf.keyPem, { mode: 0o600 });
  writeFileSync(
    join(dir, 'pebble.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `${opts.address}:14000`,
        managementListenAddress: `${opts.address}:15000`,
        certificate: join(dir, 'cert.pem'),
        privateKey: join(dir, 'key.pem'),
        httpPort: opts.httpPort,
        tlsPort: 5001,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  );
  const child = spawn('pebble', ['-config', join(dir, 'pebble.json'), '-dnsserver', opts.dnsServer], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const collect = (d: Buffer) => {
    text += d.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pebble did not start within 20 s:\n${text}`));
    }, 20_000);
    const check = () => {
      if (/Listening on: /.test(text)) {
        clearTimeout(timer);
        child.stdout.off('data', check);
        resolve();
      }
    };
    child.stdout.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pebble exited with ${code}:\n${text}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    directoryUrl: `https://${opts.address}:14000/dir`,
    output: () => text,
    rootPem: () =>
      new Promise((resolve, reject) => {
        https
          .get(`https://${opts.address}:15000/roots/0`, { ca: pki.root.certPem, timeout: 5000 }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      }),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await once(child, 'exit');
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

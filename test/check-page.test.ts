// The check page (check_page: {enabled: true}) of a real fedpeer on
// 127.51.1.1, checking servers on the private internet (127.51.x.y): in a
// real browser (Debian's chromium driven by playwright-core, never a
// downloaded one) and over plain HTTP for the headers, the cache, the rate
// limit, the blocklist and hostile content.
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { CheckReport } from '../src/check/types.js';
import { federationWorld } from './harness/federation.js';
import { startHttpsServer } from './harness/https-server.js';
import { startFixture, type Fixture } from './harness/server-fixture.js';
import { requireTool } from './harness/tools.js';

const world = await federationWorld('check-page');
const { dns, pki, addr } = world;
t.teardown(() => world.close());
const OUT = fileURLToPath(new URL('../test-output/', import.meta.url));
mkdirSync(OUT, { recursive: true });

const fixtures: Fixture[] = [];
t.teardown(async () => {
  for (const f of fixtures) await f.close();
});
async function fixture(c: number, serverName: string, certNames: string[], raw: Record<string, unknown> = {}): Promise<Fixture> {
  const f = await startFixture({ address: addr(c, 1), serverName, certNames, raw });
  fixtures.push(f);
  return f;
}

// The checking server: federation over TLS on 8448, the page over plain HTTP on 8080.
const PAGE_PORT = 8080;
const listeners = (c: number) => [
  { port: 8448, bind_addresses: [addr(c, 1)], tls: true, type: 'http', resources: [{ names: ['federation', 'keys'] }] },
  { port: PAGE_PORT, bind_addresses: [addr(c, 1)], tls: false, type: 'http', resources: [{ names: ['client'] }] },
];
await fixture(1, 'checker.test', ['checker.test'], {
  listeners: listeners(1),
  check_page: { enabled: true },
  federation_custom_ca_list: [world.caFile],
  federation_dns_servers: [dns.hostPort],
  ip_range_whitelist: ['127.51.0.0/17'],
  // Checks get a tenth: 2 a second, bursts of 10.
  limits: { rate_limit: { per_second: 20, burst: 100 } },
});
// A server with the page switched off (the default).
await fixture(6, 'nopage.test', ['nopage.test'], { listeners: listeners(6) });

// good.test: _matrix-fed SRV to a fedpeer with the domain's certificate.
dns.set('_matrix-fed._tcp.good.test', 'SRV', { priority: 10, weight: 1, port: 8448, target: 'box.good.test' });
dns.set('box.good.test', 'A', addr(2, 1));
await fixture(2, 'good.test', ['good.test']);
// mix.test: the SRV target's certificate instead of the server name's.
dns.set('_matrix._tcp.mix.test', 'SRV', { priority: 10, weight: 5, port: 8448, target: 'hs.mix.test' });
dns.set('hs.mix.test', 'A', addr(3, 1));
await fixture(3, 'mix.test', ['hs.mix.test']);
// hostile.test: well-known files full of markup.
const hostileLeaf = await pki.leaf(['hostile.test']);
const hostile = await startHttpsServer({
  address: addr(4, 1),
  port: 443,
  certificates: { certPem: hostileLeaf.chainPem, keyPem: hostileLeaf.keyPem },
  handler: (req, res) => {
    const body =
      req.url === '/.well-known/matrix/server'
        ? '{"m.server":"<script>alert(1)</script>"}'
        : JSON.stringify({ 'm.homeserver': { base_url: 'https://x.test/"><img src=x onerror=alert(2)>' } });
    res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '<i>*</i>' }).end(body);
  },
});
t.teardown(() => hostile.close());
dns.set('hostile.test', 'A', addr(4, 1));
// blocked.test: an address the default blocklist covers and the whitelist does not.
dns.set('blocked.test', 'A', '127.51.200.1');

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
/** GET from a chosen source address, so each test is its own client for the rate limit. */
function get(path: string, from: string, host = addr(1, 1)): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port: PAGE_PORT, path, localAddress: from }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const q = (name: string, json = false) => `/_fedpeer/check?server_name=${encodeURIComponent(name)}${json ? '&format=json' : ''}`;

t.test('in a real browser: submit a name, read the verdict and the fix', async (t) => {
  if (!requireTool(t, 'chromium')) return;
  const profile = mkdtempSync(join(tmpdir(), 'fedpeer-chromium-'));
  t.teardown(() => rmSync(profile, { recursive: true, force: true }));
  const browser: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 900 },
  });
  t.teardown(() => browser.close());
  const page: Page = await browser.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });

  await page.goto(`http://${addr(1, 1)}:${PAGE_PORT}/_fedpeer/check`);
  t.equal(await page.title(), 'Matrix federation check');
  await page.fill('#server_name', 'mix.test');
  await Promise.all([page.waitForURL(/server_name=mix\.test/), page.click('button[type=submit]')]);
  t.equal((await page.textContent('#verdict h2'))?.trim(), 'FAIL: mix.test');
  t.match(await page.textContent('#verdict'), /Federation with mix\.test fails: The certificate is for the SRV target hs\.mix\.test/);
  const finding = page.locator('.finding[data-code="CERT_NAME_MISMATCH_SRV"]');
  t.match(
    await finding.textContent(),
    'Reached through _matrix._tcp.mix.test -> hs.mix.test:8448, the certificate must be valid for mix.test (the server name) but is valid only for hs.mix.test.',
  );
  t.match(await finding.locator('.fix').textContent(), 'Fix: Serve a certificate for mix.test there (SNI), or publish /.well-known/matrix/server {"m.server":"hs.mix.test:8448"} instead.');
  t.match(await page.textContent('#certificates'), /hs\.mix\.test.*wrong name/s, 'certificate expiry at a glance');
  t.equal(await page.inputValue('#server_name'), 'mix.test', 'the form keeps the name');
  await page.screenshot({ path: join(OUT, 'check-page.png'), fullPage: true });

  await page.fill('#server_name', 'good.test');
  await Promise.all([page.waitForURL(/server_name=good\.test/), page.press('#server_name', 'Enter')]);
  t.equal((await page.textContent('#verdict h2'))?.trim(), 'OK: good.test');
  t.match(await page.textContent('#verdict'), 'Federation with good.test works.');
  await page.screenshot({ path: join(OUT, 'check-page-ok.png'), fullPage: true });

  // Hostile content shows as text and runs nothing.
  await page.goto(`http://${addr(1, 1)}:${PAGE_PORT}${q('hostile.test')}`);
  t.equal(await page.locator('script').count(), 0, 'no script element');
  t.equal(await page.locator('img, i').count(), 0, 'no injected elements');
  t.match(await page.textContent('#well-known'), '{"m.server":"<script>alert(1)</script>"}');
  t.match(await page.textContent('#client-well-known'), '"><img src=x onerror=alert(2)>');
  t.same(dialogs, [], 'no alert ran');
});

t.test('the form, bad names, headers', async (t) => {
  const from = addr(9, 1);
  let r = await get('/_fedpeer/check', from);
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/html; charset=utf-8/);
  t.match(r.headers['content-security-policy'], "default-src 'none'");
  t.equal(r.headers['x-content-type-options'], 'nosniff');
  t.match(r.body, /<form method="get" action="\/_fedpeer\/check">/);

  r = await get(q('"><script>x</script>'), from);
  t.equal(r.status, 400);
  t.match(r.body, 'Not a valid server name');
  t.match(r.body, 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"');
  t.notMatch(r.body, '<script>');

  r = await get('/_fedpeer/check', from, addr(6, 1));
  t.equal(r.status, 404, 'off unless check_page.enabled');
  t.match(JSON.parse(r.body), { errcode: 'M_UNRECOGNIZED' });

  r = await get('/_fedpeer/check', from);
  t.equal(r.status, 200);
  const post = await new Promise<number>((resolve, reject) => {
    const req = request({ host: addr(1, 1), port: PAGE_PORT, path: '/_fedpeer/check', method: 'POST', localAddress: from }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(post, 405);
});

t.test('JSON form, the one-minute cache, the blocklist', async (t) => {
  const from = addr(9, 2);
  const first = await get(q('good.test', true), from);
  t.equal(first.status, 200);
  t.match(first.headers['content-type'], /^application\/json/);
  const report = JSON.parse(first.body) as CheckReport;
  t.match(report, { server_name: 'good.test', federation_ok: true, resolution: { route: 'srv' } });
  const queries = dns.queries('_matrix-fed._tcp.good.test');
  const again = JSON.parse((await get(q('good.test', true), from)).body) as CheckReport;
  t.equal(again.checked_at, report.checked_at, 'the same report within the minute');
  t.equal(dns.queries('_matrix-fed._tcp.good.test'), queries, 'no new lookups');

  const blocked = JSON.parse((await get(q('blocked.test', true), from)).body) as CheckReport;
  t.equal(blocked.federation_ok, false);
  t.equal(blocked.findings[0]!.code, 'ADDRESS_BLOCKED');
  t.same(blocked.targets, []);
});

t.test('checks are rate-limited per client address', async (t) => {
  const from = addr(9, 3);
  const statuses: number[] = [];
  let limited: Got | undefined;
  for (let i = 0; i < 12 && limited === undefined; i++) {
    const r = await get(q('good.test'), from);
    statuses.push(r.status);
    if (r.status === 429) limited = r;
  }
  t.ok(limited, `limited after ${statuses.length - 1} checks`);
  t.ok(statuses.length >= 10, 'a burst of 10 first');
  t.match(JSON.parse(limited!.body), { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: Number });
  t.match(limited!.headers['retry-after'], /^\d+$/);
  t.equal((await get(q('good.test'), addr(9, 4))).status, 200, 'another address is not affected');
  t.equal((await get('/_fedpeer/check', from)).status, 200, 'the form itself costs nothing');
});

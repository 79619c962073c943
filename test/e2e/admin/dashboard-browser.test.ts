// The dashboard in a real browser (issue 18 Proof): playwright-core drives Debian's Chromium
// (/usr/bin/chromium, headless; nothing is downloaded) against a proxy with an admin token. The
// page must load with no console error and no failed request, ask for the token before its first
// call, show the pools and a live session, show the request rate a client really sends (±20 %),
// drain a server by its button (new sessions go elsewhere) and kill a session by its button (the
// client gets ECONNRESET). A screenshot is kept in test-artifacts/ (git-ignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { echoBackend, httpBackend, type Backend } from '../../helpers/backends.ts';
import { ROOT, startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const CHROMIUM = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run installs it), or set CHROMIUM_BIN`;
const TOKEN = 'dashboard-s3cret';
const RATE = 20; // requests per second the test client sends
const ARTIFACTS = join(ROOT, 'test-artifacts');

let web: Backend;
let e1: Backend;
let e2: Backend;
let p: RunningProxy;
let base = '';

before(async () => {
  if (missing !== false) return;
  web = await httpBackend('web');
  e1 = await echoBackend();
  e2 = await echoBackend();
  p = await startProxy({
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0', token: TOKEN },
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'site' },
      { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
    ],
    pools: [
      { name: 'site', servers: [{ address: web.address }] },
      { name: 'echo', scheduler: 'rr', servers: [{ address: e1.address }, { address: e2.address }] },
    ],
  });
  const ad = p.proxy.adminAddress!;
  base = `http://${ad.host}:${ad.port}`;
});

after(async () => {
  if (missing !== false) return;
  await p.stop();
  await Promise.all([web.close(), e1.close(), e2.close()]);
});

/** An established tcp session through "raw" from `localAddress`. */
async function tcpSession(localAddress: string): Promise<Socket> {
  const s = await dial(p.addr('raw').port, '127.0.0.1', localAddress);
  s.write('hello');
  await new Promise((r) => s.once('data', r));
  return s;
}

test('the dashboard in Chromium: token, pools, a live session, the real rate, drain and kill buttons', { skip: missing, timeout: 90_000 }, async (t) => {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });

  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('request', (r) => {
    if (!r.url().startsWith(`${base}/`) && !r.url().startsWith('data:')) problems.push(`request elsewhere: ${r.url()}`);
  });
  const calls: string[] = [];
  page.on('response', (r) => {
    calls.push(`${r.request().method()} ${r.url().slice(base.length)} ${r.status()}`);
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });

  // 1. With admin.token set, the page asks for it before calling the API (no 401 to log).
  await page.goto(`${base}/`);
  await page.locator('#auth-msg', { hasText: 'needs its token' }).waitFor();
  assert.deepEqual(calls, ['GET / 200'], 'no API call before the token is given');
  await page.fill('#token', TOKEN);
  await page.click('#token-save');

  // 2. Pools and servers are shown, with their health and admin state.
  const serverRow = (pool: string, addr: string) => page.locator(`table[data-pool="${pool}"] tr[data-server="${addr}"]`);
  await serverRow('site', web.address).waitFor();
  for (const addr of [e1.address, e2.address]) {
    const row = serverRow('echo', addr);
    await row.locator('.up').waitFor();
    assert.match(await row.innerText(), /enabled/);
  }

  // 3. A live session from a test client, found with the session filters (client CIDR).
  const live = await tcpSession('127.0.0.6');
  const liveClient = `127.0.0.6:${live.localPort}`;
  await page.fill('#f-client', '127.0.0.6/32');
  await page.click('#f-apply');
  const liveRow = page.locator('#sessions tr[data-session]', { hasText: liveClient });
  await liveRow.waitFor();
  assert.match(await liveRow.innerText(), /established/);
  assert.equal(await page.locator('#sessions tr[data-session]').count(), 1, 'the filter shows only that client');

  // 4. The rate shown is the rate sent: 20 requests/s, each on a new connection, so that adding
  //    new sessions to requests (the old page) would show twice as much.
  const sent = { ok: 0, failed: 0 };
  const t0 = performance.now();
  const seconds = 6;
  const load = (async () => {
    const pending: Promise<void>[] = [];
    for (let i = 0; i < RATE * seconds; i++) {
      const due = t0 + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(get(p.addr('web').port).then((r) => void (r.status === 200 ? sent.ok++ : sent.failed++), () => void sent.failed++));
    }
    await Promise.all(pending);
  })();
  const shown: number[] = [];
  const rateCell = page.locator('tr[data-listener="web"] [data-rate]');
  // Read the page once the rate window (3 s) holds only traffic, a few times.
  await new Promise((r) => setTimeout(r, 4_000));
  for (let i = 0; i < 4; i++) {
    shown.push(Number(await rateCell.getAttribute('data-rate')));
    await new Promise((r) => setTimeout(r, 400));
  }
  const actual = (sent.ok * 1000) / (performance.now() - t0);
  await load;
  assert.equal(sent.failed, 0);
  shown.sort((a, b) => a - b);
  const median = (shown[1]! + shown[2]!) / 2;
  t.diagnostic(`rate shown ${shown.map((r) => r.toFixed(1)).join(', ')} req/s; the client sent ${RATE} req/s (${actual.toFixed(1)} completed per second)`);
  assert.ok(Math.abs(median - RATE) <= RATE * 0.2, `shown ${median.toFixed(1)} req/s, sent ${RATE} req/s (±20 %)`);
  assert.match(await page.locator('tr[data-listener="web"]').innerText(), /req\/s/);

  // 5. Drain e1 with its button: new sessions go to e2 only.
  await serverRow('echo', e1.address).locator('button[data-act="drain"]').click();
  await serverRow('echo', e1.address).locator('.drain').waitFor();
  assert.equal(p.proxy.findPool('echo')!.find(e1.address)!.admin, 'drain');
  const e1Before = e1.accepted;
  const e2Before = e2.accepted;
  const more: Socket[] = [];
  for (let i = 0; i < 6; i++) more.push(await tcpSession('127.0.0.7'));
  assert.equal(e1.accepted, e1Before, 'no new session to the drained server');
  assert.equal(e2.accepted, e2Before + 6);
  for (const s of more) s.destroy();
  await serverRow('echo', e1.address).locator('button[data-act="enable"]').waitFor();

  // The screenshot: token accepted, rates, the drained server, the filtered live session.
  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);

  // 6. Kill the live session with its button: the client gets ECONNRESET.
  const ended = outcome(live);
  await liveRow.locator('button[data-act="kill"]').click();
  assert.equal((await ended).how, 'reset');
  await page.locator('#note', { hasText: 'killed' }).waitFor();
  await page.locator('#sessions', { hasText: 'no session matches' }).waitFor();

  // Enable again with the button, and the page is still clean.
  await serverRow('echo', e1.address).locator('button[data-act="enable"]').click();
  await waitFor(() => p.proxy.findPool('echo')!.find(e1.address)!.admin === 'enabled', 5_000, 'enable');
  assert.deepEqual(problems, [], 'no console errors, no failed or refused requests');
});

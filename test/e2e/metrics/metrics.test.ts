// /metrics on a live proxy (issue 18 §4): `promtool check metrics` passes on a scrape taken after
// traffic; counters and histograms move with that traffic (status classes, latency, connect
// errors by reason, retries, bytes of sessions still open); docs/metrics.md and the live output
// name the same metrics with the same types.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent } from 'node:http';
import { echoBackend, httpBackend, refusedPort, type Backend } from '../../helpers/backends.ts';
import { ROOT, startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { dial } from '../../helpers/clients.ts';
import { promtool, scrape, type Scrape } from './scrape.ts';

let web: Backend;
let echo: Backend;
let refused: string;
let p: RunningProxy;
let traffic: { before: Scrape; during: Scrape; after: Scrape };

const SLOW_MS = 120;
const TCP_BYTES = 256 * 1024;

before(async () => {
  web = await httpBackend('web', (req, res) => {
    const m = /^\/status\/(\d{3})$/.exec(req.url ?? '');
    if (m !== null) {
      res.statusCode = Number(m[1]);
      return void res.end('status\n');
    }
    if (req.url === '/slow') return void setTimeout(() => res.end('slow\n'), SLOW_MS);
    res.end('ok\n');
  });
  echo = await echoBackend();
  refused = `127.0.0.1:${await refusedPort()}`;
  p = await startProxy({
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0' },
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' },
      { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
    ],
    pools: [
      { name: 'app', scheduler: 'rr', retries: 1, servers: [{ address: web.address }, { address: refused }] },
      { name: 'echo', servers: [{ address: echo.address }] },
    ],
  });
  traffic = await runTraffic();
});

after(async () => {
  await p.stop();
  await web.close();
  await echo.close();
});

/** 10 × 200, 3 × 404, 2 × 503 and one slow 200 over two kept-alive connections; a tcp session
 *  that echoes TCP_BYTES and is scraped while still open. */
async function runTraffic(): Promise<{ before: Scrape; during: Scrape; after: Scrape }> {
  const before = await scrape(p);
  const port = p.addr('web').port;
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const paths = [...Array<string>(10).fill('/'), '/status/404', '/status/404', '/status/404', '/status/503', '/status/503', '/slow'];
  try {
    const statuses = await Promise.all(paths.map((path) => get(port, { path, agent }).then((r) => r.status)));
    assert.deepEqual(statuses, [...Array<number>(10).fill(200), 404, 404, 404, 503, 503, 200]);
  } finally {
    agent.destroy();
  }
  const s = await dial(p.addr('raw').port);
  let echoed = 0;
  s.on('data', (d: Buffer) => (echoed += d.length));
  s.write(Buffer.alloc(TCP_BYTES, 7));
  const deadline = Date.now() + 10_000;
  while (echoed < TCP_BYTES && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(echoed, TCP_BYTES);
  const during = await scrape(p);
  await new Promise<void>((resolve) => {
    s.once('close', () => resolve());
    s.end();
  });
  return { before, during, after: await scrape(p) };
}

function delta(name: string, labels: Record<string, string> = {}): number {
  return traffic.after.sum(name, labels) - traffic.before.sum(name, labels);
}

test('promtool check metrics passes on a live scrape taken after traffic', (t) => {
  const bin = promtool();
  if (bin === null) return t.skip('promtool is not installed (Debian package "prometheus"; .ci/run installs it)');
  for (const [when, s] of [['during', traffic.during], ['after', traffic.after]] as const) {
    const r: SpawnSyncReturns<string> = spawnSync(bin, ['check', 'metrics'], { input: s.text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool on the scrape ${when} traffic:\n${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no lint remarks either');
  }
});

test('names promtool would flag are absent even without promtool: counters and only counters end in _total, no process_process_', () => {
  for (const [name, type] of traffic.after.types) {
    assert.equal(type === 'counter', name.endsWith('_total'), `${name} is a ${type}`);
    assert.doesNotMatch(name, /process_process_/);
    assert.match(name, /^fullproxy_/);
  }
});

test('requests by status class, per listener and per server', () => {
  assert.equal(delta('fullproxy_listener_rq_total', { listener: 'web', code: '2xx' }), 11);
  assert.equal(delta('fullproxy_listener_rq_total', { listener: 'web', code: '4xx' }), 3);
  assert.equal(delta('fullproxy_listener_rq_total', { listener: 'web', code: '5xx' }), 2);
  assert.equal(delta('fullproxy_listener_rq_total', { listener: 'web', code: 'other' }), 0);
  const server = { pool: 'app', server: web.address };
  assert.equal(delta('fullproxy_server_rq_total', { ...server, code: '2xx' }), 11);
  assert.equal(delta('fullproxy_server_rq_total', { ...server, code: '4xx' }), 3);
  assert.equal(delta('fullproxy_server_rq_total', { ...server, code: '5xx' }), 2);
  assert.equal(traffic.after.count('fullproxy_listener_rq_total', { listener: 'raw' }), 0, 'tcp listeners have no request metrics');
});

test('latency histograms: one observation per request, the slow one above 50 ms, TTFB within the total', () => {
  for (const [scope, labels] of [['listener', { listener: 'web' }], ['server', { pool: 'app', server: web.address }]] as const) {
    const total = `fullproxy_${scope}_rq_duration_seconds`;
    const ttfb = `fullproxy_${scope}_rq_ttfb_seconds`;
    assert.equal(delta(`${total}_count`, labels), 16, total);
    assert.equal(delta(`${ttfb}_count`, labels), 16, `${ttfb}: every request got a response head from the server`);
    assert.equal(delta(`${total}_bucket`, { ...labels, le: '+Inf' }), 16);
    assert.ok(delta(`${total}_bucket`, { ...labels, le: '0.05' }) <= 15, `${total}: the ${SLOW_MS} ms request is above 0.05 s`);
    assert.ok(delta(`${ttfb}_bucket`, { ...labels, le: '0.05' }) <= 15, `${ttfb}: the server took ${SLOW_MS} ms to answer`);
    const ttfbSum = delta(`${ttfb}_sum`, labels);
    assert.ok(ttfbSum >= (SLOW_MS - 5) / 1000, `${ttfb}_sum ${ttfbSum}`);
    assert.ok(ttfbSum <= delta(`${total}_sum`, labels), 'time to first byte is part of the total');
  }
  // Buckets are cumulative: never decreasing with le.
  const buckets = traffic.after.samples.filter((s) => s.name === 'fullproxy_listener_rq_duration_seconds_bucket' && s.labels['listener'] === 'web');
  for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value);
});

test('connect errors by reason and retries of the refused server; it went down', () => {
  const server = { pool: 'app', server: refused };
  assert.ok(delta('fullproxy_server_connect_errors_total', { ...server, reason: 'connect-failed' }) >= 1);
  assert.equal(delta('fullproxy_server_connect_errors_total', { ...server, reason: 'connect-timeout' }), 0);
  assert.ok(delta('fullproxy_server_retries_total', server) >= 1, 'the requests it failed were retried on the other server');
  assert.equal(traffic.after.sum('fullproxy_server_up', server), 0, 'passive health took it down');
  assert.equal(traffic.after.sum('fullproxy_server_up', { pool: 'app', server: web.address }), 1);
  assert.equal(delta('fullproxy_server_connect_errors_total', { pool: 'app', server: web.address }), 0);
});

test('bytes move while the session is still open, not only when it ends', () => {
  const during = traffic.during;
  assert.equal(during.sum('fullproxy_listener_cx_active', { listener: 'raw' }), 1);
  const inDuring = during.sum('fullproxy_listener_bytes_in_total', { listener: 'raw' }) - traffic.before.sum('fullproxy_listener_bytes_in_total', { listener: 'raw' });
  const outDuring = during.sum('fullproxy_listener_bytes_out_total', { listener: 'raw' }) - traffic.before.sum('fullproxy_listener_bytes_out_total', { listener: 'raw' });
  assert.equal(inDuring, TCP_BYTES);
  assert.equal(outDuring, TCP_BYTES);
  // Once it ended, the same bytes are counted once (moved from live to ended, not twice).
  assert.equal(delta('fullproxy_listener_bytes_in_total', { listener: 'raw' }), TCP_BYTES);
  assert.equal(delta('fullproxy_listener_bytes_out_total', { listener: 'raw' }), TCP_BYTES);
  assert.ok(delta('fullproxy_listener_bytes_in_total', { listener: 'web' }) > 0);
  assert.ok(delta('fullproxy_listener_bytes_out_total', { listener: 'web' }) > 0);
});

test('build info, process figures, pools and the client:server connection ratio', () => {
  const after = traffic.after;
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(after.sum('fullproxy_build_info', { version: pkg.version, node: process.version }), 1);
  assert.ok(after.sum('fullproxy_process_resident_memory_bytes') > 0);
  assert.ok(after.sum('fullproxy_process_open_fds') > 0);
  assert.ok(after.sum('fullproxy_process_max_fds') >= after.sum('fullproxy_process_open_fds'));
  assert.ok(delta('fullproxy_process_cpu_seconds_total') > 0);
  assert.equal(after.count('fullproxy_pool_client_server_cx_ratio', { pool: 'app' }), 1);
  assert.equal(after.count('fullproxy_pool_client_server_cx_ratio', { pool: 'echo' }), 1);
  // The http pool kept its server connection(s) open after the clients left: ratio 0 clients / n servers.
  assert.ok(after.sum('fullproxy_pool_server_cx_open', { pool: 'app' }) >= 1);
  assert.ok(after.sum('fullproxy_server_pool_cx_opened_total', { pool: 'app', server: web.address }) <= 2, 'two client connections, at most two server connections');
});

test('docs/metrics.md names exactly the metrics a live scrape exports, with their types', () => {
  const docs = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8').split('\n')) {
    const m = /^\| `(fullproxy_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/.exec(line);
    if (m !== null) docs.set(m[1]!, m[2]!);
  }
  const live = traffic.after.types;
  assert.deepEqual([...live.keys()].filter((n) => !docs.has(n)), [], 'exported but not documented');
  assert.deepEqual([...docs.keys()].filter((n) => !live.has(n)), [], 'documented but not exported');
  for (const [name, type] of live) assert.equal(docs.get(name), type, name);
});

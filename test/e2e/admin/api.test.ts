// The admin API (SPEC "Admin API"): bearer token on every endpoint but /healthz, the binding keys
// of /api/v1/stats, the session table, drain/enable of a server, Prometheus text.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';

let a: Backend;
let b: Backend;
let p: RunningProxy;
let base = '';
const auth = { authorization: 'Bearer s3cret' };

before(async () => {
  a = await httpBackend('a');
  b = await httpBackend('b');
  p = await startProxy({
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0', token: 's3cret' },
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' },
      { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' },
    ],
    pools: [{ name: 'app', servers: [{ address: a.address }, { address: b.address }] }],
  });
  const ad = p.proxy.adminAddress!;
  base = `http://${ad.host}:${ad.port}`;
});

after(async () => {
  await p.stop();
  await a.close();
  await b.close();
});

test('/healthz and the dashboard page need no token; everything else answers 401 without the right one', async () => {
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  // The page holds no data (a browser cannot send a bearer header to load it); it asks for the token first.
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<meta name="fullproxy-auth" content="bearer">/);
  for (const path of ['/metrics', '/api/v1/stats', '/api/v1/sessions', '/api/v1/sessions/1', '/api/v1/pools', '/api/v1/acl']) {
    assert.equal((await fetch(`${base}${path}`)).status, 401, path);
    assert.equal((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong!' } })).status, 401, path);
    assert.equal((await fetch(`${base}${path}`, { headers: auth })).status, path === '/api/v1/sessions/1' ? 404 : 200, path);
  }
  assert.equal((await fetch(`${base}/nope`, { headers: auth })).status, 404);
});

test('/api/v1/stats has the SPEC keys and counts what happened', async () => {
  const port = p.addr('web').port;
  for (let i = 0; i < 4; i++) assert.equal((await fetch(`http://127.0.0.1:${port}/x`)).status, 200);
  const stats = (await (await fetch(`${base}/api/v1/stats`, { headers: auth })).json()) as Record<string, any>;
  assert.deepEqual(stats['config'], { generation: 1, lastReload: null, reloadFailures: 0 });
  for (const k of ['uptimeSeconds', 'sessionsActive', 'acceptErrors', 'eventLoopLagMs']) assert.equal(typeof stats['process'][k], 'number', k);
  const web = stats['listeners']['web'];
  for (const k of ['sessionsActive', 'sessionsTotal', 'requestsTotal', 'bytesIn', 'bytesOut', 'idleResets', 'proxyHeaderErrors', 'tlsHandshakeErrors']) assert.equal(typeof web[k], 'number', k);
  assert.deepEqual(web['rejected'], { acl: 0, limits: 0 });
  assert.equal(web['requestsTotal'], 4);
  const servers = stats['pools']['app']['servers'];
  const rows = [servers[a.address], servers[b.address]];
  for (const s of rows) {
    assert.equal(s['health'], 'up');
    assert.equal(s['admin'], 'enabled');
    for (const k of ['weight', 'sessionsActive', 'sessionsTotal', 'connectErrors', 'idleConnections', 'queued']) assert.equal(typeof s[k], 'number', k);
    for (const k of ['inUse', 'free', 'exhausted']) assert.equal(typeof s['sourcePorts'][k], 'number', k);
  }
  assert.equal(rows[0]['requestsTotal'] + rows[1]['requestsTotal'], 4);
});

test('/api/v1/sessions lists a live tcp session with client, server and source', async () => {
  const s = await dial(p.addr('raw').port);
  try {
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => s.once('data', r));
    const body = (await (await fetch(`${base}/api/v1/sessions`, { headers: auth })).json()) as { total: number; sessions: Record<string, unknown>[] };
    const row = body.sessions.find((r) => r['listener'] === 'raw');
    assert.ok(row, 'the tcp session is listed');
    assert.equal(row['client'], `127.0.0.1:${s.localPort}`);
    assert.ok([a.address, b.address].includes(String(row['server'])));
    assert.match(String(row['source']), /^127\.0\.0\.1:[0-9]+$/);
    assert.equal(row['state'], 'established');
  } finally {
    s.destroy();
  }
});

test('drain a server: new sessions avoid it; enable brings it back', async () => {
  const drain = await fetch(`${base}/api/v1/pools/app/servers/${encodeURIComponent(a.address)}/drain`, { method: 'POST', headers: auth });
  assert.equal(drain.status, 200);
  const port = p.addr('web').port;
  for (let i = 0; i < 4; i++) assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), 'b GET /\n');
  const pools = (await (await fetch(`${base}/api/v1/pools`, { headers: auth })).json()) as { pools: { servers: { address: string; admin: string }[] }[] };
  assert.equal(pools.pools[0]!.servers.find((s) => s.address === a.address)!.admin, 'drain');
  assert.equal((await fetch(`${base}/api/v1/pools/app/servers/${encodeURIComponent(a.address)}/enable`, { method: 'POST', headers: auth })).status, 200);
  const seen = new Set<string>();
  for (let i = 0; i < 4; i++) seen.add(await (await fetch(`http://127.0.0.1:${port}/`)).text());
  assert.ok(seen.has('a GET /\n'), 'the enabled server serves again');
  assert.equal((await fetch(`${base}/api/v1/pools/app/servers/10.9.9.9:1/drain`, { method: 'POST', headers: auth })).status, 404);
});

test('/metrics is Prometheus text with the documented names', async () => {
  const res = await fetch(`${base}/metrics`, { headers: auth });
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  const text = await res.text();
  assert.match(text, /^# TYPE fullproxy_listener_rq_total counter$/m);
  assert.match(text, /^fullproxy_server_up\{pool="app",server="127\.0\.0\.1:[0-9]+"\} 1$/m);
});

// GET /api/v1/sessions filters and pages, GET/DELETE /api/v1/sessions/:id (the kill button: RST
// to both ends), and the route table's 405 + Allow for a known path with another method.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { echoBackend, httpBackend, tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

let echo: Backend;
let held: Backend;
let p: RunningProxy;
let base = '';
const clients: Socket[] = [];

interface Row {
  id: number;
  listener: string;
  client: string;
  pool: string | null;
  server: string | null;
  state: string;
  idleMs: number;
}
interface Page {
  total: number;
  sessions: Row[];
  next: string | null;
}

async function get(path: string): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: await res.json(), headers: res.headers };
}

async function page(query: string): Promise<Page> {
  const r = await get(`/api/v1/sessions?${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as Page;
}

/** A tcp session through listener `port` from `localAddress`, established (one byte echoed). */
async function session(port: number, localAddress: string): Promise<Socket> {
  const s = await dial(port, '127.0.0.1', localAddress);
  clients.push(s);
  s.write('x');
  await new Promise((r) => s.once('data', r));
  return s;
}

before(async () => {
  echo = await echoBackend();
  held = await tcpBackend((s) => s.pipe(s));
  p = await startProxy({
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0' },
    listeners: [
      { name: 'one', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
      { name: 'two', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'held' },
    ],
    pools: [
      { name: 'echo', servers: [{ address: echo.address }] },
      { name: 'held', servers: [{ address: held.address }] },
    ],
  });
  const ad = p.proxy.adminAddress!;
  base = `http://${ad.host}:${ad.port}`;
  // 3 sessions on "one" from 127.0.0.2, 2 on "two" from 127.0.0.3.
  for (let i = 0; i < 3; i++) await session(p.addr('one').port, '127.0.0.2');
  for (let i = 0; i < 2; i++) await session(p.addr('two').port, '127.0.0.3');
});

after(async () => {
  for (const c of clients) c.destroy();
  await p.stop();
  await echo.close();
  await held.close();
});

test('filters: listener, pool, server, client CIDR, state, minIdle (and together)', async () => {
  assert.equal((await page('')).sessions.length, 5);
  assert.deepEqual((await page('listener=one')).sessions.map((r) => r.listener), ['one', 'one', 'one']);
  assert.equal((await page('pool=held')).sessions.length, 2);
  assert.equal((await page(`server=${encodeURIComponent(echo.address)}`)).sessions.length, 3);
  assert.equal((await page('server=10.0.0.1:80')).sessions.length, 0);
  const fromThree = await page('client=127.0.0.3');
  assert.equal(fromThree.sessions.length, 2);
  for (const r of fromThree.sessions) assert.match(r.client, /^127\.0\.0\.3:[0-9]+$/);
  assert.equal((await page(`client=${encodeURIComponent('127.0.0.0/30')}`)).sessions.length, 5, '127.0.0.2 and .3 are in 127.0.0.0/30');
  assert.equal((await page(`client=${encodeURIComponent('127.0.0.2/32')}`)).sessions.length, 3);
  assert.equal((await page(`client=${encodeURIComponent('10.0.0.0/8')}`)).sessions.length, 0);
  assert.equal((await page(`client=${encodeURIComponent('::1/128')}`)).sessions.length, 0);
  assert.equal((await page('state=established')).sessions.length, 5);
  assert.equal((await page('state=queued,connecting')).sessions.length, 0);
  assert.equal((await page('listener=two&client=127.0.0.2')).sessions.length, 0);
  assert.equal((await page('listener=two&state=established&client=127.0.0.3')).sessions.length, 2);
  // Idle as the sweep sees it (refreshed on the 250 ms tick): wait until every session has been idle 600 ms.
  await waitFor(() => p.proxy.sessions.count((s) => Date.now() - s.lastActivity >= 600) === 5, 5_000, 'idle sessions');
  assert.equal((await page('minIdle=500')).sessions.length, 5);
  assert.equal((await page('minIdle=1h')).sessions.length, 0);
  clients[0]!.write('y'); // activity: this one drops out of minIdle once the sweep sees it
  await new Promise((r) => clients[0]!.once('data', r));
  await waitFor(() => p.proxy.sessions.count((s) => Date.now() - s.lastActivity < 500) === 1, 5_000, 'the sweep to see the activity');
  assert.equal((await page('minIdle=500')).sessions.length, 4);
});

test('pages: limit and the next cursor walk the table once, in order, without repeats', async () => {
  const seen: number[] = [];
  let cursor: string | null = '';
  let calls = 0;
  while (cursor !== null) {
    const pg = await page(`limit=2${cursor === '' ? '' : `&after=${cursor}`}`);
    assert.ok(pg.sessions.length <= 2);
    seen.push(...pg.sessions.map((r) => r.id));
    cursor = pg.next;
    assert.ok(++calls <= 4, 'ends');
  }
  assert.equal(seen.length, 5);
  assert.deepEqual(seen, [...seen].sort((a, b) => a - b));
  assert.equal(new Set(seen).size, 5);
  const all = await page('');
  assert.equal(all.next, null, 'the last page says so');
  assert.equal(all.total, 5);
});

test('bad parameters get 400 naming the parameter', async () => {
  const cases: Array<[string, RegExp]> = [
    ['limit=0', /^limit: expected an integer from 1 to 1000, got "0"$/],
    ['limit=1001', /^limit: /],
    ['limit=abc', /^limit: /],
    ['client=300.1.1.1', /^client: expected an IP address or CIDR/],
    ['client=10.0.0.0/33', /^client: /],
    ['state=up', /^state: expected accepted, queued, connecting, established, closing/],
    ['minIdle=soon', /^minIdle: expected milliseconds or a duration/],
    ['after=-3', /^after: expected the "next" of a previous page/],
    ['bogus=1', /^bogus: unknown parameter \(expected listener, pool, server, client, state, minIdle, limit, after\)$/],
    ['listener=a&listener=b', /^listener: given more than once$/],
  ];
  for (const [query, want] of cases) {
    const r = await get(`/api/v1/sessions?${query}`);
    assert.equal(r.status, 400, query);
    assert.equal(r.body.errors.length, 1, query);
    assert.match(r.body.errors[0], want, query);
  }
  const two = await get('/api/v1/sessions?limit=0&state=up');
  assert.equal(two.body.errors.length, 2, 'every problem in one answer');
});

test('GET /api/v1/sessions/:id is one row; unknown 404, malformed 400', async () => {
  const first = (await page('limit=1')).sessions[0]!;
  const one = await get(`/api/v1/sessions/${first.id}`);
  assert.equal(one.status, 200);
  assert.equal(one.body.id, first.id);
  assert.equal(one.body.client, first.client);
  assert.equal((await get('/api/v1/sessions/999999')).status, 404);
  assert.equal((await get('/api/v1/sessions/abc')).status, 400);
});

test('DELETE /api/v1/sessions/:id resets both ends now (client and server see ECONNRESET)', async () => {
  const before = held.sockets.size;
  const client = await session(p.addr('two').port, '127.0.0.4');
  await waitFor(() => held.sockets.size === before + 1, 5_000, 'the server side');
  const serverSide = [...held.sockets].at(-1)!;
  const row = (await page('client=127.0.0.4')).sessions[0]!;
  const clientEnd = outcome(client);
  const serverEnd = new Promise<string>((resolve) => {
    serverSide.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    serverSide.on('close', () => resolve('close'));
  });
  const res = await fetch(`${base}/api/v1/sessions/${row.id}`, { method: 'DELETE' });
  assert.equal(res.status, 200);
  const body = (await res.json()) as { killed: Row };
  assert.equal(body.killed.id, row.id);
  assert.equal((await clientEnd).how, 'reset');
  assert.equal(await serverEnd, 'ECONNRESET');
  await waitFor(() => p.proxy.sessions.get(row.id) === undefined, 5_000, 'the session to leave the table');
  assert.equal((await fetch(`${base}/api/v1/sessions/${row.id}`, { method: 'DELETE' })).status, 404, 'gone: 404');
  assert.equal((await page('')).sessions.length, 5, 'the others are untouched');
});

test('a known path with another method gets 405 and Allow; an unknown path 404', async () => {
  const cases: Array<[string, string, string]> = [
    ['POST', '/api/v1/sessions', 'GET, HEAD'],
    ['PUT', '/api/v1/sessions/1', 'GET, HEAD, DELETE'],
    ['DELETE', '/api/v1/stats', 'GET, HEAD'],
    ['POST', '/api/v1/pools', 'GET, HEAD'],
    ['GET', '/api/v1/pools/echo/servers/x/drain', 'POST'],
    ['GET', '/api/v1/reload', 'POST'],
    ['POST', '/metrics', 'GET, HEAD'],
    ['DELETE', '/', 'GET, HEAD'],
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/api/v1/acl', 'GET, HEAD'],
    ['GET', '/api/v1/acl/deny', 'POST'],
    ['GET', '/api/v1/acl/deny/10.0.0.0%2F8', 'DELETE'],
  ];
  for (const [method, path, allow] of cases) {
    const res = await fetch(`${base}${path}`, { method });
    assert.equal(res.status, 405, `${method} ${path}`);
    assert.equal(res.headers.get('allow'), allow, `${method} ${path}`);
    assert.match(((await res.json()) as { error: string }).error, /not allowed/);
  }
  const head = await fetch(`${base}/api/v1/stats`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  for (const [method, path] of [['GET', '/nope'], ['POST', '/api/v1/nope'], ['GET', '/api/v1/sessions/1/x'], ['GET', '/api/v2/stats']] as const) {
    assert.equal((await fetch(`${base}${path}`, { method })).status, 404, `${method} ${path}`);
  }
  // The acl routes still answer their own methods.
  assert.equal((await fetch(`${base}/api/v1/acl`)).status, 200);
  const deny = await fetch(`${base}/api/v1/acl/deny`, { method: 'POST', body: JSON.stringify({ source: '192.0.2.0/24', ttl: '1m' }) });
  assert.equal(deny.status, 200);
  assert.equal((await fetch(`${base}/api/v1/acl/deny/${encodeURIComponent('192.0.2.0/24')}`, { method: 'DELETE' })).status, 200);
  // acl-api.ts takes the CIDR's "/" unencoded too.
  assert.equal((await fetch(`${base}/api/v1/acl/deny`, { method: 'POST', body: JSON.stringify({ source: '198.51.100.0/24', ttl: '1m' }) })).status, 200);
  assert.equal((await fetch(`${base}/api/v1/acl/deny/198.51.100.0/24`, { method: 'DELETE' })).status, 200);
  assert.equal((await fetch(`${base}/api/v1/acl/deny/198.51.100.0/24`, { method: 'GET' })).status, 405);
});

test('DELETE on an http session (between requests on a kept-alive connection) resets the client', async () => {
  const web = await httpBackend('web');
  const q = await startProxy({
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'site' }],
    pools: [{ name: 'site', servers: [{ address: web.address }] }],
  });
  try {
    const ad = q.proxy.adminAddress!;
    const c = await dial(q.addr('web').port);
    c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => c.once('data', r));
    const list = (await (await fetch(`http://${ad.host}:${ad.port}/api/v1/sessions?listener=web`)).json()) as Page;
    assert.equal(list.sessions.length, 1);
    const ended = outcome(c);
    const res = await fetch(`http://${ad.host}:${ad.port}/api/v1/sessions/${list.sessions[0]!.id}`, { method: 'DELETE' });
    assert.equal(res.status, 200);
    assert.equal((await ended).how, 'reset');
  } finally {
    await q.stop();
    await web.close();
  }
});

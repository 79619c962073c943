// GET /api/v1/sessions over 100,000 sessions (issue 18 §7): one call does bounded work, so the
// event loop is never held for the whole table. The table is filled with 100,000 entries whose
// sockets are stand-ins (no 200,000 file descriptors), plus one real tcp session at its end; the
// calls go through the real admin server. The figures are printed (t.diagnostic); the assertions
// are about behaviour (rows built per call, calls to walk the table) with generous time bounds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { echoBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import type { Session, SessionOwner } from '../../../src/session/session.ts';
import { SCAN_BUDGET } from '../../../src/admin/session-query.ts';
import * as api from '../../../src/admin/api.ts';

const N = 100_000;
let echo: Backend;
let p: RunningProxy;
let base = '';
let real: Socket;
const fakes: Session[] = [];

// Stand-ins: what the session table and a row read of a socket. `destroyed` keeps the sweep from
// setting keepalive on them; idle limits 0 keep it from ending them.
const owner: SessionOwner = { terminate: () => {} };
const timeouts = { clientIdle: 0, serverIdle: 0, idleReset: false, clientKeepAlive: false as const, serverKeepAlive: false as const };

interface Page {
  total: number;
  sessions: { id: number; client: string }[];
  next: string | null;
}

async function timed(query: string): Promise<{ ms: number; page: Page }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/api/v1/sessions?${query}`);
  const page = (await res.json()) as Page;
  assert.equal(res.status, 200, JSON.stringify(page));
  return { ms: performance.now() - t0, page };
}

before(async () => {
  echo = await echoBackend();
  p = await startProxy({
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0' },
    limits: { maxSessions: 200_000 },
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: echo.address }] }],
  });
  const ad = p.proxy.adminAddress!;
  base = `http://${ad.host}:${ad.port}`;
  for (let i = 0; i < N; i++) {
    const sock = { bytesRead: 0, bytesWritten: 0, destroyed: true } as unknown as Socket;
    const s = p.proxy.sessions.create('raw', 'tcp', sock, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 40_000 + (i % 20_000), owner, timeouts);
    s.state = 'established';
    s.pool = 'app';
    s.serverAddress = echo.address;
    fakes.push(s);
  }
  real = await dial(p.addr('raw').port, '127.0.0.1', '127.0.0.5');
  real.write('x');
  await new Promise((r) => real.once('data', r));
});

after(async () => {
  real.destroy();
  for (const s of fakes) p.proxy.sessions.remove(s);
  await p.stop();
  await echo.close();
});

test('over 100,000 sessions: a page builds at most limit rows, a filter that matches nothing examines a bounded slice per call', async (t) => {
  assert.equal(p.proxy.sessions.size, N + 1);
  for (let i = 0; i < 3; i++) await timed('limit=1000'); // warm up (JIT)

  const first = await timed('limit=1000');
  assert.equal(first.page.sessions.length, 1000);
  assert.equal(first.page.total, N + 1);
  assert.notEqual(first.page.next, null);

  // A filter that matches nothing: each call examines SCAN_BUDGET sessions and says where to go on.
  const calls: number[] = [];
  for (const filter of ['listener=nope', `client=${encodeURIComponent('192.0.2.0/24')}`, 'minIdle=1h']) {
    let cursor: string | null = '';
    let n = 0;
    const t0 = performance.now();
    while (cursor !== null) {
      const r = await timed(`${filter}${cursor === '' ? '' : `&after=${cursor}`}`);
      assert.equal(r.page.sessions.length, 0);
      calls.push(r.ms);
      cursor = r.page.next;
      n++;
    }
    assert.equal(n, Math.ceil((N + 1) / SCAN_BUDGET), `${filter}: one call per ${SCAN_BUDGET} sessions`);
    t.diagnostic(`${filter}: the whole table of ${N + 1} in ${n} calls, ${(performance.now() - t0).toFixed(1)} ms in all`);
  }

  // The real session sits at the end of the table: a client filter finds it by following next.
  let cursor: string | null = '';
  let found: Page['sessions'] = [];
  while (cursor !== null && found.length === 0) {
    const r: { ms: number; page: Page } = await timed(`client=127.0.0.5${cursor === '' ? '' : `&after=${cursor}`}`);
    found = r.page.sessions;
    cursor = r.page.next;
  }
  assert.equal(found.length, 1);
  assert.match(found[0]!.client, /^127\.0\.0\.5:/);

  // The deepest cursor: skipping to the end of the table reads only ids.
  const deep = await timed(`limit=1000&after=${fakes.at(-2)!.id}`);
  assert.equal(deep.page.sessions.length, 2);
  assert.equal(deep.page.next, null);

  const sorted = [...calls].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)]!;
  const max = sorted.at(-1)!;
  t.diagnostic(`one call over ${N + 1} sessions, round trip through the admin server: page of 1000 rows ${first.ms.toFixed(1)} ms; no-match filter p50 ${p50.toFixed(2)} ms, max ${max.toFixed(2)} ms (${calls.length} calls); deepest cursor ${deep.ms.toFixed(2)} ms`);
  // The handler alone (no HTTP): the worst call is the last slice of the table behind the longest skip.
  const handler: number[] = [];
  for (const after of ['0', String(fakes.at(-SCAN_BUDGET)!.id)]) {
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const a = api.sessions(p.proxy, new URLSearchParams({ client: '192.0.2.0/24', after }));
      handler.push(performance.now() - t0);
      assert.equal(a.status, 200);
    }
  }
  // For scale: what one call cost when it built a row per session (the whole table as JSON).
  const t0 = performance.now();
  const whole = JSON.stringify(fakes.map((s) => s.toJSON())).length;
  const wholeMs = performance.now() - t0;
  t.diagnostic(`the handler alone, client CIDR matching nothing, ${SCAN_BUDGET} examined: ${Math.min(...handler).toFixed(2)}-${Math.max(...handler).toFixed(2)} ms; every row as JSON (${(whole / 1e6).toFixed(1)} MB) would be ${wholeMs.toFixed(0)} ms`);

  // Behaviour, with room for a loaded machine: a whole-table walk per call would be ~100-1000 ms.
  assert.ok(p50 < 50, `no-match call p50 ${p50.toFixed(1)} ms`);
});

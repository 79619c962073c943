// 100 reloads in a row with 1,000 idle sessions open (issue 14): nothing accumulates across
// reloads — RSS returns to within 10 % of its start, the fd count to its start — and every
// session survives. The proxy runs as a child so its RSS and fds are its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { echoBackend, httpBackend } from '../../helpers/backends.ts';
import { rssOf, spawnProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { get } from '../../helpers/http.ts';
import { postReload, stats } from '../../helpers/reload.ts';
import { waitFor } from '../../helpers/wait.ts';

const SESSIONS = 1_000;
const RELOADS = 100;

const fdsOf = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

test('100 reloads with 1,000 idle sessions: RSS within 10 %, fds back to their start, every session alive', { timeout: 120_000 }, async () => {
  const echoServer = await echoBackend();
  const web = await Promise.all(['w1', 'w2', 'w3'].map((n) => httpBackend(n)));
  const config = (i: number): Record<string, unknown> => ({
    admin: { listen: '127.0.0.1:0' },
    limits: { maxSessions: 10_000 },
    listeners: [
      { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo', timeouts: { clientIdle: '10m' } },
      { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'web' },
    ],
    pools: [
      { name: 'echo', servers: [{ address: echoServer.address, weight: 1 + (i % 3) }], timeouts: { serverIdle: '10m' } },
      // every other generation has a third server and another scheduler: pools and schedulers are rebuilt each time
      { name: 'web', scheduler: i % 2 === 0 ? 'rr' : 'wlc', servers: web.slice(0, 2 + (i % 2)).map((b) => ({ address: b.address })) },
    ],
  });
  const p = await spawnProxy(config(0));
  const pid = p.child.pid!;
  const sockets: Socket[] = [];
  try {
    const tPort = p.listeners.get('t')!.port;
    const hPort = p.listeners.get('h')!.port;
    for (let i = 0; i < SESSIONS; i++) sockets.push(await dial(tPort));
    await waitFor(() => echoServer.sockets.size === SESSIONS, 10_000, `${SESSIONS} sessions established`);
    // Warm-up: one reload and some requests, so lazily built things exist before the baseline.
    for (let i = 0; i < 3; i++) {
      p.rewrite(config(1 + i));
      assert.equal((await postReload(p)).status, 200);
      await get(hPort);
    }
    const rss0 = rssOf(pid);
    const fds0 = fdsOf(pid);
    for (let i = 4; i < RELOADS + 4; i++) {
      p.rewrite(config(i));
      const r = await postReload(p);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      if (i % 10 === 0) assert.equal((await get(hPort)).status, 200);
    }
    assert.equal((await stats(p)).config.generation, RELOADS + 4);
    // Idle http server connections of dropped generations close on the pool's own timers; the
    // fd count must come back to where it was.
    await waitFor(() => fdsOf(pid) <= fds0, 15_000, `fds back to ${fds0} (now ${fdsOf(pid)})`);
    // RSS: let the old generations be collected (the proxy's GC runs on its own schedule; a few
    // requests give it allocation to act on).
    let rss = rssOf(pid);
    const deadline = Date.now() + 15_000;
    while (rss > rss0 * 1.1 && Date.now() < deadline) {
      await get(hPort);
      await new Promise((r) => setTimeout(r, 100));
      rss = rssOf(pid);
    }
    assert.ok(rss <= rss0 * 1.1, `RSS ${(rss / 2 ** 20).toFixed(1)} MiB after ${RELOADS} reloads, ${(rss0 / 2 ** 20).toFixed(1)} MiB before`);
    // Every session survived: each one still echoes.
    const echoes = sockets.map(
      (s, i) =>
        new Promise<string>((resolve) => {
          s.once('data', (d: Buffer) => resolve(d.toString()));
          s.write(`s${i}`);
        }),
    );
    const got = await Promise.all(echoes);
    assert.deepEqual(got, sockets.map((_, i) => `s${i}`));
    assert.equal((await stats(p)).process.sessionsActive, SESSIONS);
  } finally {
    for (const s of sockets) s.destroy();
    p.child.kill('SIGKILL');
    await Promise.all([echoServer.close(), ...web.map((b) => b.close())]);
  }
});

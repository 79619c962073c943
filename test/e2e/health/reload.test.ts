// Health checks across a reload: checkers belong to a generation (started at its swap, the old ones
// stopped then). A kept server keeps its health (no flap to up), a removed pool's checker stops
// (no more check connections to its server), an added pool's checker starts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { ROOT } from '../../helpers/fullproxy.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

const check = { type: 'http', path: '/healthz', interval: 100, timeout: 500, rise: 1, fall: 1 };

test('reload: a kept server keeps its health, a removed pool stops being checked, an added pool starts', async () => {
  const a = await restartable('a');
  const kept = await restartable('kept');
  const old = await restartable('old');
  const fresh = await restartable('fresh');
  const listeners = [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }];
  const p = await startProxy({
    listeners: [...listeners, { name: 'other', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'old' }],
    pools: [
      { name: 'app', servers: [{ address: a.address }, { address: kept.address }], healthCheck: check },
      { name: 'old', servers: [{ address: old.address }], healthCheck: check },
    ],
  });
  const checks = (b: { seen: Map<string, number> }): number => b.seen.get('/healthz') ?? 0;
  try {
    const first = p.proxy.currentGeneration;
    const aServer = p.proxy.pools.get('app')!.find(a.address)!;
    await waitFor(() => checks(old) >= 2 && checks(kept) >= 2, 5_000, 'checks running');
    await a.stop();
    await waitFor(() => aServer.health === 'down', 5_000, 'a down');
    const downSince = aServer.healthSince;
    // The reload: app kept (same servers), old removed, fresh added.
    const next = loadConfigObject(
      {
        listeners: [...listeners, { name: 'other', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'fresh' }],
        pools: [
          { name: 'app', servers: [{ address: a.address }, { address: kept.address }], healthCheck: check },
          { name: 'fresh', servers: [{ address: fresh.address }], healthCheck: check },
        ],
      },
      ROOT,
    );
    assert.ok(next.ok);
    const r = await p.proxy.apply(next.config);
    assert.ok(r.ok);
    const oldChecksAtSwap = old.accepted;
    // The kept server is the same object, still down, since the same moment: no flap to up.
    const after = p.proxy.pools.get('app')!.find(a.address)!;
    assert.equal(after, aServer);
    assert.equal(after.health, 'down');
    assert.equal(after.healthSince, downSince);
    assert.ok(first.checkers.every((c) => !c.running), 'the old generation\'s checkers stopped');
    assert.equal(after.checker, p.proxy.currentGeneration.checkers.find((c) => c.pool.name === 'app'));
    // The added pool is checked; give the removed one's server the same time to see any check.
    await waitFor(() => checks(fresh) >= 3, 5_000, 'fresh checked');
    const keptBefore = checks(kept);
    const t0 = Date.now();
    await waitFor(() => Date.now() - t0 >= 1_000, 2_000, 'one second of checks');
    // One checker for the kept server: about one check per 250 ms tick, never two at once.
    const keptChecks = checks(kept) - keptBefore;
    assert.ok(keptChecks >= 1 && keptChecks <= 6, `kept server checked ${keptChecks} times in 1 s`);
    // At most a connect already under way at the swap reached the removed pool's server.
    assert.ok(old.accepted - oldChecksAtSwap <= 1, `check connections to the removed pool's server after the reload: ${old.accepted - oldChecksAtSwap}`);
    const oldLate = old.accepted;
    await waitFor(() => Date.now() - t0 >= 1_500, 3_000, 'half a second more');
    assert.equal(old.accepted, oldLate, 'no more check connections to the removed pool\'s server');
    // The kept server comes back through the new generation's checks; one up line.
    await a.start();
    await waitFor(() => after.health === 'up', 5_000, 'a up');
    const lines = p.logs.lines.filter((l) => l['server'] === a.address && (l['msg'] === 'server down' || l['msg'] === 'server up'));
    assert.deepEqual(lines.map((l) => l['msg']), ['server down', 'server up']);
  } finally {
    await p.stop();
    for (const b of [a, kept, old, fresh]) await b.stop();
  }
});

test('reload that removes healthCheck from a pool: a server held down by checks is up again, under passive health', async () => {
  const a = await restartable('a');
  const b = await restartable('b');
  const cfg = (hc: boolean) => ({
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: a.address }, { address: b.address }], ...(hc ? { healthCheck: check } : {}) }],
  });
  const p = await startProxy(cfg(true));
  try {
    const s = p.proxy.pools.get('app')!.find(b.address)!;
    await b.stop();
    await waitFor(() => s.health === 'down', 5_000, 'b down');
    const next = loadConfigObject(cfg(false), ROOT);
    assert.ok(next.ok);
    assert.ok((await p.proxy.apply(next.config)).ok);
    assert.equal(s.health, 'up');
    assert.equal(s.healthReason, 'active health check removed');
    assert.equal(s.checker, null);
  } finally {
    await p.stop();
    await a.stop();
    await b.stop();
  }
});

// Regression (issue 16): with healthCheck set, a server taken down by passive connect failures
// used to stay down for good (Pool.activeChecks stopped the revival and no checker existed). Now
// the checks bring it back (rise), long before the 10 s back-off used without checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

test('a server taken down by passive connect failures comes back through the checks, not the 10 s revival', async () => {
  const a = await restartable('a');
  const b = await restartable('b');
  // Checks every second and fall 5: the passive failures of traffic take b down long before the checks could.
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: a.address }, { address: b.address }], healthCheck: { type: 'tcp', interval: 1_000, rise: 1, fall: 5 }, retries: 1 }],
  });
  const s = p.proxy.pools.get('app')!.find(b.address)!;
  const port = p.addr('raw').port;
  try {
    await b.stop();
    const statuses: number[] = [];
    while (s.health === 'up') statuses.push((await get(port, { timeoutMs: 5_000 })).status);
    assert.deepEqual([...new Set(statuses)], [200], 'retried on a: no client error');
    assert.match(s.healthReason, /^passive: 5 failures in a row/);
    assert.equal(s.passiveDownUntil, 0, 'no back-off revival planned: the checks own it');
    const downAt = Date.now();
    await b.start();
    await waitFor(() => s.health === 'up', 5_000, 'b back through the checks');
    assert.ok(Date.now() - downAt < 5_000, 'well before the 10 s revival');
    assert.equal(s.healthReason, '1 check passed: connected');
    assert.equal(s.passiveFailures, 0);
    const lines = p.logs.lines.filter((l) => l['server'] === b.address && (l['msg'] === 'server down' || l['msg'] === 'server up'));
    assert.deepEqual(lines.map((l) => l['msg']), ['server down', 'server up']);
    // And traffic reaches b again.
    for (let i = 0; i < 10 && b.served === 0; i++) assert.equal((await get(port, { timeoutMs: 5_000 })).status, 200);
    assert.ok(b.served > 0, 'a request served by b');
  } finally {
    await p.stop();
    await a.stop();
    await b.stop();
  }
});

test('without healthCheck a passively-downed server still waits for the back-off (unchanged)', async () => {
  const a = await restartable('a');
  const b = await restartable('b');
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: a.address }, { address: b.address }], retries: 1 }],
  });
  const s = p.proxy.pools.get('app')!.find(b.address)!;
  try {
    await b.stop();
    while (s.health === 'up') await get(p.addr('raw').port, { timeoutMs: 5_000 });
    assert.ok(s.passiveDownUntil > Date.now() + 8_000, 'revival planned after the 10 s back-off');
    assert.equal(s.checker, null);
  } finally {
    await p.stop();
    await a.stop();
    await b.stop();
  }
});

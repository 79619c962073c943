// The interval is the configured one on average, whatever it is next to the 250 ms clock tick the
// checks start on: the next due time is counted from the last due time, not from the tick that
// started the check (counted from the tick, a 300 ms interval ran every 500 ms, a 500 ms one
// every 750 ms).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

test('a 300 ms interval checks every 300 ms on average (not every other 250 ms tick)', async (t) => {
  const INTERVAL = 300;
  const CHECKS = 10;
  const b = await restartable('b');
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: b.address }], healthCheck: { type: 'tcp', interval: INTERVAL, rise: 1, fall: 1 } }],
  });
  try {
    const s = p.proxy.pools.get('app')!.find(b.address)!;
    await waitFor(() => s.checksPassed >= 2, 5_000, 'first checks');
    const c0 = s.checksPassed;
    const t0 = s.lastCheck!.at;
    await waitFor(() => s.checksPassed >= c0 + CHECKS, 20 * CHECKS * INTERVAL, `${CHECKS} more checks`);
    const ms = s.lastCheck!.at - t0;
    t.diagnostic(`${CHECKS} intervals of ${INTERVAL} ms took ${ms} ms (mean ${(ms / CHECKS).toFixed(0)} ms)`);
    // +5 % jitter at most, one tick of lateness for the last check, and a busy machine.
    assert.ok(ms <= CHECKS * INTERVAL * 1.05 + 250 + 400, `${CHECKS} intervals took ${ms} ms`);
    assert.ok(ms >= CHECKS * INTERVAL * 0.95 - 250, `${CHECKS} intervals took only ${ms} ms`);
  } finally {
    await p.stop();
    await b.stop();
  }
});

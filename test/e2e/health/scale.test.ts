// Cost of active checks: 1,000 servers in 100 pools checked every second, in one process. The
// servers run in a child process so the figures are the proxy's. Reported (not asserted on time):
// event-loop delay (monitorEventLoopDelay) and CPU per second; asserted: no timer per server.
// The CPU here includes the test process's own sampling; the proxy's alone, against the floor of
// a bare Node connect + close at the same pace, is `npm run bench:health` (bench/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { createHook } from 'node:async_hooks';
import { NODE, startProxy } from '../../helpers/fullproxy.ts';
import { waitFor } from '../../helpers/wait.ts';

const SERVERS = `
const net = require('node:net');
const ports = [];
let n = 0;
for (let i = 0; i < 10; i++) {
  const s = net.createServer({ allowHalfOpen: false }, (c) => { c.on('error', () => {}); c.resume(); });
  s.listen(0, '127.0.0.1', () => { ports.push(s.address().port); if (++n === 10) console.log(JSON.stringify(ports)); });
}
`;

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

test('1,000 servers in 100 pools, tcp checks every 1 s: no timer per server; event-loop delay and CPU reported', async (t) => {
  const child = spawn(NODE, ['-e', SERVERS], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
    const ports = JSON.parse(line) as number[];
    const pools = Array.from({ length: 100 }, (_, i) => ({
      name: `p${i}`,
      servers: ports.map((port) => ({ address: `127.0.0.1:${port}` })),
      healthCheck: { type: 'tcp', interval: '1s', timeout: '1s', rise: 2, fall: 3 },
    }));
    const timersBefore = timeouts();
    const p = await startProxy({ listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p0' }], pools }, 'warn');
    try {
      const servers = [...p.proxy.pools.values()].flatMap((pool) => [...pool.servers]);
      assert.equal(servers.length, 1_000);
      await waitFor(() => servers.every((s) => s.checksPassed >= 1), 10_000, 'every server checked once');
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      const cpu0 = process.cpuUsage();
      const checks0 = servers.reduce((n, s) => n + s.checksPassed + s.checksFailed, 0);
      const t0 = performance.now();
      let maxTimers = 0;
      // Every timer created in the window (a Timeout resource per setTimeout / socket timeout).
      let timersCreated = 0;
      const hook = createHook({ init: (_id, type) => void (type === 'Timeout' && timersCreated++) }).enable();
      let samples = 0;
      while (performance.now() - t0 < 5_000) {
        maxTimers = Math.max(maxTimers, timeouts());
        samples++;
        await new Promise((r) => setTimeout(r, 50));
      }
      hook.disable();
      h.disable();
      const wall = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const checks = servers.reduce((n, s) => n + s.checksPassed + s.checksFailed, 0) - checks0;
      const cpuPercent = ((cpu.user + cpu.system) / 1000 / wall) * 100;
      const figures = `checks/s ${((checks / wall) * 1000).toFixed(0)}; event-loop delay over the 10 ms resolution: mean ${(h.mean / 1e6 - 10).toFixed(2)} ms, p99 ${(h.percentile(99) / 1e6 - 10).toFixed(2)} ms, max ${(h.max / 1e6 - 10).toFixed(2)} ms; CPU ${cpuPercent.toFixed(1)} % of one core (test process, incl. its 50 ms sampling loop); ref'd Timeout handles before ${timersBefore}, max during ${maxTimers}; timers created ${timersCreated} (${samples} by the sampling loop, the rest the connector's connect timeout, one per check connection)`;
      t.diagnostic(figures);
      console.log(`health scale: ${figures}`);
      assert.ok(checks > 3_000, `about 1,000 checks a second (${checks} in ${wall.toFixed(0)} ms)`);
      assert.ok(servers.every((s) => s.health === 'up'));
      // No timer per server: the checks add no Timeout handles beyond a handful (the shared clock, the sampling loop).
      assert.ok(maxTimers - timersBefore < 20, `Timeout handles: ${timersBefore} before, ${maxTimers} during`);
      // Scheduling creates none: the timers made are the sampling loop's and at most one connect timeout per check connection.
      assert.ok(timersCreated <= samples + checks + 50, `timers created ${timersCreated} for ${checks} checks`);
    } finally {
      await p.stop();
    }
  } finally {
    child.kill();
  }
});

// Reuse helps (issue 6 §4): 200 http clients, 20 at a time, 3 requests each on one client
// connection. With reuse "safe" they share a few kept-alive server connections; with "never"
// every client connection costs a server connection, so a source port. Prints the figures
// (docs/source-ports.md quotes them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import type { Socket } from 'node:net';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { portBase } from './setup.ts';

const CLIENTS = 200;
const AT_ONCE = 20;
const REQUESTS = 3;

async function measure(reuse: 'safe' | 'never'): Promise<{ serverConnections: number; sourcePorts: number; peak: number; ok: number }> {
  const b = await httpBackend('r');
  const ports = new Set<number>();
  b.server.on('connection', (s: Socket) => ports.add(s.remotePort!));
  const base = portBase();
  const p = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }], connectionPool: { reuse }, source: { addresses: ['127.0.0.4'], portRange: [base, base + 999] } }],
  });
  let ok = 0;
  try {
    const port = p.addr('h').port;
    let next = 0;
    await Promise.all(
      Array.from({ length: AT_ONCE }, async () => {
        while (next < CLIENTS) {
          next++;
          const agent = new Agent({ keepAlive: true, maxSockets: 1 }); // one client connection
          for (let r = 0; r < REQUESTS; r++) if ((await get(port, { agent })).status === 200) ok++;
          agent.destroy();
        }
      }),
    );
    const pool = p.proxy.pools.get('p')!;
    const peak = p.proxy.sourcePortsOf(pool, pool.servers[0]!).peak ?? -1;
    return { serverConnections: b.accepted, sourcePorts: ports.size, peak, ok };
  } finally {
    await p.stop();
    await b.close();
  }
}

test(`${CLIENTS} http clients: source ports with reuse "safe" vs "never"`, async () => {
  const safe = await measure('safe');
  const never = await measure('never');
  console.log(`# reuse safe:  ${JSON.stringify(safe)}`);
  console.log(`# reuse never: ${JSON.stringify(never)}`);
  assert.equal(safe.ok, CLIENTS * REQUESTS);
  assert.equal(never.ok, CLIENTS * REQUESTS);
  assert.equal(never.serverConnections, CLIENTS, 'never: one server connection per client connection');
  assert.ok(safe.serverConnections <= AT_ONCE * 2, `safe: ${safe.serverConnections} server connections`);
  assert.ok(safe.peak <= AT_ONCE, `safe: at most one port per concurrent client, peak ${safe.peak}`);
});

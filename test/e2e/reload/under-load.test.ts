// Reloads under load (issue 14): 10 reloads, one every 2 s, while 50 keep-alive http connections
// send requests back to back and a tcp session sends a message every 100 ms. The reloads
// alternate weights, add and remove a server, and move one listener to another port. Required:
// zero socket errors, zero non-2xx, the tcp session intact, and not one refused connect on the
// listeners that did not change (HAProxy documents about one failed connection per reload; we
// promise none). Bounded: 10 reloads, ~22 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { echoBackend, httpBackend } from '../../helpers/backends.ts';
import { spawnProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { get } from '../../helpers/http.ts';
import { freePorts } from '../../helpers/judges.ts';
import { keepAliveLoad, postReload, stats } from '../../helpers/reload.ts';
import { waitFor } from '../../helpers/wait.ts';

const RELOADS = 10;
const INTERVAL_MS = 2_000;

test('10 reloads under load: no socket error, no non-2xx, the tcp session intact, no refused connect', { timeout: 90_000 }, async () => {
  const echoServer = await echoBackend();
  const backends = await Promise.all(['s1', 's2', 's3'].map((n) => httpBackend(n)));
  const movingPorts = await freePorts(2);
  const config = (i: number): Record<string, unknown> => {
    // Odd reloads carry the third server, even ones drop it; weights alternate 1/3.
    const servers = [
      { address: backends[0]!.address, weight: i % 2 === 0 ? 1 : 3 },
      { address: backends[1]!.address, weight: i % 2 === 0 ? 3 : 1 },
      ...(i % 2 === 1 ? [{ address: backends[2]!.address }] : []),
    ];
    return {
      admin: { listen: '127.0.0.1:0' },
      listeners: [
        { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'web' },
        { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
        { name: 'moving', listen: `127.0.0.1:${movingPorts[i % 2]}`, protocol: 'http', pool: 'web' },
      ],
      pools: [
        { name: 'web', scheduler: 'wrr', servers },
        { name: 'echo', servers: [{ address: echoServer.address }] },
      ],
    };
  };
  const p = await spawnProxy(config(0));
  const hPort = p.listeners.get('h')!.port;
  const tPort = p.listeners.get('t')!.port;
  const load = keepAliveLoad(hPort, 50);

  // The tcp session: a numbered message every 100 ms, each echoed back in order.
  const session = await dial(tPort);
  let sent = 0;
  let echoed = '';
  let sessionError: string | null = null;
  session.on('data', (d: Buffer) => (echoed += d.toString()));
  session.on('error', (e) => (sessionError = e.message));
  session.on('close', () => (sessionError ??= 'closed'));
  const ticker = setInterval(() => session.write(`m${++sent};`), 100);

  // New connections on the unchanged listeners all along: none may be refused.
  const refused: string[] = [];
  let connects = 0;
  let probing = true;
  const prober = (async () => {
    while (probing) {
      await new Promise<void>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: connects % 2 === 0 ? hPort : tPort });
        s.once('connect', () => {
          connects++;
          s.destroy();
          resolve();
        });
        s.once('error', (e) => {
          refused.push((e as NodeJS.ErrnoException).code ?? e.message);
          resolve();
        });
      });
      await new Promise((r) => setTimeout(r, 5));
    }
  })();

  try {
    for (let i = 1; i <= RELOADS; i++) {
      await new Promise((r) => setTimeout(r, INTERVAL_MS));
      p.rewrite(config(i));
      const r = await postReload(p);
      assert.equal(r.status, 200, `reload ${i}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.generation, i + 1);
      // The moved listener answers at its new port.
      const moved = await get(movingPorts[i % 2]!);
      assert.equal(moved.status, 200, `reload ${i}: the moved listener answers at its new port`);
    }
    const s = await stats(p);
    assert.equal(s.config.generation, RELOADS + 1);
    // Even reload count: the third server is gone from the stats, the other two stay.
    assert.deepEqual(Object.keys(s.pools['web']!.servers).sort(), [backends[0]!.address, backends[1]!.address].sort());
  } finally {
    clearInterval(ticker);
    probing = false;
    await prober;
    await load.stop();
  }
  try {
    assert.deepEqual(load.result.errors, [], 'no socket error on the http client');
    assert.equal(load.result.non2xx, 0, 'no non-2xx answer');
    assert.ok(load.result.ok > 1_000, `the http client kept going (${load.result.ok} answers)`);
    assert.deepEqual(refused, [], `no refused connect on unchanged listeners (${connects} connects)`);
    assert.ok(connects > 100, `connects were tried all along (${connects})`);
    const expected = Array.from({ length: sent }, (_, k) => `m${k + 1};`).join('');
    await waitFor(() => echoed.length >= expected.length, 5_000, 'every tcp message echoed');
    assert.equal(sessionError, null, 'the tcp session is intact');
    assert.equal(echoed, expected, 'every tcp message echoed, in order');
    assert.ok(sent >= RELOADS * 15, `the tcp session sent all along (${sent} messages)`);
    // The third server served while it was in the config (odd generations).
    assert.ok((load.result.bodies.get('s3') ?? 0) > 0, 'the added server got requests');
  } finally {
    session.destroy();
    p.child.kill('SIGKILL');
    await Promise.all([echoServer.close(), ...backends.map((b) => b.close())]);
  }
});

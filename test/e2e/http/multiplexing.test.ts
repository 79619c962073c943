// Connection multiplexing (issue 3 "Proof"): many client connections share a small pool of
// kept-alive server connections; maxConnections bounds them (requests queue); reuse "never"
// gives each client connection its own server connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Agent } from 'node:http';
import { httpBackend } from '../../helpers/backends.ts';
import { spawnProxy, startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

/** One request on a new connection, `Connection: close`; resolves with everything read until the proxy closes. */
function oneShot(port: number, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    // write, not end: the proxy closes after the response (Connection: close), so the TIME_WAIT
    // state stays on the proxy side and the client's ephemeral ports are not used up.
    s.write(`GET ${path} HTTP/1.1\r\nHost: mux.test\r\nConnection: close\r\n\r\n`);
  });
}

/** Tracks how many server sockets a backend holds at once. */
function trackConcurrency(server: import('node:net').Server): { max: () => number } {
  let now = 0;
  let max = 0;
  server.on('connection', (s: Socket) => {
    now++;
    if (now > max) max = now;
    s.on('close', () => now--);
  });
  return { max: () => max };
}

test('200 sequential requests, each on a new client connection, reach the server over 1–2 connections', async () => {
  const b = await httpBackend('a');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const port = p.addr('h').port;
    for (let i = 0; i < 200; i++) {
      const r = await get(port, { path: `/seq/${i}` });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), `a GET /seq/${i}\n`);
    }
    assert.ok(b.accepted >= 1 && b.accepted <= 2, `server accepted ${b.accepted} connections for 200 client connections`);
    const upstream = [...p.proxy.upstreams.values()][0]!;
    assert.ok(upstream.opened <= 2, `proxy opened ${upstream.opened} server connections`);
  } finally {
    await p.stop();
    await b.close();
  }
});

test('50 concurrent clients, a new connection per request, 20,000 requests: at most ~50 server connections', async () => {
  const TOTAL = 20_000;
  const CLIENTS = 50;
  const b = await httpBackend('a');
  // A child process: the proxy gets the second core, the test process runs clients and server.
  const cp = await spawnProxy({
    drainTimeout: '1s',
    logging: { level: 'warn', access: false },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const port = cp.listeners.get('h')!.port;
    const deadline = Date.now() + 60_000; // bound: the load stops here whatever happened
    let issued = 0;
    let ok = 0;
    const failures: string[] = [];
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (issued < TOTAL && Date.now() < deadline) {
          const n = issued++;
          const r = await oneShot(port, `/r/${n}`).catch((e: Error) => `error ${e.message}`);
          if (r.startsWith('HTTP/1.1 200 ') && r.endsWith(`a GET /r/${n}\n`)) ok++;
          else if (failures.length < 5) failures.push(r.slice(0, 200));
        }
      }),
    );
    assert.deepEqual(failures, [], 'every request answered by the server');
    assert.equal(ok, TOTAL, `${ok} of ${TOTAL} requests completed within the time bound`);
    assert.ok(b.accepted <= CLIENTS + 5, `server accepted ${b.accepted} connections for ${TOTAL} client connections`);
  } finally {
    cp.child.kill('SIGTERM');
    await cp.exited;
    await b.close();
  }
});

test('servers[].maxConnections 8: never more than 8 server connections at once, requests queue and all succeed', async () => {
  const b = await httpBackend('slow', (req, res) => {
    setTimeout(() => res.end(`slow ${req.url}\n`), 10);
  });
  const conc = trackConcurrency(b.server);
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address, maxConnections: 8 }], timeouts: { queue: '5s' } }],
  });
  try {
    const port = p.addr('h').port;
    const upstream = [...p.proxy.upstreams.values()][0]!;
    let maxOpen = 0;
    let maxQueued = 0;
    const sampler = setInterval(() => {
      maxOpen = Math.max(maxOpen, upstream.openConnections);
      maxQueued = Math.max(maxQueued, upstream.queued);
    }, 2);
    const TOTAL = 1_000;
    let issued = 0;
    const statuses = new Map<string, number>();
    try {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (issued < TOTAL) {
            const n = issued++;
            const r = await oneShot(port, `/q/${n}`).catch((e: Error) => `error ${e.message}`);
            const key = r.startsWith('HTTP/1.1 200 ') && r.endsWith(`slow /q/${n}\n`) ? '200' : `${r.slice(0, 12)} ${/x-fullproxy-reason: (.*)\r\n/.exec(r)?.[1] ?? r.slice(12, 60)}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
          }
        }),
      );
    } finally {
      clearInterval(sampler);
    }
    assert.deepEqual(Object.fromEntries(statuses), { '200': TOTAL }, 'every request succeeded (they wait in the queue, no 503)');
    assert.ok(conc.max() <= 8, `the server saw ${conc.max()} connections at once`);
    assert.ok(maxOpen <= 8, `the proxy held ${maxOpen} server connections at once`);
    assert.ok(maxQueued > 0 || b.accepted <= 8, 'requests actually waited in the queue');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('reuse "never": one server connection per client connection', async () => {
  const b = await httpBackend('a');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }], connectionPool: { reuse: 'never' } }],
  });
  try {
    const port = p.addr('h').port;
    const CLIENTS = 12;
    const PER_CLIENT = 5;
    // Each client is one keep-alive connection (an agent with one socket) doing 5 requests;
    // 6 at a time, then 6 more after the first ones have closed.
    for (let wave = 0; wave < 2; wave++) {
      await Promise.all(
        Array.from({ length: CLIENTS / 2 }, async (_, c) => {
          const agent = new Agent({ keepAlive: true, maxSockets: 1 });
          let sockets = 0;
          try {
            for (let i = 0; i < PER_CLIENT; i++) {
              const r = await get(port, { path: `/w${wave}/c${c}/${i}`, agent });
              assert.equal(r.status, 200);
            }
            for (const list of Object.values(agent.freeSockets)) sockets += list?.length ?? 0;
            assert.equal(sockets, 1, 'the client used one connection');
          } finally {
            agent.destroy();
          }
        }),
      );
      await waitFor(() => p.proxy.sessions.size === 0, 5_000, 'client sessions closed');
    }
    assert.equal(b.accepted, CLIENTS, `server connections (${b.accepted}) == client connections (${CLIENTS})`);
    // the dedicated connections go away with their client connections
    await waitFor(() => b.sockets.size === 0, 5_000, 'server connections closed with their clients');
  } finally {
    await p.stop();
    await b.close();
  }
});

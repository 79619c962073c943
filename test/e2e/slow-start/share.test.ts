// Slow start (pools[].slowStart, src/pool/slow-start.ts): a server that comes back gets a share of
// new connections that rises over slowStart, then its full share. New tcp connections at a steady
// bounded rate; each backend says its name and closes; the counts per second are printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { spawnProxy, type ChildProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

/** The backend's name, read to the end of the connection ('' when it failed). */
async function whoServes(port: number): Promise<string> {
  let s: Socket;
  try {
    s = await dial(port);
  } catch {
    return '';
  }
  return new Promise((resolve) => {
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    s.on('error', () => resolve(''));
    s.on('close', () => resolve(data));
    s.end();
  });
}

const named = (name: string): Promise<Backend> => tcpBackend((s) => s.end(name));

async function admin(p: ChildProxy, method: string, path: string): Promise<unknown> {
  const a = p.listeners.get('#admin')!;
  const res = await fetch(`http://${a.host}:${a.port}${path}`, { method });
  assert.equal(res.status, 200, `${method} ${path}`);
  return res.json();
}

interface ServerRow {
  address: string;
  weight: number;
  configuredWeight: number;
  slowStart: { fraction: number; since: string; until: string } | null;
}

async function serverRow(p: ChildProxy, address: string): Promise<ServerRow> {
  const { pools } = (await admin(p, 'GET', '/api/v1/pools')) as { pools: Array<{ servers: ServerRow[] }> };
  return pools[0]!.servers.find((s) => s.address === address)!;
}

/**
 * A new connection every `gapMs` for `ms` from now, not waiting for the ones before (sessions
 * overlap when the backend holds them; bounded in count and time); per second since the start:
 * how many went to `name` and how many in all.
 */
async function sharePerSecond(port: number, name: string, ms: number, gapMs: number): Promise<Array<{ to: number; all: number }>> {
  const start = Date.now();
  const seconds = Array.from({ length: Math.ceil(ms / 1000) }, () => ({ to: 0, all: 0 }));
  const max = Math.ceil(ms / gapMs);
  const pending: Promise<void>[] = [];
  for (let i = 0; i < max && Date.now() - start < ms; i++) {
    const sec = seconds[Math.floor((Date.now() - start) / 1000)]!;
    pending.push(
      whoServes(port).then((who) => {
        if (who !== '') sec.all++;
        if (who === name) sec.to++;
      }),
    );
    const wait = start + (i + 1) * gapMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(pending);
  return seconds;
}

function print(title: string, seconds: ReadonlyArray<{ to: number; all: number }>): void {
  console.log(`${title}\n  second   to it / all   share`);
  seconds.forEach((s, i) => console.log(`  ${String(i).padStart(6)}   ${String(s.to).padStart(5)} / ${String(s.all).padEnd(5)}   ${s.all === 0 ? '-' : ((100 * s.to) / s.all).toFixed(1) + ' %'}`));
}

function share(seconds: ReadonlyArray<{ to: number; all: number }>, from: number, to: number): number {
  let n = 0;
  let all = 0;
  for (let i = from; i < to; i++) {
    n += seconds[i]!.to;
    all += seconds[i]!.all;
  }
  return all === 0 ? 0 : n / all;
}

test('drain → enable with slowStart 10s (wrr): the returning server\'s share rises over 10 s to its full third', async () => {
  const [a, b, c] = await Promise.all([named('a'), named('b'), named('c')]);
  const p = await spawnProxy({
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', scheduler: 'wrr', slowStart: '10s', servers: [{ address: a.address }, { address: b.address }, { address: c.address }] }],
  });
  try {
    const port = p.listeners.get('t')!.port;
    assert.equal((await serverRow(p, c.address)).slowStart, null, 'no slow start at start');
    await admin(p, 'POST', `/api/v1/pools/p/servers/${c.address}/drain`);
    for (let i = 0; i < 6; i++) assert.notEqual(await whoServes(port), 'c', 'a drained server gets nothing');
    await admin(p, 'POST', `/api/v1/pools/p/servers/${c.address}/enable`);
    const during = await serverRow(p, c.address);
    assert.ok(during.slowStart !== null && during.weight < 0.2 && during.configuredWeight === 1, `ramping right after enable: ${JSON.stringify(during)}`);
    // 12 s at one new connection per 25 ms (≤ 480 connections): the 10 s ramp and 2 s after it.
    const seconds = await sharePerSecond(port, 'c', 12_000, 25);
    print('new tcp connections to the server returning from drain (slowStart 10s, 3 servers, wrr)', seconds);
    const first = share(seconds, 0, 3);
    const last = share(seconds, 7, 10);
    const after = share(seconds, 10, 12);
    assert.ok(first < 0.5 * last, `seconds 0-2 (${(first * 100).toFixed(1)} %) clearly below seconds 7-9 (${(last * 100).toFixed(1)} %)`);
    assert.ok(first < 0.15, `seconds 0-2: ${(first * 100).toFixed(1)} % (full share 33 %)`);
    assert.ok(after > 0.27 && after < 0.4, `after the ramp: ${(after * 100).toFixed(1)} %, the full third`);
    const done = await serverRow(p, c.address);
    assert.equal(done.weight, 1);
    assert.equal(done.slowStart, null);
  } finally {
    p.child.kill('SIGKILL');
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('health down → up (active tcp checks) with slowStart 4s (wlc): the returning server ramps too', async () => {
  // Sessions last 300 ms, one starts every 25 ms: about 12 at once, so least-connection sees load.
  const held = (name: string): Promise<Backend> => tcpBackend((s) => void setTimeout(() => s.end(name), 300));
  const [a, b] = await Promise.all([held('a'), held('b')]);
  // c on a port of its own that it can give up and take again (stopped, then restarted).
  const listenC = (port: number): Promise<NetServer> =>
    new Promise((resolve, reject) => {
      const srv = createServer({ allowHalfOpen: true }, (s) => {
        s.on('error', () => {});
        setTimeout(() => s.end('c'), 300);
      });
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => resolve(srv));
    });
  let c = await listenC(0);
  const cPort = (c.address() as { port: number }).port;
  const cAddress = `127.0.0.1:${cPort}`;
  const p = await spawnProxy({
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', scheduler: 'wlc', slowStart: '4s', healthCheck: { type: 'tcp', interval: '200ms', timeout: '200ms', rise: 1, fall: 1 }, servers: [{ address: a.address }, { address: b.address }, { address: cAddress }] }],
  });
  try {
    const port = p.listeners.get('t')!.port;
    await new Promise<void>((r) => c.close(() => r()));
    await waitFor(() => p.lines.some((l) => l['msg'] === 'server down' && l['server'] === cAddress), 5_000, 'c marked down');
    c = await listenC(cPort);
    await waitFor(() => p.lines.some((l) => l['msg'] === 'server up' && l['server'] === cAddress), 5_000, 'c marked up');
    const seconds = await sharePerSecond(port, 'c', 6_000, 25);
    print('new tcp connections to the server back up after a health check (slowStart 4s, 3 servers, wlc)', seconds);
    const first = share(seconds, 0, 1);
    const late = share(seconds, 3, 4);
    const after = share(seconds, 4, 6);
    assert.ok(first < 0.1, `first second: ${(first * 100).toFixed(1)} % (full share 33 %)`);
    assert.ok(first < 0.5 * late, `the share rose: ${(first * 100).toFixed(1)} % → ${(late * 100).toFixed(1)} %`);
    assert.ok(after > 0.25 && after < 0.42, `after the ramp: ${(after * 100).toFixed(1)} %, a full third`);
  } finally {
    p.child.kill('SIGKILL');
    await Promise.all([a.close(), b.close(), new Promise<void>((r) => c.close(() => r()))]);
  }
});

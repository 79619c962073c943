// A real WebSocket through the proxy (issue 13 row 1 proof): Node's `ws` package on both ends, a
// WebSocketServer as the server and a WebSocket client to the proxy, so the 101, the
// Sec-WebSocket-Accept check and the framing are a real implementation's, not a script's. Then
// 1,000 open/close cycles leave no fd behind (the proxy runs in-process so /proc/self/fd counts
// its descriptors as well as the test's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { waitFor } from '../../helpers/wait.ts';

const fdCount = (): number => readdirSync('/proc/self/fd').length;

/** An echo WebSocket server on 127.0.0.1:0 that also says which path and X-Forwarded-For it saw. */
async function wsServer(): Promise<{ wss: WebSocketServer; address: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  wss.on('connection', (ws, req) => {
    ws.send(`hello ${req.url} xff=${req.headers['x-forwarded-for']}`);
    ws.on('message', (data, isBinary) => {
      if (!isBinary && data.toString() === 'close-me') return ws.close(4001, 'server closes');
      ws.send(isBinary ? data : `echo:${data.toString()}`, { binary: isBinary });
    });
    ws.on('error', () => {});
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    wss,
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

function proxyFor(address: string): Promise<RunningProxy> {
  return startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address }] }],
  });
}

/** Opens a client to the proxy and collects its messages; resolves once open. */
async function open(port: number, path: string): Promise<{ ws: WebSocket; messages: string[] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
  const messages: string[] = [];
  ws.on('message', (d, isBinary) => messages.push(isBinary ? `bin:${(d as Buffer).length}` : d.toString()));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, messages };
}

test('a WebSocket (ws on both ends) through the proxy: messages both ways, text and binary, then a clean close', async () => {
  const s = await wsServer();
  const p = await proxyFor(s.address);
  try {
    const { ws, messages } = await open(p.addr('h').port, '/chat');
    await waitFor(() => messages.length === 1, 3_000, 'the server hello');
    assert.equal(messages[0], 'hello /chat xff=127.0.0.1');
    ws.send('ping');
    ws.send(Buffer.alloc(200_000, 7), { binary: true });
    ws.send('pong');
    await waitFor(() => messages.length === 4, 5_000, 'three echoes');
    assert.deepEqual(messages.slice(1), ['echo:ping', 'bin:200000', 'echo:pong']);
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    ws.close(1000, 'bye');
    assert.equal(await closed, 1000, 'the close handshake went through the tunnel');
    await waitFor(() => p.proxy.sessions.size === 0, 3_000, 'the session left the table');
  } finally {
    await p.stop();
    await s.close();
  }
});

test('1000 WebSocket open/close cycles through the proxy leave no fd behind', async (t) => {
  const CYCLES = 1000;
  const CONCURRENCY = 20;
  const s = await wsServer();
  const p = await proxyFor(s.address);
  try {
    const port = p.addr('h').port;
    const cycle = async (i: number): Promise<void> => {
      const { ws, messages } = await open(port, `/c/${i}`);
      ws.send(`m${i}`);
      await waitFor(() => messages.length === 2, 5_000, `cycle ${i} round trip`);
      assert.equal(messages[1], `echo:m${i}`);
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      // alternate who closes: the client, or the server (asked through the tunnel)
      if (i % 2 === 0) ws.close(1000);
      else ws.send('close-me');
      assert.equal(await closed, i % 2 === 0 ? 1000 : 4001);
    };
    // warm up (lazy handles, timers) before the baseline
    for (let i = 0; i < 5; i++) await cycle(-1 - i);
    await waitFor(() => p.proxy.sessions.size === 0 && s.wss.clients.size === 0, 5_000, 'warm-up sockets gone');
    const before = fdCount();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < CYCLES) await cycle(next++);
      }),
    );
    let after = fdCount();
    try {
      await waitFor(
        () => {
          after = fdCount();
          return after <= before + 5 && p.proxy.sessions.size === 0 && s.wss.clients.size === 0;
        },
        10_000,
        'fd count back to the baseline',
      );
    } catch {
      assert.fail(`fds before ${before}, after ${after}: ${after - before} left behind (sessions ${p.proxy.sessions.size}, server clients ${s.wss.clients.size})`);
    }
    t.diagnostic(`fds: before ${before}, after ${after}`);
    const server = p.proxy.pools.get('p')!.servers[0]!;
    await waitFor(() => server.active === 0 && server.held === 0, 3_000, 'the server holds nothing');
    assert.equal(server.sessionsTotal, CYCLES + 5, 'each tunnel counted as a session of the server');
  } finally {
    await p.stop();
    await s.close();
  }
});

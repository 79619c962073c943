// Upgrade (WebSocket-style) tunnels (issue 3 §7): 101 and bytes both ways through a fresh server
// connection; 1000 tunnels dropped abruptly from either side leave no fd behind (the classic
// node-http-proxy leak). The proxy runs in-process so /proc/self/fd counts its descriptors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const UPGRADE_REQ = (path: string, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

/**
 * A server that speaks plain HTTP/1.1 keep-alive and, for Upgrade requests, answers 101, says
 * "hello" and then echoes every byte prefixed with "echo:". Tunnel sockets are kept by path.
 */
async function upgradeServer(): Promise<Backend & { tunnels: Map<string, Socket>; heads: string[] }> {
  const tunnels = new Map<string, Socket>();
  const heads: string[] = [];
  const b = await tcpBackend(
    (s) => {
      let buf = Buffer.alloc(0);
      let upgraded = false;
      s.on('data', (d: Buffer) => {
        if (upgraded) {
          s.write(Buffer.concat([Buffer.from('echo:'), d]));
          return;
        }
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString('latin1');
          buf = buf.subarray(end + 4);
          heads.push(head);
          if (/^upgrade:/im.test(head)) {
            upgraded = true;
            const path = head.split(' ')[1]!;
            tunnels.set(path, s);
            s.on('close', () => tunnels.delete(path));
            s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello');
            if (buf.length > 0) s.write(Buffer.concat([Buffer.from('echo:'), buf]));
            return;
          }
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nplain');
        }
      });
    },
    '127.0.0.1',
    false, // not half-open: a FIN from the proxy closes the server socket too
  );
  return Object.assign(b, { tunnels, heads });
}

const fdCount = (): number => readdirSync('/proc/self/fd').length;

test('Upgrade: 101, bytes both ways, on a fresh server connection (not the pooled one)', async () => {
  const b = await upgradeServer();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const port = p.addr('h').port;
    // a plain request first: one pooled, idle server connection exists
    const plain = await RawClient.open(port);
    plain.write('GET /plain HTTP/1.1\r\nHost: ws.test\r\n\r\n');
    assert.equal((await plain.response()).body.toString(), 'plain');
    plain.destroy();
    assert.equal(b.accepted, 1);

    const c = await RawClient.open(port, { localAddress: '127.0.0.2' });
    try {
      // the first tunnel bytes ride in the same write as the request head
      c.write(UPGRADE_REQ('/chat') + 'early');
      const r = await c.response();
      assert.equal(r.status, 101);
      assert.match(r.header('upgrade') ?? '', /websocket/i);
      assert.match(r.header('connection') ?? '', /upgrade/i);
      await waitFor(() => c.pending.toString().includes('helloecho:early'), 3_000, 'server hello and the early bytes echoed');
      c.write('ping');
      await waitFor(() => c.pending.toString().endsWith('echo:ping'), 3_000, 'ping echoed through the tunnel');
      assert.equal(b.accepted, 2, 'the tunnel has its own server connection');
      const head = b.heads.find((h) => h.startsWith('GET /chat '))!;
      assert.match(head, /^upgrade: websocket$/im);
      assert.match(head, /^connection: upgrade$/im);
      assert.match(head, /^x-forwarded-for: 127\.0\.0\.2$/im);
      assert.match(head, /^sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==$/im);
      // the pooled connection is still there and serves plain requests
      const again = await RawClient.open(port);
      again.write('GET /plain2 HTTP/1.1\r\nHost: ws.test\r\n\r\n');
      assert.equal((await again.response()).body.toString(), 'plain');
      again.destroy();
      assert.equal(b.accepted, 2, 'the plain request reused the pooled connection, not the tunnel');
      // the client closes: the server side of the tunnel goes too
      c.socket.end();
      await waitFor(() => b.tunnels.size === 0, 3_000, 'server tunnel socket closed');
      await c.waitClosed();
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

test('1000 upgrade tunnels dropped abruptly from both sides leave no fd behind', async (t) => {
  const TUNNELS = 1000;
  const BATCH = 50;
  let peak = 0;
  const b = await upgradeServer();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    // warm up (lazy handles, timers) before the baseline
    for (let i = 0; i < 5; i++) await tunnel(-1 - i, 'client-destroy');
    await waitFor(() => p.proxy.sessions.size === 0 && b.sockets.size === 0, 5_000, 'warm-up tunnels gone');
    const before = fdCount();
    peak = before;

    const ways = ['client-destroy', 'client-reset', 'server-destroy', 'server-reset'] as const;
    for (let start = 0; start < TUNNELS; start += BATCH) {
      await Promise.all(Array.from({ length: Math.min(BATCH, TUNNELS - start) }, (_, k) => tunnel(start + k, ways[(start + k) % ways.length]!)));
    }

    let after = fdCount();
    try {
      await waitFor(
        () => {
          after = fdCount();
          return after <= before + 10;
        },
        10_000,
        'fd count back to the baseline',
      );
    } catch {
      assert.fail(`fds before ${before}, after ${after}: ${after - before} left behind (sessions ${p.proxy.sessions.size}, server sockets ${b.sockets.size})`);
    }
    t.diagnostic(`fds: before ${before}, peak ${peak}, after ${after}`);
    assert.ok(peak >= before + BATCH * 2, 'the tunnels were open at the same time (the count is meaningful)');
    await waitFor(() => p.proxy.sessions.size === 0, 5_000, 'no session left in the table');
    await waitFor(() => b.sockets.size === 0, 5_000, 'no server socket left open');
  } finally {
    await p.stop();
    await b.close();
  }

  /** Opens one tunnel, exchanges a round trip, then drops it abruptly as `how` says. */
  async function tunnel(i: number, how: 'client-destroy' | 'client-reset' | 'server-destroy' | 'server-reset'): Promise<void> {
    const port = p.addr('h').port;
    const c = await RawClient.open(port);
    try {
      const path = `/t/${i}`;
      c.write(UPGRADE_REQ(path));
      const r = await c.response();
      assert.equal(r.status, 101);
      c.write('x');
      await waitFor(() => c.pending.toString().endsWith('helloecho:x'), 5_000, `tunnel ${i} round trip`);
      peak = Math.max(peak, fdCount());
      const server = b.tunnels.get(path);
      assert.ok(server !== undefined, `server side of tunnel ${i}`);
      switch (how) {
        case 'client-destroy':
          c.socket.destroy();
          break;
        case 'client-reset':
          c.socket.resetAndDestroy();
          break;
        case 'server-destroy':
          server.destroy();
          break;
        case 'server-reset':
          server.resetAndDestroy();
          break;
      }
      // the client learns the tunnel is gone when the server side dropped it
      if (how.startsWith('server')) await c.waitClosed(5_000);
    } finally {
      c.destroy();
    }
  }
});

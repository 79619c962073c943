// Issue 13 row 4: bytes a client sends right after its Upgrade request, before the server's 101
// (a fraction of a millisecond later, in a segment of their own), reach the server: not one byte
// lost. Before the fix the payload vanished in 5–6 of 25 runs, and the fallback read mode lost
// bytes too; CI runs this file again with FULLPROXY_FAST_PATHS=off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { clientReadsMode } from '../../../src/net/client-reads.ts';

const RUNS = 1000;
const CONCURRENCY = 8;

test(`${RUNS} Upgrade requests each followed by an early payload 0–2 ms later: every byte reaches the server`, async (t) => {
  t.diagnostic(`client read mode: ${clientReadsMode()}`);
  /** What each tunnel's server side received after the Upgrade head, by path. */
  const got = new Map<string, string>();
  const b = await tcpBackend((s: Socket) => {
    let buf = '';
    let path: string | null = null;
    s.on('data', (d: Buffer) => {
      if (path !== null) {
        got.set(path, got.get(path)! + d.toString('latin1'));
        return;
      }
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      path = buf.split(' ')[1]!;
      got.set(path, buf.slice(end + 4));
      s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    });
    s.on('end', () => s.end());
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  const port = p.addr('h').port;
  const lost: string[] = [];
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < RUNS) {
        const i = next++;
        const path = `/e/${i}`;
        const payload = `EARLY-${i}`;
        const c = await RawClient.open(port);
        try {
          c.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
          // 0–2 ms later, in a write of its own (noDelay: its own segment), racing the 101
          const delay = Math.random() * 2;
          if (delay >= 0.5) await new Promise((r) => setTimeout(r, delay));
          else if (delay >= 0.25) await new Promise((r) => setImmediate(r));
          c.write(payload);
          assert.equal((await c.response()).status, 101);
          try {
            await waitFor(() => got.get(path) === payload, 3_000, `payload of run ${i}`);
          } catch {
            lost.push(`${i}: got ${JSON.stringify(got.get(path))}`);
          }
        } finally {
          c.destroy();
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    assert.deepEqual(lost, [], `${lost.length} of ${RUNS} runs lost their early payload`);
  } finally {
    await p.stop();
    await b.close();
  }
});

test('a large early burst (beyond a head of bytes, so reading pauses) arrives whole and in order', async () => {
  let received = Buffer.alloc(0);
  const b = await tcpBackend((s: Socket) => {
    let upgraded = false;
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      if (upgraded) {
        received = Buffer.concat([received, d]);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      upgraded = true;
      received = Buffer.from(buf.subarray(end + 4));
      // answer late, once the burst has piled up at the proxy
      setTimeout(() => s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n'), 50);
    });
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const burst = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < burst.length; i++) burst[i] = (i * 31 + (i >> 10)) & 0xff;
    const c = await RawClient.open(p.addr('h').port);
    try {
      c.write('GET /big HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
      c.write(burst);
      assert.equal((await c.response()).status, 101);
      await waitFor(() => received.length >= burst.length, 10_000, 'the whole burst at the server');
      assert.equal(received.length, burst.length);
      assert.ok(received.equals(burst), 'same bytes, same order');
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

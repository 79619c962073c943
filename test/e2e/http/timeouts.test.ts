// Timeouts of the http path that are deadlines on the session sweep (client-connection.ts), not
// timers per request: a server that stalls in the middle of a body (pools[].timeouts.serverIdle)
// and a client that stalls in the middle of a request body (listeners[].timeouts.requestBody).
// Each is bounded to a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const LIMIT_MS = 400;

/** A server that answers every request head with `respond(socket, path)`; not half-open, so the
 *  proxy closing its side closes the connection (what the tests count). */
function server(respond: (s: Socket, path: string) => void) {
  return tcpBackend((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
        const line = buf.slice(0, buf.indexOf('\r\n'));
        buf = buf.slice(i + 4);
        respond(s, line.split(' ')[1] ?? '/');
      }
    });
  }, '127.0.0.1', false);
}

test(`pools[].timeouts.serverIdle: a body stalled for ${LIMIT_MS} ms is cut (client sees the connection end), a slow but moving body is not`, async () => {
  const timers = new Set<NodeJS.Timeout>();
  const b = await server((s, path) => {
    if (path === '/stall') {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'); // then nothing
    } else if (path === '/trickle') {
      // 10 bytes every 100 ms: slower than the limit in total (1 s), never idle for it.
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
      let sent = 0;
      const t = setInterval(() => {
        s.write('abcdefghij');
        if (++sent === 10) {
          clearInterval(t);
          timers.delete(t);
        }
      }, 100);
      timers.add(t);
    } else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }], timeouts: { serverIdle: `${LIMIT_MS}ms`, response: '5s' } }],
  });
  try {
    const port = p.addr('h').port;
    const stalled = await RawClient.open(port);
    try {
      const start = Date.now();
      stalled.write('GET /stall HTTP/1.1\r\nHost: t.test\r\n\r\n');
      await stalled.waitClosed(3_000);
      const took = Date.now() - start;
      assert.ok(took >= LIMIT_MS - 50 && took < LIMIT_MS + 1_500, `cut after ${took} ms`);
      const got = stalled.pending.toString('latin1');
      assert.ok(got.startsWith('HTTP/1.1 200 ') && got.endsWith('0123456789'), `the head and the 10 bytes sent, then the end: ${JSON.stringify(got)}`);
      await waitFor(() => b.sockets.size === 0, 3_000, 'the stalled server connection closed, not pooled');
    } finally {
      stalled.destroy();
    }
    const slow = await RawClient.open(port);
    try {
      slow.write('GET /trickle HTTP/1.1\r\nHost: t.test\r\n\r\n');
      const r = await slow.response({ timeoutMs: 4_000 });
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'abcdefghij'.repeat(10), 'the whole trickled body');
      slow.write('GET /after HTTP/1.1\r\nHost: t.test\r\n\r\n');
      assert.equal((await slow.response()).body.toString(), 'ok', 'the client connection is still fine');
    } finally {
      slow.destroy();
    }
  } finally {
    for (const t of timers) clearInterval(t);
    await p.stop();
    await b.close();
  }
});

test(`listeners[].timeouts.requestBody: a request body stalled for ${LIMIT_MS} ms ends the client connection and its server request`, async () => {
  const b = await server(() => {
    /* reads the head and the body bytes, never answers */
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', timeouts: { requestBody: `${LIMIT_MS}ms` } }],
    pools: [{ name: 'p', servers: [{ address: b.address }], timeouts: { response: '10s' } }],
  });
  try {
    const c = await RawClient.open(p.addr('h').port);
    try {
      const start = Date.now();
      c.write('POST /upload HTTP/1.1\r\nHost: t.test\r\nContent-Length: 100\r\n\r\n0123456789');
      await waitFor(() => b.accepted === 1, 2_000, 'the request reached the server');
      await c.waitClosed(3_000);
      const took = Date.now() - start;
      assert.ok(took >= LIMIT_MS - 50 && took < LIMIT_MS + 1_500, `closed after ${took} ms`);
      await waitFor(() => b.sockets.size === 0, 3_000, 'the half-sent server request was cancelled (connection closed)');
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

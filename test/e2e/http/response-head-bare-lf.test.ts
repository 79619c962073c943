// Issue 13 row 9: a response head with bare-LF line ends can never complete as RFC 9112 reads it,
// so the client gets 502 at once (as a bare-LF request head gets 400 at once), not a 504 after the
// whole response timeout; and that server connection is never used again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A correctness bound, far below the 30 s response timeout: not a performance figure. */
const QUICK_MS = 2_000;

for (const [name, pieces] of [
  ['in one segment', ['HTTP/1.1 200 OK\nContent-Length: 2\n\nok']],
  ['in pieces', ['HTTP/1.1 200 OK\n', 'Content-Length: 2\n', '\nok']],
  ['after a CRLF status line', ['HTTP/1.1 200 OK\r\nContent-Length: 2\n\nok']],
] as const) {
  test(`a bare-LF response head (${name}): 502 at once, and the server connection is not reused`, async () => {
    // the first connection answers with bare LFs and stays open; later ones answer properly
    let conns = 0;
    const b = await tcpBackend((s: Socket) => {
      const first = ++conns === 1;
      s.on('end', () => s.end());
      s.once('data', async () => {
        if (!first) return void s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood');
        for (const piece of pieces) {
          s.write(piece);
          await new Promise((r) => setTimeout(r, 20));
        }
      });
    });
    const p = await startProxy({
      logging: { level: 'silent' },
      listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
      pools: [{ name: 'p', timeouts: { response: '30s' }, servers: [{ address: b.address }] }],
    });
    try {
      const c = await RawClient.open(p.addr('h').port);
      try {
        const t0 = Date.now();
        c.write('GET /lf HTTP/1.1\r\nHost: t\r\n\r\n');
        const r = await c.response({ timeoutMs: QUICK_MS });
        const took = Date.now() - t0;
        assert.equal(r.status, 502);
        assert.equal(r.header('x-fullproxy-reason'), 'bad-response');
        assert.ok(took < QUICK_MS, `502 after ${took} ms`);
        await waitFor(() => b.sockets.size === 0, 3_000, 'the proxy closed that server connection');
        // the client connection is still fine, and the next request gets a new server connection
        c.write('GET /next HTTP/1.1\r\nHost: t\r\n\r\n');
        const r2 = await c.response();
        assert.equal(r2.status, 200);
        assert.equal(r2.body.toString(), 'good');
        assert.equal(b.accepted, 2);
      } finally {
        c.destroy();
      }
    } finally {
      await p.stop();
      await b.close();
    }
  });
}

// Issue 13 row 11 (second half): a request body that stalls past listeners[].timeouts.requestBody
// gets 408 before the close, as a request head that stalls does (HAProxy's "timeout
// http-request" answers 408 in both cases) — unless a response has already started, which then
// ends cut short as before. The server connection that got part of the body is never reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

function proxyFor(address: string) {
  return startProxy({
    logging: { level: 'silent' },
    // idleReset: a stalled body still gets its 408 and a FIN, and is not counted as an idle reset.
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', idleReset: true, timeouts: { requestBody: '300ms' } }],
    pools: [{ name: 'p', servers: [{ address }] }],
  });
}

for (const [name, sent] of [
  ['no body byte yet', ''],
  ['part of a Content-Length body', 'abc'],
] as const) {
  test(`a request body that stalls (${name}): 408, then the connection closes`, async () => {
    let received = '';
    const b = await tcpBackend((s: Socket) => {
      s.on('data', (d: Buffer) => (received += d.toString('latin1'))); // never answers: waits for the body
      s.on('end', () => s.end());
    });
    const p = await proxyFor(b.address);
    try {
      const c = await RawClient.open(p.addr('h').port);
      try {
        c.write(`POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n${sent}`);
        const r = await c.response({ timeoutMs: 5_000 });
        assert.equal(r.status, 408);
        assert.equal(r.header('connection'), 'close');
        assert.equal(r.header('x-fullproxy-reason'), 'request-timeout');
        await c.waitClosed();
        await waitFor(() => b.sockets.size === 0, 3_000, 'the server connection with half a body closed');
        assert.match(received, /^POST \/upload HTTP\/1\.1\r\n/, 'the request had gone to the server');
        assert.equal(p.proxy.sessions.idleResets.get('h') ?? 0, 0, 'answered 408 and closed: no idle reset counted');
      } finally {
        c.destroy();
      }
    } finally {
      await p.stop();
      await b.close();
    }
  });
}

test('a chunked request body that stalls between chunks: 408, then close', async () => {
  const b = await tcpBackend((s: Socket) => {
    s.on('data', () => {});
    s.on('end', () => s.end());
  });
  const p = await proxyFor(b.address);
  try {
    const c = await RawClient.open(p.addr('h').port);
    try {
      c.write('POST /up HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      assert.equal((await c.response({ timeoutMs: 5_000 })).status, 408);
      await c.waitClosed();
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

test('a request body that stalls after the response has started: closed as before, no 408 appended', async () => {
  const b = await tcpBackend((s: Socket) => {
    // answers early (before the body is complete) with part of a 100-byte body, then waits
    s.once('data', () => s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789'));
    s.on('end', () => s.end());
  });
  const p = await proxyFor(b.address);
  try {
    const c = await RawClient.open(p.addr('h').port);
    try {
      c.write('POST /early HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab');
      await waitFor(() => c.pending.toString('latin1').endsWith('0123456789'), 3_000, 'the early response head and body start');
      await c.waitClosed(5_000);
      const got = c.pending.toString('latin1');
      assert.match(got, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(got.endsWith('0123456789'), `nothing after the cut: ${JSON.stringify(got.slice(-60))}`);
      assert.doesNotMatch(got, /408/);
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

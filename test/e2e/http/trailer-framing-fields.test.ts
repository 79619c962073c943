// Framing fields in trailers, through a real proxy, both directions (docs/http.md "Chunked bodies
// and trailers"). A chunked body is framed by its chunks, so a Content-Length or
// Transfer-Encoding trailer can never frame anything (RFC 9110 §6.5.1): it is dropped whatever
// its value — `abc`, `-1`, `1, 2`, 30 digits, `gzip, chunked` — and the next message on the
// connection (the next response on a pooled server connection, the next pipelined request) is
// read where it starts. A trailer line that breaks the field grammar (whitespace before the
// colon, a control character, obs-fold) refuses the body whatever its name: 502 / 400.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const HOSTILE = [
  'Content-Length: abc',
  'Content-Length: -1',
  'Content-Length: 1, 2',
  'Content-Length: 999999999999999999999999999999',
  'Content-Length: 100',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: identity',
  'Transfer-Encoding:',
].join('\r\n');

const BROKEN: Record<string, string> = {
  'whitespace before the colon': 'Content-Length : 5',
  'a control character': 'Transfer-Encoding: chunked\x01',
  'obs-fold': 'Content-Length: 5\r\n 5',
};

/** Requests by the server's count: what it answers to each path (one connection, kept alive). */
const ANSWERS: Record<string, string> = {
  '/hostile': `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${HOSTILE}\r\nX-Ok: 1\r\n\r\n`,
  '/after': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter',
  ...Object.fromEntries(Object.entries(BROKEN).map(([name, field]) => [`/broken/${encodeURIComponent(name)}`, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${field}\r\n\r\n`])),
};

let server: Backend;
/** Every byte the server received, in arrival order (the tests run one at a time). */
let received = '';
let p: RunningProxy;

before(async () => {
  // Answers each request head it finds by its path; a POST's body is read up to its last chunk
  // and trailers (the proxy re-framed it: a canonical chunked body ends with CRLFCRLF).
  server = await tcpBackend((s: Socket) => {
    let pending = '';
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      pending += d.toString('latin1');
      for (;;) {
        const he = pending.indexOf('\r\n\r\n');
        if (he < 0) return;
        const head = pending.slice(0, he);
        let end = he + 4;
        if (/^POST /.test(head)) {
          const last = pending.indexOf('\r\n0\r\n', he + 2);
          const tail = last < 0 ? -1 : pending.indexOf('\r\n\r\n', last + 2);
          if (tail < 0) return;
          end = tail + 4;
        }
        pending = pending.slice(end);
        const path = head.split(' ')[1]!;
        s.write(ANSWERS[path] ?? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 'latin1');
      }
    });
  });
  p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server.address }] }],
  });
});

after(async () => {
  await p.stop();
  await server.close();
});

test('response: framing trailers with hostile values are dropped, the pooled server connection is read right after them', async () => {
  const c = await RawClient.open(p.addr('h').port);
  let raw = '';
  c.socket.on('data', (d: Buffer) => (raw += d.toString('latin1')));
  const accepted = server.accepted;
  try {
    c.write('GET /hostile HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const r = await c.response();
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'hello');
    assert.deepEqual(r.trailers, [['X-Ok', '1']]);
    const bodyAt = raw.indexOf('\r\n\r\n') + 4;
    assert.equal(raw.slice(bodyAt), '5\r\nhello\r\n0\r\nX-Ok: 1\r\n\r\n', 'the body as the client got it: no framing trailer');
    // The same server connection (kept alive, reused) serves the next request: the trailers
    // framed nothing, so its response is read from its first byte.
    c.write('GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n');
    const next = await c.response();
    assert.equal(next.status, 200);
    assert.equal(next.body.toString(), 'after');
    assert.equal(server.accepted - accepted, 1, 'one server connection for both');
  } finally {
    c.destroy();
  }
});

test('request: framing trailers with hostile values are dropped, the next pipelined request is its own', async () => {
  const c = await RawClient.open(p.addr('h').port);
  const before = received.length;
  try {
    c.write(`POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${HOSTILE}\r\nX-Ok: 1\r\n\r\nGET /second HTTP/1.1\r\nHost: a.test\r\n\r\n`);
    assert.equal((await c.response()).status, 200);
    assert.equal((await c.response()).status, 200);
    await waitFor(() => received.slice(before).includes('GET /second'), 3_000, 'the second request at the server');
    const got = received.slice(before);
    const bodyAt = got.indexOf('\r\n\r\n') + 4;
    const body = got.slice(bodyAt, got.indexOf('GET /second'));
    assert.equal(body, '5\r\nhello\r\n0\r\nX-Ok: 1\r\n\r\n', 'the body as the server got it: no framing trailer');
    assert.match(got.slice(got.indexOf('GET /second')), /^GET \/second HTTP\/1\.1\r\n/);
    assert.doesNotMatch(got, /content-length|abc|gzip|999999/i);
  } finally {
    c.destroy();
  }
});

for (const [name, field] of Object.entries(BROKEN)) {
  test(`response: a trailer line with ${name} is a malformed body → 502`, async () => {
    const c = await RawClient.open(p.addr('h').port);
    try {
      c.write(`GET /broken/${encodeURIComponent(name)} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
      const r = await c.response();
      assert.equal(r.status, 502);
      assert.equal(r.header('x-fullproxy-reason'), 'bad-response');
    } finally {
      c.destroy();
    }
  });

  test(`request: a trailer line with ${name} is a malformed body → 400, and the server never gets a last chunk`, async () => {
    const c = await RawClient.open(p.addr('h').port);
    const from = received.length;
    try {
      c.write(`POST /upload HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n${field}\r\n\r\n`);
      const r = await c.response();
      assert.equal(r.status, 400);
      assert.equal(r.header('x-fullproxy-reason'), 'bad-request');
      await c.waitClosed();
      assert.doesNotMatch(received.slice(from), /\r\n0\r\n/, 'no last chunk reached the server');
    } finally {
      c.destroy();
    }
  });
}

// What a Connection header may not remove (issue 13 rows 2 and 3; SPEC "Decisions": HTTP/1.1
// framing). Connection options belong to the hop they arrived on (RFC 9110 §7.6.1), but the
// framing the proxy forwards by, Host, and the fields the proxy adds are never theirs to strip:
// - a server's `Connection: content-length` once made the proxy frame the body by that length
//   and drop the line, so a pipelining client read the next response as body (response splitting);
// - a client's `Connection: host` once forwarded the request without Host, and with an
//   absolute-form target wrote the authority into another field's slot (or `undefined: …`).
// Scripted raw servers answer with exact bytes; raw clients pipeline and read every byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { parseResponse, RawClient, type HttpResponse } from '../../helpers/http.ts';
import { scriptedServer, type SeenRequest } from '../../helpers/scripted-server.ts';
import { waitFor } from '../../helpers/wait.ts';

const OK = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;

/** Every response in `buf`, read as a client would (a close-delimited last body ends at `eof`). */
function responsesIn(buf: Buffer, eof: boolean): HttpResponse[] {
  const out: HttpResponse[] = [];
  let rest = buf;
  for (let i = 0; i < 10 && rest.length > 0; i++) {
    const r = parseResponse(rest, eof);
    if (r === null) break;
    out.push(r.res);
    rest = rest.subarray(r.consumed);
  }
  return out;
}

test('a server response whose Connection names its framing is still framed for the client: no response splitting on a pipelined connection (issue 13 row 2)', async (t) => {
  // First response: the server lists its framing field in Connection. Second: an ordinary one,
  // whose bytes must never show up inside the first response's body.
  const firsts: Array<{ name: string; head: string; body: string }> = [
    { name: 'Connection: content-length', head: 'HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\n', body: 'ok' },
    { name: 'Connection: Keep-Alive, Content-Length, X-Hop', head: 'HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Content-Length, X-Hop\r\nX-Hop: 1\r\nContent-Length: 2\r\n\r\n', body: 'ok' },
    { name: 'Connection: transfer-encoding (chunked)', head: 'HTTP/1.1 200 OK\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n', body: '2\r\nok\r\n0\r\n\r\n' },
  ];
  for (const first of firsts) {
    await t.test(first.name, async (st) => {
      // Cleanups registered as each piece starts, so a failure anywhere leaves nothing running.
      const server = await scriptedServer((req) => (req.line.startsWith('GET /1 ') ? first.head + first.body : OK('second', 'X-Second: yes\r\n')));
      st.after(() => server.close());
      const p = await startProxy({
        logging: { level: 'silent' },
        listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
        pools: [{ name: 'p', servers: [{ address: server.backend.address }] }],
      });
      st.after(() => p.stop());
      const c = await RawClient.open(p.addr('web').port);
      st.after(() => c.destroy());
      c.write('GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n');
      // Both answers are on their way once the server saw both requests; then read what came.
      await waitFor(() => c.pending.includes('second') || c.eof, 5_000, 'the second response (or a close)');
      const got = responsesIn(c.pending, true);
      const r1 = got[0];
      assert.ok(r1 !== undefined, `no first response: ${JSON.stringify(c.pending.toString('latin1'))}`);
      assert.equal(r1.status, 200);
      assert.equal(r1.body.toString('latin1'), 'ok', `first body must be "ok", got ${JSON.stringify(r1.body.toString('latin1'))}`);
      assert.ok(!r1.body.includes('HTTP/1.1'), 'the second response inside the first body: response splitting');
      assert.equal(r1.header('x-hop'), undefined, 'other names in Connection are still dropped');
      if (!first.name.includes('chunked')) assert.equal(r1.header('content-length'), '2', 'the framing the proxy forwarded by is sent');
      // The proxy keeps the field (it frames the client's hop itself), so the connection stays usable.
      const r2 = got[1];
      assert.ok(r2 !== undefined, 'a second response after the first');
      assert.equal(r2.body.toString('latin1'), 'second');
      assert.equal(r2.header('x-second'), 'yes');
      assert.equal(got.length, 2);
      assert.deepEqual(server.seen.map((r) => r.line), ['GET /1 HTTP/1.1', 'GET /2 HTTP/1.1']);
    });
  }
});

test('Connection naming Host: the request keeps its Host, in place; an absolute-form authority replaces only the Host value (issue 13 row 3)', async (t) => {
  const a = await scriptedServer(() => OK('a'));
  t.after(() => a.close());
  const b = await scriptedServer(() => OK('b'));
  t.after(() => b.close());
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'a', routes: [{ host: 'b.test', pool: 'b' }] }],
    pools: [
      { name: 'a', servers: [{ address: a.backend.address }] },
      { name: 'b', servers: [{ address: b.backend.address }] },
    ],
  });
  t.after(() => p.stop());
  /** Sends `head` on a new connection; the server (a or b) that answered, and what it saw. */
  const send = async (head: string, want: 'a' | 'b'): Promise<SeenRequest> => {
    const c = await RawClient.open(p.addr('web').port);
    try {
      const server = want === 'a' ? a : b;
      const before = server.seen.length;
      c.write(head);
      const r = await c.response();
      assert.equal(r.status, 200, `status ${r.status}: ${r.body.toString()}`);
      assert.equal(r.body.toString(), want, 'routed by the Host (or the absolute-form authority)');
      assert.equal(server.seen.length, before + 1);
      return server.seen[before]!;
    } finally {
      c.destroy();
    }
  };
  const noUndefined = (seen: SeenRequest): void => {
    assert.doesNotMatch(seen.head, /undefined/, `"undefined" forwarded: ${JSON.stringify(seen.head)}`);
  };
  await t.test('origin-form, Host then Connection: host', async () => {
    const seen = await send('GET /x HTTP/1.1\r\nHost: b.test\r\nConnection: host\r\nX-A: 1\r\n\r\n', 'b');
    assert.deepEqual(seen.values('host'), ['b.test']);
    assert.deepEqual(seen.values('x-a'), ['1']);
    assert.deepEqual(seen.values('connection'), []);
    noUndefined(seen);
  });
  await t.test('origin-form, Connection: Host before Host, other names too', async () => {
    const seen = await send('GET /x HTTP/1.1\r\nConnection: X-Gone, HOST\r\nX-Gone: 1\r\nHost: a.test\r\n\r\n', 'a');
    assert.deepEqual(seen.values('host'), ['a.test']);
    assert.deepEqual(seen.values('x-gone'), [], 'other names in Connection are dropped');
    noUndefined(seen);
  });
  await t.test('absolute-form, Host last: the authority is the Host, no `undefined:` line', async () => {
    const seen = await send('GET http://b.test/x HTTP/1.1\r\nX-A: 1\r\nConnection: host\r\nHost: a.test\r\n\r\n', 'b');
    assert.equal(seen.line, 'GET /x HTTP/1.1');
    assert.deepEqual(seen.values('host'), ['b.test']);
    assert.deepEqual(seen.values('x-a'), ['1']);
    assert.ok(!seen.fields.some(([n]) => n === 'undefined'), JSON.stringify(seen.fields));
    noUndefined(seen);
  });
  await t.test('absolute-form, a field after Host: that field keeps its own value', async () => {
    const seen = await send('GET http://b.test/y HTTP/1.1\r\nHost: a.test\r\nConnection: host\r\nX-A: 1\r\nX-B: 2\r\n\r\n', 'b');
    assert.deepEqual(seen.values('host'), ['b.test']);
    assert.deepEqual(seen.values('x-a'), ['1'], 'X-A must not carry the authority');
    assert.deepEqual(seen.values('x-b'), ['2']);
    noUndefined(seen);
  });
  await t.test('Connection naming framing and proxy fields removes none of them', async () => {
    const port = p.addr('web').port;
    const seen = await send(
      'POST /z HTTP/1.1\r\nHost: a.test\r\nConnection: content-length, x-forwarded-for, x-forwarded-proto, x-forwarded-port, via, host\r\nVia: 1.0 front\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 5\r\n\r\nhello',
      'a',
    );
    assert.deepEqual(seen.values('content-length'), ['5']);
    assert.equal(seen.body.toString(), 'hello');
    assert.deepEqual(seen.values('x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(seen.values('x-forwarded-proto'), ['http']);
    assert.deepEqual(seen.values('x-forwarded-port'), [String(port)]);
    assert.deepEqual(seen.values('via'), ['1.0 front, 1.1 fullproxy']);
    assert.deepEqual(seen.values('host'), ['a.test']);
    const chunked = await send('POST /c HTTP/1.1\r\nHost: a.test\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 'a');
    assert.deepEqual(chunked.values('transfer-encoding'), ['chunked']);
    assert.equal(chunked.body.toString(), 'hello');
  });
});

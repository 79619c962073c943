// HTTP/1.x protocol details of the raw-socket parser (client-connection.ts, http-proxy.ts,
// message-head.ts, body-reader.ts, upstream-connection.ts) that the other e2e files do not cover:
// HTTP/1.0 clients (close by default, keep-alive on request, chunked responses decoded), close-
// delimited responses, 1xx responses, the keep-alive timeout, maxHeaderBytes and the field count
// limit, leading empty lines, CONNECT, early responses while the request body is still arriving,
// a bare LF in a chunk extension, oversized response heads, and Expect on HTTP/1.0.
// Real sockets on 127.0.0.1 only; every server is scripted byte by byte where it matters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { httpBackend, tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, patternBuffer } from '../../helpers/clients.ts';
import { RawClient, rawRequest, type HttpResponse } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const hex = (n: number): string => n.toString(16);

interface ProxyOptions {
  listener?: Record<string, unknown>;
  pool?: Record<string, unknown>;
}

/** One proxy in front of `backend` for the body of `fn`; both are closed afterwards. */
async function withProxy(backend: Backend, opts: ProxyOptions, fn: (port: number, p: RunningProxy) => Promise<void>): Promise<void> {
  try {
    const p = await startProxy({
      logging: { level: 'silent' },
      listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', ...opts.listener }],
      pools: [{ name: 'p', servers: [{ address: backend.address }], timeouts: { response: '3s' }, ...opts.pool }],
    });
    try {
      await fn(p.addr('h').port, p);
    } finally {
      await p.stop();
    }
  } finally {
    await backend.close();
  }
}

/** Opens a raw client, runs `fn`, always destroys it. */
async function withClient<T>(port: number, fn: (c: RawClient) => Promise<T>): Promise<T> {
  const c = await RawClient.open(port);
  try {
    return await fn(c);
  } finally {
    c.destroy();
  }
}

interface LoggedRequest {
  conn: number;
  line: string;
  head: string;
  body: Buffer;
}

interface ScriptedServer extends Backend {
  /** Complete requests, in arrival order. */
  requests: LoggedRequest[];
  /** Request lines of complete requests. */
  lines(): string[];
  /** Every byte received, per connection id (1-based). */
  received: Map<number, string>;
}

/**
 * A raw HTTP/1.1 server: frames requests by Content-Length or chunked (lenient, like much real
 * code: a chunk-size line ends at LF, a CR before it is dropped) and calls `answer` for each
 * complete request. Leading empty lines are skipped; a head that is not a request line is logged
 * as is. Nothing but `answer` writes.
 */
async function scriptedServer(answer: (req: LoggedRequest, s: Socket) => void): Promise<ScriptedServer> {
  const requests: LoggedRequest[] = [];
  const received = new Map<number, string>();
  let conns = 0;
  const b = await tcpBackend((s) => {
    const id = ++conns;
    received.set(id, '');
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      received.set(id, received.get(id)! + d.toString('latin1'));
      buf = Buffer.concat([buf, d]);
      for (;;) {
        while (buf.length >= 2 && buf[0] === 13 && buf[1] === 10) buf = buf.subarray(2);
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buf.subarray(0, headEnd).toString('latin1');
        const lines = head.split('\r\n');
        const fields = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) fields.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
        }
        let pos = headEnd + 4;
        const body: Buffer[] = [];
        if ((fields.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
          for (;;) {
            const eol = buf.indexOf('\n', pos);
            if (eol < 0) return;
            const sizeLine = buf.subarray(pos, eol).toString('latin1').replace(/\r$/, '');
            const size = parseInt(sizeLine.split(';')[0]!, 16) || 0;
            pos = eol + 1;
            if (size === 0) {
              // trailer lines up to an empty one
              for (;;) {
                const e = buf.indexOf('\n', pos);
                if (e < 0) return;
                const line = buf.subarray(pos, e).toString('latin1').replace(/\r$/, '');
                pos = e + 1;
                if (line === '') break;
              }
              break;
            }
            if (buf.length < pos + size + 2) return;
            body.push(buf.subarray(pos, pos + size));
            pos += size + 2;
          }
        } else {
          const cl = parseInt(fields.get('content-length') ?? '0', 10) || 0;
          if (buf.length < pos + cl) return;
          body.push(buf.subarray(pos, pos + cl));
          pos += cl;
        }
        buf = buf.subarray(pos);
        const req = { conn: id, line: lines[0] ?? '', head, body: Buffer.concat(body) };
        requests.push(req);
        answer(req, s);
      }
    });
  });
  return Object.assign(b, { requests, received, lines: () => requests.map((r) => r.line) });
}

/** Answers "conn-<id> <request line>" with a Content-Length. */
function answerOk(req: LoggedRequest, s: Socket): void {
  const body = `conn-${req.conn} ${req.line}`;
  s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
}

/** Everything the client received, as text (for "no such bytes at all" checks). */
function rawText(c: RawClient): string {
  return c.pending.toString('latin1');
}

// ---- 1. HTTP/1.0 clients and connection persistence ----

test('HTTP/1.0 without Host (SPEC "Decisions"): the server gets exactly one Host, the address the client connected to; HTTP/1.1 without Host is still 400', async () => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, {}, async (port) => {
    await withClient(port, async (c) => {
      c.write('GET /hostless HTTP/1.0\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 200);
    });
    const head = b.requests[0]!.head;
    assert.deepEqual(head.split('\r\n').filter((l) => /^host:/i.test(l)), [`host: 127.0.0.1:${port}`]);
    await withClient(port, async (c) => {
      c.write('GET http://abs.test/x HTTP/1.0\r\n\r\n');
      assert.equal((await c.response()).status, 200);
    });
    assert.deepEqual(b.requests[1]!.head.split('\r\n').filter((l) => /^host:/i.test(l)), ['host: abs.test']);
    await withClient(port, async (c) => {
      c.write('GET /v HTTP/1.1\r\n\r\n');
      assert.equal((await c.response()).status, 400);
    });
    assert.equal(b.requests.length, 2, 'the HTTP/1.1 request without Host reached no server');
  });
});


test('HTTP/1.0 without Connection: the response says connection: close, then the proxy closes (EOF)', async () => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, {}, (port) =>
    withClient(port, async (c) => {
      c.write('GET /ten HTTP/1.0\r\nHost: s.test\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'conn-1 GET /ten HTTP/1.1', 'the server got the request (as HTTP/1.1)');
      assert.equal(r.header('connection')?.toLowerCase(), 'close');
      await c.waitEof(2_000);
      assert.equal(c.pending.length, 0, 'nothing after the response');
    }),
  );
});

test('pipelined requests followed by the client FIN are all answered in order, then the proxy closes (as HAProxy and nginx do)', async (t) => {
  const b = await scriptedServer(answerOk);
  const line = (r: HttpResponse): string => r.body.toString().replace(/^conn-\d+ /, '');
  await withProxy(b, {}, async (port) => {
    await t.test('three requests in one write, then FIN', () =>
      withClient(port, async (c) => {
        c.write('GET /p1 HTTP/1.1\r\nHost: s.test\r\n\r\nGET /p2 HTTP/1.1\r\nHost: s.test\r\n\r\nGET /p3 HTTP/1.1\r\nHost: s.test\r\n\r\n');
        c.socket.end();
        const got: string[] = [];
        for (let i = 0; i < 3; i++) got.push(line(await c.response()));
        assert.deepEqual(got, ['GET /p1 HTTP/1.1', 'GET /p2 HTTP/1.1', 'GET /p3 HTTP/1.1']);
        await c.waitEof(2_000);
        assert.equal(c.pending.length, 0, 'nothing after the third response');
      }),
    );
    await t.test('a request and half of the next, then FIN: one response, then close; the half never reaches the server', () =>
      withClient(port, async (c) => {
        c.write('GET /h1 HTTP/1.1\r\nHost: s.test\r\n\r\nGET /h2 HTTP/1.1\r\nHo');
        c.socket.end();
        assert.equal(line(await c.response()), 'GET /h1 HTTP/1.1');
        await c.waitEof(2_000);
        assert.equal(c.pending.length, 0);
        assert.ok(!b.lines().some((l) => l.includes('/h2')), `server lines: ${b.lines().join(' | ')}`);
      }),
    );
  });
});

test('HTTP/1.0 with Connection: keep-alive: connection: keep-alive and a second request on the same connection', async () => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, {}, (port) =>
    withClient(port, async (c) => {
      for (const path of ['/one', '/two']) {
        c.write(`GET ${path} HTTP/1.0\r\nHost: s.test\r\nConnection: keep-alive\r\n\r\n`);
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `conn-1 GET ${path} HTTP/1.1`);
        assert.equal(r.header('connection')?.toLowerCase(), 'keep-alive', `${path}: an HTTP/1.0 client needs an explicit keep-alive`);
        assert.ok(r.header('content-length') !== undefined, 'a kept-alive HTTP/1.0 response must be length-delimited');
        assert.equal(c.eof, false, `${path}: the connection stays open`);
      }
      // and the proxy really kept listening: a third one in HTTP/1.0 without keep-alive closes it
      c.write('GET /three HTTP/1.0\r\nHost: s.test\r\n\r\n');
      const last = await c.response();
      assert.equal(last.body.toString(), 'conn-1 GET /three HTTP/1.1');
      assert.equal(last.header('connection')?.toLowerCase(), 'close');
      await c.waitEof(2_000);
    }),
  );
});

// ---- 2. HTTP/1.0 client, chunked response ----

test('HTTP/1.0 client, chunked server response: decoded payload, no chunk framing, no Transfer-Encoding, then close', async (t) => {
  // chunk extensions, several chunks in several writes, and a trailer that cannot reach HTTP/1.0
  const b = await scriptedServer((_req, s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n');
    setImmediate(() => {
      s.write('7\r\n, chunk\r\n');
      setImmediate(() => s.write('19\r\ns and more chunks: done.\n\r\n0\r\nX-Sum: 42\r\n\r\n'));
    });
  });
  const payload = 'hello, chunks and more chunks: done.\n';
  await withProxy(b, {}, async (port) => {
    for (const [name, extra] of [
      ['without Connection', ''],
      ['with Connection: keep-alive (a body of unknown length still ends at close)', 'Connection: keep-alive\r\n'],
    ] as const) {
      await t.test(name, () =>
        withClient(port, async (c) => {
          c.write(`GET /chunked HTTP/1.0\r\nHost: s.test\r\n${extra}\r\n`);
          await c.waitEof(3_000);
          const text = rawText(c);
          const r = await c.response();
          assert.equal(r.status, 200);
          assert.equal(r.header('transfer-encoding'), undefined, `no Transfer-Encoding to an HTTP/1.0 client: ${JSON.stringify(text.slice(0, 300))}`);
          assert.equal(r.header('connection')?.toLowerCase(), 'close');
          assert.equal(r.body.toString('latin1'), payload, 'exactly the decoded payload, closed-delimited');
          assert.equal(text.slice(text.indexOf('\r\n\r\n') + 4), payload, 'every byte after the head is payload: no chunk framing, no trailer');
        }),
      );
    }
  });
});

// ---- 3. close-delimited responses ----

test('close-delimited server response: whole body, connection: close, EOF; the next request goes over a new server connection', async () => {
  const big = patternBuffer(200 * 1024, 3).toString('latin1');
  const b = await scriptedServer((req, s) => {
    // HTTP/1.1 with neither Content-Length nor Transfer-Encoding: the body ends when the server closes
    s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
    const body = `conn-${req.conn} ${req.line}|${big}`;
    s.write(Buffer.from(body.slice(0, 1000), 'latin1'));
    setTimeout(() => s.end(Buffer.from(body.slice(1000), 'latin1')), 20);
  });
  await withProxy(b, { pool: { connectionPool: { reuse: 'always' } } }, async (port) => {
    for (const [i, path] of ['/first', '/second'].entries()) {
      await withClient(port, async (c) => {
        c.write(`GET ${path} HTTP/1.1\r\nHost: s.test\r\n\r\n`);
        await c.waitEof(3_000);
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.equal(r.header('connection')?.toLowerCase(), 'close', 'the proxy announces the close');
        const want = `conn-${i + 1} GET ${path} HTTP/1.1|${big}`;
        assert.equal(r.body.length, want.length, 'the whole body');
        assert.ok(r.body.toString('latin1') === want, 'the body byte for byte');
        assert.equal(await c.waitClosed(2_000), 'end', 'a clean close, not a reset');
      });
      assert.equal(b.accepted, i + 1, `request ${i + 1} used server connection ${i + 1}`);
    }
  });
});

// ---- 4. 1xx responses from the server ----

test('1xx from the server: 102/103 forwarded to HTTP/1.1 clients before the final response (RFC 9110 §15.2), 100 never, none to HTTP/1.0', async (t) => {
  let script: (s: Socket) => void = () => {};
  const b = await scriptedServer((_req, s) => script(s));
  const FINAL = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal';
  await withProxy(b, {}, async (port) => {
    const cases: Array<{ name: string; version: string; run: (s: Socket) => void; expect: string[] }> = [
      { name: '103 Early Hints and 200 in one write', version: '1.1', run: (s) => s.write(`HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n${FINAL}`), expect: ['103'] },
      {
        name: '103 and 200 in separate writes',
        version: '1.1',
        run: (s) => {
          s.write('HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\n');
          setTimeout(() => s.write(FINAL), 50);
        },
        expect: ['103'],
      },
      { name: 'unsolicited 100, 102 and 103 before the 200: 102 and 103 pass, 100 does not', version: '1.1', run: (s) => s.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n${FINAL}`), expect: ['102', '103'] },
      { name: '103 to an HTTP/1.0 client (never any 1xx for 1.0)', version: '1.0', run: (s) => s.write(`HTTP/1.1 103 Early Hints\r\nLink: </y>\r\n\r\n${FINAL}`), expect: [] },
    ];
    for (const k of cases) {
      await t.test(k.name, () =>
        withClient(port, async (c) => {
          script = k.run;
          c.write(`GET /hints HTTP/${k.version}\r\nHost: s.test\r\nConnection: keep-alive\r\n\r\n`);
          await waitFor(() => rawText(c).includes('final'), 3_000, 'the final response');
          const text = rawText(c);
          const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
          assert.deepEqual(statuses, [...k.expect, '200'], `status lines in order: ${JSON.stringify(text)}`);
          assert.equal(/Link:/i.test(text), k.expect.includes('103'), 'the Link header rides only on a forwarded 103');
          assert.ok(text.endsWith('final'), 'the final response is complete and nothing follows it');
        }),
      );
    }
  });
});

// ---- 5. listener timeouts.httpKeepAlive ----

test('timeouts.httpKeepAlive 300ms: an idle keep-alive connection is closed; one sending a request every 100 ms is not', async () => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, { listener: { timeouts: { httpKeepAlive: '300ms' } } }, async (port) => {
    const idle = await RawClient.open(port);
    const busy = await RawClient.open(port);
    try {
      const idleRun = (async () => {
        idle.write('GET /idle HTTP/1.1\r\nHost: s.test\r\n\r\n');
        assert.equal((await idle.response()).status, 200);
        const answeredAt = Date.now();
        const how = await idle.waitClosed(3_000);
        const after = Date.now() - answeredAt;
        assert.equal(how, 'end', 'closed with FIN');
        assert.equal(idle.pending.length, 0, 'no bytes (no 408) on an idle keep-alive close');
        assert.ok(after >= 250 && after <= 1_500, `closed ${after} ms after the last response (want 300 ms + one tick)`);
      })();
      const busyRun = (async () => {
        const start = Date.now();
        let n = 0;
        while (Date.now() - start < 1_300) {
          busy.write(`GET /busy-${n} HTTP/1.1\r\nHost: s.test\r\n\r\n`);
          const r = await busy.response();
          assert.equal(r.status, 200, `busy request ${n}`);
          assert.ok(r.body.toString().endsWith(`GET /busy-${n} HTTP/1.1`));
          n++;
          await new Promise((res) => setTimeout(res, 100));
          assert.equal(busy.eof, false, `the busy connection was closed after ${Date.now() - start} ms (${n} requests)`);
        }
        assert.ok(n >= 8, `${n} requests`);
      })();
      await Promise.all([idleRun, busyRun]);
    } finally {
      idle.destroy();
      busy.destroy();
    }
  });
});

// ---- 6. limits.maxHeaderBytes and the field count limit ----

/** A GET head of exactly `size` bytes (CRLFCRLF included). */
function headOfSize(size: number, path = '/sized'): string {
  const base = `GET ${path} HTTP/1.1\r\nHost: s.test\r\nX-Pad: \r\n\r\n`;
  return base.replace('X-Pad: ', `X-Pad: ${'p'.repeat(size - base.length)}`);
}

/** A GET head with Host plus `extra` more fields. */
function headWithFields(extra: number, path = '/fields'): string {
  let h = `GET ${path} HTTP/1.1\r\nHost: s.test\r\n`;
  for (let i = 0; i < extra; i++) h += `X-F${i}: v\r\n`;
  return `${h}\r\n`;
}

async function expect431(port: number, bytes: string): Promise<void> {
  await withClient(port, async (c) => {
    c.write(bytes);
    const r = await c.response({ timeoutMs: 2_000 });
    assert.equal(r.status, 431, `status ${r.status}: ${r.body.toString()}`);
    assert.equal(r.header('connection')?.toLowerCase(), 'close');
    await c.waitEof(2_000);
  });
}

test('limits.maxHeaderBytes 2048 and 128 fields: larger heads get 431 and a close, and nothing reaches the server', async (t) => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, { listener: { limits: { maxHeaderBytes: 2048 } } }, async (port) => {
    assert.equal(headOfSize(2049).length, 2049);
    assert.equal(headWithFields(128).split('\r\n').length - 3, 129, '129 field lines');
    assert.ok(headWithFields(128).length < 2048, 'the 129-field head is within the byte limit');
    await t.test('a complete head of 2049 bytes', () => expect431(port, headOfSize(2049)));
    await t.test('a complete head of 8 KiB', () => expect431(port, headOfSize(8192)));
    await t.test('an unfinished head past the limit (no CRLFCRLF yet): 431 at once, no waiting for the rest', () => expect431(port, headOfSize(3000).slice(0, -4)));
    await t.test('129 header fields (Host + 128)', () => expect431(port, headWithFields(128)));
    await t.test('the server saw no connection and no byte', () => {
      assert.equal(b.accepted, 0);
      assert.equal(b.received.size, 0);
    });
    await t.test('at the limits: a 2048-byte head and 128 fields pass', async () => {
      const r1 = await rawRequest(port, headOfSize(2048, '/at-limit'));
      assert.equal(r1.status, 200, `2048 bytes: ${r1.status} ${r1.body.toString()}`);
      const r2 = await rawRequest(port, headWithFields(127, '/fields-128'));
      assert.equal(r2.status, 200, `128 fields: ${r2.status} ${r2.body.toString()}`);
      assert.deepEqual(b.lines(), ['GET /at-limit HTTP/1.1', 'GET /fields-128 HTTP/1.1']);
    });
  });
});

// ---- 7. leading empty lines ----

test('empty lines (CRLF) before a request line are ignored (RFC 9112 §2.2)', async (t) => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, {}, async (port) => {
    await t.test('two CRLFs and the request in one write', async () => {
      const r = await rawRequest(port, '\r\n\r\nGET /lead HTTP/1.1\r\nHost: s.test\r\n\r\n');
      assert.equal(r.status, 200);
      assert.ok(r.body.toString().endsWith(' GET /lead HTTP/1.1'), r.body.toString());
    });
    await t.test('CR and LF in separate writes before the request', () =>
      withClient(port, async (c) => {
        c.write('\r');
        await new Promise((r) => setTimeout(r, 20));
        c.write('\n\r\n');
        await new Promise((r) => setTimeout(r, 20));
        c.write('GET /split HTTP/1.1\r\nHost: s.test\r\n\r\n');
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.ok(r.body.toString().endsWith(' GET /split HTTP/1.1'), r.body.toString());
      }),
    );
    await t.test('an extra CRLF after a POST body, then the next request on the same connection', () =>
      withClient(port, async (c) => {
        c.write('POST /p HTTP/1.1\r\nHost: s.test\r\nContent-Length: 5\r\n\r\nhello\r\nGET /after HTTP/1.1\r\nHost: s.test\r\n\r\n');
        const r1 = await c.response();
        const r2 = await c.response();
        assert.equal(r1.status, 200);
        assert.ok(r1.body.toString().endsWith(' POST /p HTTP/1.1'));
        assert.equal(r2.status, 200);
        assert.ok(r2.body.toString().endsWith(' GET /after HTTP/1.1'));
      }),
    );
    assert.deepEqual(b.lines(), ['GET /lead HTTP/1.1', 'GET /split HTTP/1.1', 'POST /p HTTP/1.1', 'GET /after HTTP/1.1']);
    assert.equal(b.requests[2]!.body.toString(), 'hello', 'the CRLF is not part of the body');
  });
});

// ---- 8. CONNECT ----

test('CONNECT → 400 and close; nothing reaches the server', async () => {
  const b = await scriptedServer(answerOk);
  await withProxy(b, {}, (port) =>
    withClient(port, async (c) => {
      c.write('CONNECT s.test:443 HTTP/1.1\r\nHost: s.test:443\r\n\r\n\x16\x03\x01\x00\x05hello');
      const r = await c.response({ timeoutMs: 2_000 });
      assert.equal(r.status, 400, `status ${r.status}`);
      assert.equal(r.header('connection')?.toLowerCase(), 'close');
      await c.waitEof(2_000);
      assert.equal(b.accepted, 0, 'no server connection');
      assert.equal(b.received.size, 0);
    }),
  );
});

// ---- 9. early response while the request body is still arriving ----

/**
 * A server that answers a POST with 413 as soon as it has the head (Content-Length, keeps the
 * connection open and ignores everything after: its framing is lost), and GETs with
 * "conn-<id> <line>". With `hold`, the 413 and the answers to GET /hold* wait for the test
 * (`posts`, `held`). Every request line it sees is logged.
 */
async function earlyServer(hold = false): Promise<Backend & { lines: string[]; posts: Socket[]; held: Array<{ s: Socket; body: string }> }> {
  const lines: string[] = [];
  const posts: Socket[] = [];
  const held: Array<{ s: Socket; body: string }> = [];
  let conns = 0;
  const b = await tcpBackend((s) => {
    const id = ++conns;
    let buf = '';
    let lost = false;
    s.on('data', (d: Buffer) => {
      if (lost) return;
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const line = buf.slice(0, buf.indexOf('\r\n'));
        buf = buf.slice(end + 4);
        lines.push(line);
        if (line.startsWith('POST ')) {
          lost = true;
          posts.push(s);
          if (!hold) s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\ntoo large');
          return;
        }
        const body = `conn-${id} ${line}`;
        if (hold && line.startsWith('GET /hold')) held.push({ s, body });
        else s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  return Object.assign(b, { lines, posts, held });
}

test('early 413 while the request body is still being sent: the client gets it, then EOF; that server connection is not reused', async () => {
  const b = await earlyServer();
  await withProxy(b, { pool: { connectionPool: { reuse: 'always' } } }, async (port) => {
    await withClient(port, async (c) => {
      c.write(`POST /upload HTTP/1.1\r\nHost: s.test\r\nContent-Length: 1000000\r\n\r\n${'a'.repeat(4000)}`);
      const r = await c.response({ timeoutMs: 3_000 });
      assert.equal(r.status, 413);
      assert.equal(r.body.toString(), 'too large');
      assert.equal(r.header('connection')?.toLowerCase(), 'close', 'the body cannot be resynchronised: the proxy announces the close');
      await c.waitEof(2_000);
    });
    const r = await rawRequest(port, 'GET /next HTTP/1.1\r\nHost: s.test\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'conn-2 GET /next HTTP/1.1', 'the next request went over a new server connection');
    assert.equal(b.accepted, 2);
    assert.deepEqual(b.lines, ['POST /upload HTTP/1.1', 'GET /next HTTP/1.1']);
  });
});

test(
  'after a response that closes the connection, bytes the client sends next are never parsed as a request (RFC 9112 §9.6)',
  async (t) => {
    // The proxy runs in this process: the server's response and the client's bytes, written in
    // one tick, are both ready at the proxy's next poll, the server side first (epoll reports
    // them in the order they became ready) — the window between "response done, close" and the
    // socket being destroyed, made deterministic.
    const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n';
    for (const kind of ['early 413, the rest of the POST body holds a request', 'Connection: close request, the next request right behind the response'] as const) {
      await t.test(kind, async () => {
        const b = await earlyServer(true);
        await withProxy(b, { pool: { connectionPool: { reuse: 'always' } } }, async (port) => {
          // two proven idle server connections: the one the request takes, and a spare a
          // smuggled request would be written to at once
          const warm = await Promise.all([RawClient.open(port), RawClient.open(port)]);
          try {
            for (const w of warm) w.write('GET /warm HTTP/1.1\r\nHost: s.test\r\n\r\n');
            for (const w of warm) assert.equal((await w.response()).status, 200);
          } finally {
            for (const w of warm) w.destroy();
          }
          assert.equal(b.accepted, 2, 'two server connections');
          await withClient(port, async (c) => {
            let server: Socket;
            let response: string;
            let status: number;
            if (kind.startsWith('early')) {
              c.write('POST /upload HTTP/1.1\r\nHost: s.test\r\nContent-Length: 1000000\r\n\r\naaaa');
              await waitFor(() => b.posts.length === 1, 2_000, 'the POST head at the server');
              server = b.posts[0]!;
              response = 'HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\n\r\ntoo large';
              status = 413;
            } else {
              c.write('GET /hold HTTP/1.1\r\nHost: s.test\r\nConnection: close\r\n\r\n');
              await waitFor(() => b.held.length === 1, 2_000, 'the request at the server');
              server = b.held[0]!.s;
              response = `HTTP/1.1 200 OK\r\nContent-Length: ${b.held[0]!.body.length}\r\n\r\n${b.held[0]!.body}`;
              status = 200;
            }
            server.write(response);
            c.write(SMUGGLED); // body bytes for the POST; for the other, a request after "close"
            const r = await c.response({ timeoutMs: 2_000 });
            assert.equal(r.status, status);
            assert.equal(r.header('connection')?.toLowerCase(), 'close');
            await c.waitEof(2_000);
            await new Promise((res) => setTimeout(res, 100)); // a forwarded request would be at the server by now
            assert.ok(!b.lines.includes('GET /smuggled HTTP/1.1'), `the server got a request the proxy read after deciding to close: ${JSON.stringify(b.lines)}`);
            assert.equal(c.pending.length, 0, 'nothing after the response');
          });
        });
      });
    }
  },
);

// ---- 10. bare LF in a chunk extension on a reused server connection ----

test('chunked POST with a bare LF in a chunk extension → 400 and close; the next client on the same server connection gets its own response', async (t) => {
  const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n';
  // a lenient server ends the size line at the LF, and reads "a…a\r\n" as the chunk, the
  // "0\r\n\r\n" as the end and then the smuggled request; a proxy that took the LF as part of the
  // extension would have sent one request
  const tail = `\r\n0\r\n\r\n${SMUGGLED}`;
  const crafted = `${hex(tail.length)};x\n${'a'.repeat(tail.length - 2)}\r\n${tail}\r\n0\r\n\r\n`;
  const vectors = [
    { name: 'the classic "5;a\\nb"', body: '5;a\nb\r\nhello\r\n0\r\n\r\n' },
    { name: 'a bare LF that hides a request from a lenient server', body: crafted },
  ];

  await t.test('the crafted vector really smuggles against the lenient server reached directly', async () => {
    const direct = await scriptedServer(answerOk);
    try {
      const s = await dial(direct.port);
      s.on('error', () => {});
      s.write(`POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n${crafted}`);
      await waitFor(() => direct.lines().includes('GET /smuggled HTTP/1.1'), 2_000, 'the smuggled request at the server').finally(() => s.destroy());
    } finally {
      await direct.close();
    }
  });

  const b = await scriptedServer(answerOk);
  await withProxy(b, { pool: { servers: [{ address: b.address, maxConnections: 1 }], connectionPool: { reuse: 'always', maxIdlePerServer: 1 } } }, async (port) => {
    const expected: string[] = [];
    const victim = async (path: string): Promise<void> => {
      const r = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: s.test\r\n\r\n`, { timeoutMs: 3_000 });
      expected.push(`GET ${path} HTTP/1.1`);
      assert.equal(r.status, 200);
      assert.ok(r.body.toString().endsWith(` GET ${path} HTTP/1.1`), `the victim's own response: ${r.body.toString()}`);
    };
    await victim('/warmup');
    for (const [i, v] of vectors.entries()) {
      for (const split of [false, true]) {
        await t.test(`${v.name}, ${split ? 'head first (already on the server connection), then the body' : 'head and body in one write'}`, async () => {
          const acceptedBefore = b.accepted;
          await withClient(port, async (c) => {
            const head = `POST /evil-${i} HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n`;
            if (split) {
              c.write(head);
              await waitFor(() => [...b.received.values()].some((r) => r.includes(`POST /evil-${i} `)), 2_000, 'the POST head at the server');
              c.write(v.body);
            } else c.write(head + v.body);
            const r = await c.response({ timeoutMs: 2_000 });
            assert.equal(r.status, 400, `status ${r.status}`);
            await c.waitEof(2_000);
          });
          await victim(`/victim-${i}-${split}`);
          assert.deepEqual(b.lines(), expected, 'the server logged only the legitimate GETs');
          // one write: nothing reached the server, its connection stayed good; split: that connection is dropped
          assert.equal(b.accepted, acceptedBefore + (split ? 1 : 0), 'server connections opened');
        });
      }
    }
  });
});

// ---- 11. oversized response heads ----

/** GET /head/<bytes>: a response head of about <bytes> (one big field), written in one write. */
async function bigHeadServer(): Promise<ScriptedServer> {
  return scriptedServer((req, s) => {
    const size = Number(req.line.split(' ')[1]!.split('/')[2]);
    s.write(`HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(size)}\r\nContent-Length: 2\r\n\r\nok`);
  });
}

test('a response head larger than 64 KiB → 502 (a 60 KiB head passes)', async (t) => {
  const b = await bigHeadServer();
  await withProxy(b, {}, async (port) => {
    await t.test('60 KiB head: forwarded (the harness can pass a large head)', async () => {
      const r = await rawRequest(port, `GET /head/${60 * 1024} HTTP/1.1\r\nHost: s.test\r\n\r\n`);
      assert.equal(r.status, 200);
      assert.equal(r.header('x-big')?.length, 60 * 1024);
    });
    await t.test('1 MiB head → 502', async () => {
      const r = await rawRequest(port, `GET /head/${1024 * 1024} HTTP/1.1\r\nHost: s.test\r\n\r\n`, { timeoutMs: 3_000 });
      assert.equal(r.status, 502, `status ${r.status}`);
      assert.equal(r.header('x-big'), undefined);
    });
  });
});

test(
  'a response head of 66–100 KiB (its end in the read that crosses 64 KiB) → 502',
  async (t) => {
    const b = await bigHeadServer();
    await withProxy(b, {}, async (port) => {
      for (const kib of [66, 70, 100]) {
        await t.test(`${kib} KiB head in one write → 502`, async () => {
          const r = await rawRequest(port, `GET /head/${kib * 1024} HTTP/1.1\r\nHost: s.test\r\n\r\n`, { timeoutMs: 3_000 });
          assert.equal(r.status, 502, `status ${r.status}, X-Big of ${r.header('x-big')?.length ?? 0} bytes forwarded`);
        });
      }
    });
  },
);

// ---- 12. Expect: 100-continue on HTTP/1.0 ----

test('Expect: 100-continue from an HTTP/1.0 client gets no 100 Continue (1xx is for HTTP/1.1 only)', async () => {
  const b = await httpBackend('s', (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`));
  });
  let heads = 0;
  b.server.prependListener('request', () => heads++);
  await withProxy(b, {}, async (port) => {
    // control: HTTP/1.1 gets the 100 (the check below can see one)
    await withClient(port, async (c) => {
      c.write('POST /one-one HTTP/1.1\r\nHost: s.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      const interim = await c.response({ timeoutMs: 2_000 });
      assert.equal(interim.status, 100);
      c.write('hello');
      assert.equal((await c.response()).body.toString(), 'POST /one-one hello');
    });
    await withClient(port, async (c) => {
      c.write('POST /one-zero HTTP/1.0\r\nHost: s.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
      // the request head is at the server: a 100 would have been written before that
      await waitFor(() => heads === 2, 2_000, 'the HTTP/1.0 request at the server');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(rawText(c), '', `nothing sent to the HTTP/1.0 client before its body: ${JSON.stringify(rawText(c))}`);
      c.write('hello');
      const r: HttpResponse = await c.response();
      assert.equal(r.status, 200, 'the first response is the final one');
      assert.equal(r.body.toString(), 'POST /one-zero hello');
      await c.waitEof(2_000);
    });
  });
});

// Server-side failures and what the client gets (issue 3 §6, SPEC "Decisions: Retries"):
// 502 refused / reset / malformed response, 503 no server, 504 connect or response timeout, each
// with a small plain body and a log line; client aborts cancel the server request; retries go
// to another server only when nothing was sent; a POST is never sent twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { httpBackend, refusedPort, tcpBackend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { blackholePort } from '../../helpers/blackhole.ts';
import { RawClient, rawRequest, type HttpResponse } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

function assertFailure(r: HttpResponse, status: number): void {
  assert.equal(r.status, status, `status ${r.status}: ${r.body.toString()}`);
  assert.match(r.header('content-type') ?? '', /^text\/plain/, 'plain text body');
  assert.ok(r.body.length > 0 && r.body.length <= 200, `small body (${r.body.length} bytes)`);
}

function httpListener(extra: Record<string, unknown> = {}) {
  return { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', ...extra };
}

const GET = 'GET /x HTTP/1.1\r\nHost: f.test\r\n\r\n';

/** Log lines of one message, with the field `reason` (or any) as the test needs. */
function logged(p: RunningProxy, msg: string): Record<string, unknown>[] {
  return p.logs.find(msg);
}

test('502 when every server refuses: small plain body and a log line with the reason', async () => {
  const d1 = await refusedPort();
  const d2 = await refusedPort();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', retries: 1, servers: [{ address: `127.0.0.1:${d1}` }, { address: `127.0.0.1:${d2}` }] }],
  });
  try {
    const r = await rawRequest(p.addr('h').port, GET);
    assertFailure(r, 502);
    const line = logged(p, 'request failed').at(-1);
    assert.ok(line !== undefined, `a 'request failed' log line; got ${JSON.stringify(p.logs.lines.map((l) => l['msg']))}`);
    assert.equal(line['reason'], 'connect-failed');
  } finally {
    await p.stop();
  }
});

test('503 when no server is up: all servers down after passive failures', async () => {
  const dead = await refusedPort();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', retries: 0, servers: [{ address: `127.0.0.1:${dead}` }] }],
  });
  try {
    const port = p.addr('h').port;
    // three connect failures in a row take the server down (fall 3 without a health check)
    for (let i = 0; i < 3; i++) assertFailure(await rawRequest(port, GET), 502);
    const server = p.proxy.pools.get('p')!.servers[0]!;
    assert.equal(server.health, 'down', 'the server is down after 3 failures');
    const start = Date.now();
    const r = await rawRequest(port, GET);
    assertFailure(r, 503);
    assert.ok(Date.now() - start < 500, 'answered at once, no connect attempt');
  } finally {
    await p.stop();
  }
});

test('503 after pools[].timeouts.queue when the server is at maxConnections', async () => {
  // The server holds every response until released: the single connection stays busy.
  const held: Array<() => void> = [];
  const b = await httpBackend('slow', (_req, res) => held.push(() => res.end('late\n')));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', servers: [{ address: b.address, maxConnections: 1 }], timeouts: { queue: '300ms', response: '5s' } }],
  });
  try {
    const port = p.addr('h').port;
    const first = rawRequest(port, GET, { timeoutMs: 5_000 }).catch((e: Error) => e);
    await waitFor(() => held.length === 1, 3_000, 'the first request at the server');
    const start = Date.now();
    const r = await rawRequest(port, GET);
    const waited = Date.now() - start;
    assertFailure(r, 503);
    assert.ok(waited >= 250, `the request waited in the queue for timeouts.queue (300 ms) first; answered after ${waited} ms`);
    assert.ok(waited < 1_500, `answered after ${waited} ms`);
    held.shift()!();
    const firstRes = await first;
    assert.ok(!(firstRes instanceof Error), `the first request failed: ${String(firstRes)}`);
    assert.equal(firstRes.status, 200, 'the request holding the connection completes');
  } finally {
    for (const f of held) f();
    await p.stop();
    await b.close();
  }
});

test('504 when the server does not answer within pools[].timeouts.response', async () => {
  const silent = await tcpBackend((s) => s.resume(), '127.0.0.1', false); // reads the request, never answers; a FIN closes it
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', servers: [{ address: silent.address }], timeouts: { response: '300ms' } }],
  });
  try {
    const start = Date.now();
    const r = await rawRequest(p.addr('h').port, GET);
    const took = Date.now() - start;
    assertFailure(r, 504);
    assert.ok(took >= 250 && took < 1_500, `504 after ${took} ms`);
    assert.equal(logged(p, 'request failed').at(-1)?.['reason'], 'response-timeout');
    // the timed-out server connection is not kept
    await waitFor(() => silent.sockets.size === 0, 3_000, 'the timed-out server connection closed');
  } finally {
    await p.stop();
    await silent.close();
  }
});

for (const retries of [0, 1]) {
  test(`504 on connect timeout (one server, retries ${retries})`, async () => {
    const hole = await blackholePort();
    const p = await startProxy({
      logging: { level: 'silent' },
      listeners: [httpListener()],
      pools: [{ name: 'p', retries, servers: [{ address: `127.0.0.1:${hole.port}` }], timeouts: { connect: '300ms' } }],
    });
    try {
      const start = Date.now();
      const r = await rawRequest(p.addr('h').port, GET);
      const took = Date.now() - start;
      assertFailure(r, 504);
      assert.ok(took >= 250 && took < 2_000, `504 after ${took} ms`);
    } finally {
      await p.stop();
      await hole.close();
    }
  });
}

/** Raw malformed responses; each must give 502 and the server connection must not be reused. */
const MALFORMED: Array<{ name: string; bytes: string }> = [
  { name: 'garbage status line', bytes: 'HTTP/1.1 abc OK\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'not HTTP at all', bytes: 'SSH-2.0-OpenSSH_9.2\r\n\r\n' },
  { name: 'Content-Length with non-digits', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nok' },
  { name: 'two different Content-Length', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nokk' },
  { name: 'Content-Length and Transfer-Encoding', bytes: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  { name: 'space in a header name', bytes: 'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok' },
  { name: 'obs-fold', bytes: 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok' },
];

test('a malformed server response gives 502 and that server connection is never reused', async (t) => {
  let bad = MALFORMED[0]!.bytes;
  let connId = 0;
  const closedConns = new Set<number>();
  const b = await tcpBackend((s: Socket) => {
    const id = ++connId;
    s.on('close', () => closedConns.add(id));
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        const head = buf.slice(0, buf.indexOf('\r\n\r\n'));
        buf = buf.slice(head.length + 4);
        if (head.startsWith('GET /bad ')) s.write(bad); // and keep the connection open
        else s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${`conn-${id}`.length}\r\n\r\nconn-${id}`);
      }
    });
  }, '127.0.0.1', false); // not half-open: when the proxy closes its side, the connection is gone
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', retries: 1, servers: [{ address: b.address }], timeouts: { response: '2s' } }],
  });
  try {
    const port = p.addr('h').port;
    for (const m of MALFORMED) {
      await t.test(m.name, async () => {
        bad = m.bytes;
        // a proven connection first, so that reuse would be allowed
        const c = await RawClient.open(port);
        try {
          c.write('GET /good HTTP/1.1\r\nHost: f.test\r\n\r\n');
          const first = await c.response();
          assert.equal(first.status, 200);
          const used = Number(first.body.toString().slice(5));
          c.write('GET /bad HTTP/1.1\r\nHost: f.test\r\n\r\n');
          assertFailure(await c.response(), 502);
          const accepted = b.accepted;
          await waitFor(() => closedConns.has(used), 3_000, `server connection ${used} closed by the proxy`);
          const next = await rawRequest(port, 'GET /good HTTP/1.1\r\nHost: f.test\r\n\r\n');
          assert.equal(next.status, 200);
          assert.notEqual(next.body.toString(), `conn-${used}`, 'the next request did not run on the broken connection');
          assert.equal(b.accepted, accepted + 1, 'a new server connection was opened');
        } finally {
          c.destroy();
        }
      });
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

test('a client that aborts cancels the server request', async (t) => {
  const cases: Array<{ name: string; path: string }> = [
    { name: 'before the response headers', path: '/silent' },
    { name: 'in the middle of the response body', path: '/partial' },
  ];
  const serverClosed: string[] = [];
  const b = await httpBackend('s', (req, res) => {
    req.socket.once('close', () => serverClosed.push(req.url ?? ''));
    if (req.url === '/partial') {
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write('x'.repeat(1024)); // and never the rest
    }
    // '/silent': no answer at all
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', servers: [{ address: b.address }], timeouts: { response: '30s', serverIdle: '30s' } }],
  });
  try {
    const port = p.addr('h').port;
    for (const c of cases) {
      await t.test(c.name, async () => {
        const client = await RawClient.open(port);
        client.write(`GET ${c.path} HTTP/1.1\r\nHost: f.test\r\n\r\n`);
        if (c.path === '/partial') await waitFor(() => client.pending.includes('xxxx'), 3_000, 'part of the body');
        else await waitFor(() => b.sockets.size > 0 && b.accepted > 0, 3_000, 'the request at the server');
        const sockets = b.sockets.size;
        assert.ok(sockets >= 1);
        client.socket.resetAndDestroy();
        await waitFor(() => serverClosed.includes(c.path), 3_000, 'the server connection closed after the client left');
        await waitFor(() => p.proxy.sessions.size === 0, 3_000, 'the session is gone');
      });
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

test('retry: a refused server, then a live one → 200 every time', async () => {
  const dead = await refusedPort();
  const live = await httpBackend('live');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [httpListener()],
    pools: [{ name: 'p', retries: 1, servers: [{ address: `127.0.0.1:${dead}` }, { address: live.address }] }],
  });
  try {
    const port = p.addr('h').port;
    for (let i = 0; i < 6; i++) {
      const r = await rawRequest(port, `GET /r${i} HTTP/1.1\r\nHost: f.test\r\n\r\n`);
      assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body.toString()}`);
      assert.equal(r.body.toString(), `live GET /r${i}\n`);
    }
    // with POST too: nothing was sent to the refused server
    const r = await rawRequest(port, 'POST /p HTTP/1.1\r\nHost: f.test\r\nContent-Length: 4\r\n\r\nbody');
    assert.equal(r.status, 200);
    assert.ok(logged(p, 'retrying request on another server').length >= 1, 'the retry is logged');
  } finally {
    await p.stop();
    await live.close();
  }
});

test('a POST is never sent twice, even when the connection dies after the request was sent', async (t) => {
  const posts = new Map<string, number>();
  /** A server that, for POST, reads the whole request and then kills the connection. */
  const killer = (how: 'destroy' | 'reset') =>
    tcpBackend((s: Socket) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        while (buf.includes('\r\n\r\n')) {
          const headEnd = buf.indexOf('\r\n\r\n');
          const head = buf.slice(0, headEnd);
          const cl = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? '0');
          if (buf.length < headEnd + 4 + cl) return;
          buf = buf.slice(headEnd + 4 + cl);
          const line = head.split('\r\n')[0]!;
          if (line.startsWith('POST ')) {
            const id = line.split(' ')[1]!;
            posts.set(id, (posts.get(id) ?? 0) + 1);
            if (how === 'reset') s.resetAndDestroy();
            else s.destroy();
            return;
          }
          s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
        }
      });
    });
  const servers = [await killer('destroy'), await killer('reset')];
  try {
    for (const [name, mode, addrs] of [
      ['fresh connection, server closes (FIN)', 'fresh', [servers[0]!]],
      ['fresh connection, server resets (RST)', 'fresh', [servers[1]!]],
      ['reused connection, server closes (FIN)', 'reused', [servers[0]!]],
      ['reused connection, server resets (RST)', 'reused', [servers[1]!]],
      ['two servers, both kill the POST: no retry on the other', 'fresh', servers],
      ['two servers, reused connections, both kill the POST', 'reused', servers],
    ] as const) {
      await t.test(name, async () => {
        const p = await startProxy({
          logging: { level: 'silent' },
          listeners: [httpListener()],
          pools: [{ name: 'p', retries: 2, servers: addrs.map((b) => ({ address: b.address })), connectionPool: { reuse: 'always' } }],
        });
        try {
          const port = p.addr('h').port;
          const c = await RawClient.open(port);
          try {
            if (mode === 'reused') {
              // warm every server's connection so the POST lands on a reused one
              for (let i = 0; i < addrs.length; i++) {
                c.write('GET /warm HTTP/1.1\r\nHost: f.test\r\n\r\n');
                assert.equal((await c.response()).status, 200);
              }
            }
            const id = `/post-${name.replace(/\W+/g, '-')}`;
            c.write(`POST ${id} HTTP/1.1\r\nHost: f.test\r\nContent-Length: 5\r\n\r\nhello`);
            const r = await c.response();
            assertFailure(r, 502);
            assert.equal(posts.get(id), 1, `the POST reached the servers ${posts.get(id)} times`);
          } finally {
            c.destroy();
          }
        } finally {
          await p.stop();
        }
      });
    }
  } finally {
    for (const s of servers) await s.close();
  }
});

// Issue 13 row 1: an Upgrade request opens a tunnel only after the server's 101 whose Upgrade
// answers what was asked. Any other answer (200, 400, 302) is an ordinary response, and what the
// client sends next on that connection is parsed, routed and header-processed like any request,
// never piped raw to the server ("WebSocket/h2c smuggling"). h2c is never tunnelled; a 101 that
// does not answer the request is a 502.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

interface Origin extends Backend {
  /** Every byte received, per connection, in arrival order. */
  raw: Buffer[];
  /** Request heads seen (everything up to a CRLFCRLF), over all connections. */
  heads: string[];
  all(): string;
}

/**
 * A raw origin: answers each request head with `answer(head)` (bodies are not expected) and
 * records every byte it receives, so anything that reached it raw shows.
 */
async function origin(answer: (head: string) => string): Promise<Origin> {
  const raw: Buffer[] = [];
  const heads: string[] = [];
  const b = await tcpBackend((s: Socket) => {
    const i = raw.push(Buffer.alloc(0)) - 1;
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      raw[i] = Buffer.concat([raw[i]!, d]);
      buf = Buffer.concat([buf, d]);
      for (let guard = 0; guard < 100; guard++) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.toString('latin1', 0, end + 4);
        buf = buf.subarray(end + 4);
        heads.push(head);
        s.write(answer(head));
      }
    });
    s.on('end', () => s.end());
  });
  return Object.assign(b, { raw, heads, all: () => Buffer.concat(raw).toString('latin1') });
}

const UPGRADE = (upgrade = 'websocket', connection = 'Upgrade') =>
  `GET /chat HTTP/1.1\r\nHost: ws.test\r\nConnection: ${connection}\r\nUpgrade: ${upgrade}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
const ADMIN = 'GET /raw/admin HTTP/1.1\r\nHost: evil.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
const ANSWERS: Record<number, string> = {
  200: 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno',
  400: 'HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\n\r\nbad',
  302: 'HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n',
};

async function setup(appAnswer: (head: string) => string): Promise<{ app: Origin; other: Origin; p: RunningProxy; close(): Promise<void> }> {
  const app = await origin(appAnswer);
  const other = await origin(() => 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nother');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'app', routes: [{ pathPrefix: '/raw/', pool: 'other' }] }],
    pools: [
      { name: 'app', servers: [{ address: app.address }] },
      { name: 'other', servers: [{ address: other.address }] },
    ],
  });
  return {
    app,
    other,
    p,
    close: async () => {
      await p.stop();
      await app.close();
      await other.close();
    },
  };
}

for (const status of [200, 400, 302]) {
  for (const when of ['after the answer', 'pipelined behind the Upgrade head'] as const) {
    test(`an Upgrade request answered ${status}: no tunnel; the next request (${when}) is routed and its X-Forwarded-For replaced`, async () => {
      const s = await setup(() => ANSWERS[status]!);
      try {
        const c = await RawClient.open(s.p.addr('h').port);
        try {
          if (when === 'after the answer') {
            c.write(UPGRADE());
            const r = await c.response();
            assert.equal(r.status, status);
            assert.equal(r.header('upgrade'), undefined);
            c.write(ADMIN);
          } else {
            c.write(UPGRADE() + ADMIN);
            assert.equal((await c.response()).status, status);
          }
          const r2 = await c.response();
          assert.equal(r2.status, 200);
          assert.equal(r2.body.toString(), 'other', 'routed by /raw/ to the other pool');
          assert.equal(s.other.heads.length, 1);
          const head = s.other.heads[0]!;
          assert.match(head, /^GET \/raw\/admin HTTP\/1\.1\r\n/);
          assert.deepEqual(head.match(/^x-forwarded-for:.*$/gim)?.map((l) => l.trim()), ['x-forwarded-for: 127.0.0.1'], 'XFF replaced (no trusted proxies)');
          assert.match(head, /^via: /im, 'the proxy added its own headers: a processed request');
          assert.ok(!s.app.all().includes('/raw/admin'), 'nothing raw reached the default pool');
          assert.ok(!s.app.all().includes('6.6.6.6'));
          assert.equal(s.app.heads.length, 1);
          // the Upgrade request itself went out as asked, on a connection of its own
          assert.match(s.app.heads[0]!, /^upgrade: websocket$/im);
          assert.match(s.app.heads[0]!, /^connection: upgrade$/im);
          // the client connection is still an HTTP connection: another request is answered
          c.write('GET /again HTTP/1.1\r\nHost: ws.test\r\n\r\n');
          assert.equal((await c.response()).status, status);
          assert.equal(s.app.accepted, 2, 'the Upgrade request had a server connection of its own, never reused');
          const server = s.p.proxy.pools.get('app')!.servers[0]!;
          assert.equal(server.active, 0, 'no request in flight');
          assert.equal(server.held, 0, 'no tunnel holds the server');
        } finally {
          c.destroy();
        }
      } finally {
        await s.close();
      }
    });
  }
}

test('CL+TE smuggling bytes after a 200 to an Upgrade request: 400 and closed, nothing raw reaches a server', async () => {
  const s = await setup(() => ANSWERS[200]!);
  try {
    const smuggle = 'POST /raw/x HTTP/1.1\r\nHost: ws.test\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /raw/admin HTTP/1.1\r\nHost: evil\r\n\r\n';
    for (const pipelined of [false, true]) {
      const c = await RawClient.open(s.p.addr('h').port);
      try {
        if (pipelined) c.write(UPGRADE() + smuggle);
        else {
          c.write(UPGRADE());
          assert.equal((await c.response()).status, 200);
          c.write(smuggle);
        }
        if (pipelined) assert.equal((await c.response()).status, 200);
        const r = await c.response();
        assert.equal(r.status, 400);
        assert.equal(r.header('connection'), 'close');
        await c.waitClosed();
      } finally {
        c.destroy();
      }
    }
    assert.equal(s.other.accepted, 0, 'nothing reached the other pool');
    assert.equal(s.app.heads.length, 2, 'only the two Upgrade requests reached the default pool');
    assert.ok(!s.app.all().includes('POST'), 'the smuggled request never reached a server');
    assert.ok(!s.app.all().includes('/raw/admin'));
  } finally {
    await s.close();
  }
});

test('h2c is never tunnelled: forwarded as a plain request without Upgrade, the connection stays HTTP', async () => {
  const s = await setup(() => ANSWERS[200]!);
  try {
    const c = await RawClient.open(s.p.addr('h').port);
    try {
      c.write(
        'GET /h2 HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' + ADMIN,
      );
      assert.equal((await c.response()).status, 200);
      const head = s.app.heads[0]!;
      assert.doesNotMatch(head, /^upgrade:/im);
      assert.doesNotMatch(head, /^connection:/im);
      assert.doesNotMatch(head, /^http2-settings:/im);
      const r2 = await c.response();
      assert.equal(r2.body.toString(), 'other');
      assert.match(s.other.heads[0]!, /^x-forwarded-for: 127\.0\.0\.1\r$/im);
      // a token list naming h2c among others is not tunnelled either
      c.write(UPGRADE('websocket, h2c'));
      assert.equal((await c.response()).status, 200);
      assert.doesNotMatch(s.app.heads[1]!, /^upgrade:/im);
    } finally {
      c.destroy();
    }
  } finally {
    await s.close();
  }
});

test('a server that answers 101 to h2c anyway (it never saw an Upgrade): 502 and the connection closes', async () => {
  const s = await setup(() => 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\nPRI-bytes');
  try {
    const c = await RawClient.open(s.p.addr('h').port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: ws.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 502);
      await c.waitClosed();
      assert.ok(!c.pending.toString('latin1').includes('PRI-bytes'));
    } finally {
      c.destroy();
    }
  } finally {
    await s.close();
  }
});

for (const [name, reply] of [
  ['a different protocol', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: tls/1.3\r\n\r\n'],
  ['no Upgrade at all', 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n'],
] as const) {
  test(`a 101 whose Upgrade is ${name}: 502, the connection closes, nothing is tunnelled`, async () => {
    const s = await setup(() => reply + 'tunnel-bytes');
    try {
      const c = await RawClient.open(s.p.addr('h').port);
      try {
        c.write(UPGRADE() + 'early');
        const r = await c.response();
        assert.equal(r.status, 502);
        await c.waitClosed();
        assert.ok(!c.pending.toString('latin1').includes('tunnel-bytes'), 'no server byte after the 101 reached the client');
        await waitFor(() => s.app.sockets.size === 0, 3_000, 'the server connection closed');
        assert.ok(!s.app.all().includes('early'), 'the early bytes were never sent');
      } finally {
        c.destroy();
      }
    } finally {
      await s.close();
    }
  });
}

test('a 101 to a request that did not ask to upgrade: 502, the connection closes', async () => {
  const s = await setup(() => 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  try {
    const c = await RawClient.open(s.p.addr('h').port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: ws.test\r\n\r\n');
      assert.equal((await c.response()).status, 502);
      await c.waitClosed();
    } finally {
      c.destroy();
    }
  } finally {
    await s.close();
  }
});

test('the 101 Upgrade is matched by token, ignoring case', async () => {
  const s = await setup(() => 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n');
  try {
    const c = await RawClient.open(s.p.addr('h').port);
    try {
      c.write(UPGRADE('foo/2, websocket'));
      const r = await c.response();
      assert.equal(r.status, 101);
      assert.equal(r.header('upgrade'), 'WebSocket');
      assert.match(r.header('connection') ?? '', /upgrade/i);
    } finally {
      c.destroy();
    }
  } finally {
    await s.close();
  }
});

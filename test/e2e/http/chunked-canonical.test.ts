// Chunked bodies leave the proxy in canonical form, in both directions (issue 13 rows 5 and 6):
// lowercase hex sizes without leading zeros, no chunk extensions, only the trailer fields
// trailers.ts lets through (and none the message's Connection names). The scripted servers here
// see or send the exact bytes; a Node http server (llhttp) and a real nginx judge whether what we
// forward is something a strict parser reads the way we do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient, rawRequest } from '../../helpers/http.ts';
import { httpBackend, tcpBackend, type Backend } from '../../helpers/backends.ts';
import { nginxBinary, startNginx } from '../../helpers/nginx.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

function proxyTo(address: string): Promise<RunningProxy> {
  return startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address }] }],
  });
}

interface RawSeen {
  line: string;
  head: string;
  /** The body exactly as the server received it (latin1), framing included. */
  body: string;
}

/**
 * A server that records each request's head and its body bytes as they came, framing included,
 * and answers 200 "ok". `heads` counts heads seen, complete bodies or not.
 */
async function rawBodyServer(): Promise<{ backend: Backend; seen: RawSeen[]; heads: string[]; close(): Promise<void> }> {
  const seen: RawSeen[] = [];
  const heads: string[] = [];
  const backend = await tcpBackend((s: Socket) => {
    let buf = '';
    let headCounted = false;
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (;;) {
        const he = buf.indexOf('\r\n\r\n');
        if (he < 0) return;
        const head = buf.slice(0, he + 4);
        if (!headCounted) {
          heads.push(head);
          headCounted = true;
        }
        let pos = he + 4;
        if (/\r\ntransfer-encoding:/i.test(head)) {
          for (;;) {
            const eol = buf.indexOf('\r\n', pos);
            if (eol < 0) return;
            const size = parseInt(buf.slice(pos, eol).split(';')[0]!.trim(), 16);
            pos = eol + 2;
            if (size === 0) {
              const end = buf.indexOf('\r\n\r\n', pos - 2);
              if (end < 0) return;
              pos = end + 4;
              break;
            }
            if (buf.length < pos + size + 2) return;
            pos += size + 2;
          }
        } else {
          const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
          pos += m === null ? 0 : Number(m[1]);
          if (buf.length < pos) return;
        }
        seen.push({ line: head.slice(0, head.indexOf('\r\n')), head, body: buf.slice(he + 4, pos) });
        buf = buf.slice(pos);
        headCounted = false;
        s.write(OK);
      }
    });
    s.on('end', () => s.end());
  });
  return { backend, seen, heads, close: () => backend.close() };
}

/** Writes `bytes` in pieces of 1 to `max` bytes, each in its own segment (noDelay, a pause between). */
async function writeInPieces(c: RawClient, bytes: string, max: number): Promise<void> {
  for (let i = 0, k = 0; i < bytes.length; k++) {
    const n = 1 + (k % max);
    c.write(bytes.slice(i, i + n));
    i += n;
    await sleep(1);
  }
}

const ISSUE_TRAILERS = 'X-Forwarded-For: 6.6.6.6\r\nHost: evil\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\nX-Ok: 1\r\n';
const ISSUE_BODY = '0'.repeat(41) + '5;a=b\r\nhello\r\n0\r\n' + ISSUE_TRAILERS + '\r\n';
const POST = 'POST /up HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n';

test('request bodies reach the server canonical: the issue vector, whole and in small writes (issue 13 rows 5, 6)', async (t) => {
  const server = await rawBodyServer();
  t.after(() => server.close());
  const p = await proxyTo(server.backend.address);
  t.after(() => p.stop());
  const port = p.addr('web').port;

  const cases: Array<[string, string, string]> = [
    ['issue vector: 41 leading zeros, ;a=b, framing and proxy-owned trailers', ISSUE_BODY, '5\r\nhello\r\n0\r\nX-Ok: 1\r\n\r\n'],
    ['5 ;a=b', '5 ;a=b\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
    ['uppercase hex, quoted extension, last-chunk extension', '00A;q="x y"\r\n0123456789\r\n0;end\r\n\r\n', 'a\r\n0123456789\r\n0\r\n\r\n'],
    [
      'trailers named in the request Connection are dropped too',
      '3\r\nabc\r\n0\r\nX-Hop: 1\r\nServer-Timing: a\r\n\r\n',
      '3\r\nabc\r\n0\r\nServer-Timing: a\r\n\r\n',
    ],
  ];
  for (const [name, body, want] of cases) {
    const head = name.includes('Connection') ? POST.replace('\r\n\r\n', '\r\nConnection: x-hop\r\n\r\n') : POST;
    for (const how of ['whole', 'in small writes']) {
      await t.test(`${name}, ${how}`, async () => {
        const before = server.seen.length;
        const c = await RawClient.open(port);
        try {
          const bytes = head + body + 'GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n';
          if (how === 'whole') c.write(bytes);
          else await writeInPieces(c, bytes, 7);
          assert.equal((await c.response()).status, 200);
          assert.equal((await c.response()).status, 200, 'the request after the body is read right');
        } finally {
          c.destroy();
        }
        const got = server.seen[before]!;
        assert.equal(got.line, 'POST /up HTTP/1.1');
        assert.equal(got.body, want);
        assert.equal(server.seen[before + 1]!.line, 'GET /after HTTP/1.1');
      });
    }
  }
});

test('malformed extensions and an over-long size line: 400 and close, the server never sees a complete body', async (t) => {
  const server = await rawBodyServer();
  t.after(() => server.close());
  const p = await proxyTo(server.backend.address);
  t.after(() => p.stop());
  const port = p.addr('web').port;
  const bad: Array<[string, string]> = [
    ['5;', '5;\r\nhello\r\n0\r\n\r\n'],
    ['5;a b c @ [ ]', '5;a b c @ [ ]\r\nhello\r\n0\r\n\r\n'],
    ['a 5000-byte size line', '5;a=' + 'x'.repeat(4996) + '\r\nhello\r\n0\r\n\r\n'],
  ];
  for (const [name, body] of bad) {
    for (const how of ['with the head', 'after the head']) {
      await t.test(`${name}, ${how}`, async () => {
        const before = server.seen.length;
        const c = await RawClient.open(port);
        try {
          if (how === 'with the head') c.write(POST + body);
          else {
            c.write(POST);
            await sleep(30); // the head reaches the server first
            c.write(body);
          }
          assert.equal((await c.response()).status, 400);
          await c.waitClosed();
        } finally {
          c.destroy();
        }
        await sleep(30);
        assert.equal(server.seen.length, before, 'no complete request reached the server');
      });
    }
  }
});

/** A server answering each GET with the pieces `script(path)` returns, written apart (15 ms between). */
async function responseServer(script: (path: string) => Array<string | Buffer>): Promise<Backend> {
  return tcpBackend((s: Socket) => {
    let buf = '';
    let busy = false;
    const next = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      for (;;) {
        const he = buf.indexOf('\r\n\r\n');
        if (he < 0) break;
        const path = buf.slice(0, buf.indexOf('\r\n')).split(' ')[1]!;
        buf = buf.slice(he + 4);
        const pieces = script(path);
        for (let i = 0; i < pieces.length; i++) {
          if (i > 0) await sleep(15);
          s.write(pieces[i]!);
        }
      }
      busy = false;
    };
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      void next();
    });
    s.on('end', () => s.end());
  });
}

const RESP_HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: x-hop\r\n\r\n';
const RESP_BODY =
  '0000A;ext\r\n0123456789\r\n1F;q="x y"\r\n' +
  'B'.repeat(31) +
  '\r\n0000;end\r\nSet-Cookie: a=b\r\nContent-Length: 50\r\nX-Forwarded-For: 6.6.6.6\r\nX-Hop: 1\r\nServer-Timing: db;dur=53\r\n\r\n';
const RESP_WANT = 'a\r\n0123456789\r\n1f\r\n' + 'B'.repeat(31) + '\r\n0\r\nServer-Timing: db;dur=53\r\n\r\n';
const TINY = '001;e=1\r\nx\r\n'.repeat(200) + '0\r\n\r\n';
const BIG = 40 * 1024 + 7;
/** Large chunks (the zero-copy path) between small ones, in one write. */
const MIXED = '3\r\nabc\r\n' + `00${BIG.toString(16).toUpperCase()}\r\n` + 'L'.repeat(BIG) + '\r\n2\r\nde\r\n' + `${(100 * 1024).toString(16)};big\r\n` + 'M'.repeat(100 * 1024) + '\r\n0\r\n\r\n';
const MIXED_WANT = '3\r\nabc\r\n' + `${BIG.toString(16)}\r\n` + 'L'.repeat(BIG) + '\r\n2\r\nde\r\n' + `${(100 * 1024).toString(16)}\r\n` + 'M'.repeat(100 * 1024) + '\r\n0\r\n\r\n';

test('response bodies reach the client canonical, trailers filtered, in one write or several; the next pipelined response is its own (issue 13 rows 5, 6)', async (t) => {
  const scripts = new Map<string, Array<string | Buffer>>([
    ['/one-write', [RESP_HEAD + RESP_BODY]],
    ['/separate', [RESP_HEAD, RESP_BODY.slice(0, 14), RESP_BODY.slice(14, 40), RESP_BODY.slice(40)]],
    ['/tiny', [RESP_HEAD + TINY]],
    ['/mixed', [RESP_HEAD + MIXED]],
    ['/mixed-split', [RESP_HEAD + MIXED.slice(0, 30 * 1024), MIXED.slice(30 * 1024, 90 * 1024), MIXED.slice(90 * 1024)]],
  ]);
  const server = await responseServer((path) => scripts.get(path) ?? ['HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond']);
  t.after(() => server.close());
  const p = await proxyTo(server.address);
  t.after(() => p.stop());
  const port = p.addr('web').port;
  const wants: Record<string, string> = { '/one-write': RESP_WANT, '/separate': RESP_WANT, '/tiny': '1\r\nx\r\n'.repeat(200) + '0\r\n\r\n', '/mixed': MIXED_WANT, '/mixed-split': MIXED_WANT };
  for (const [path, want] of Object.entries(wants)) {
    await t.test(path, async () => {
      const c = await RawClient.open(port);
      let raw = '';
      c.socket.on('data', (d: Buffer) => (raw += d.toString('latin1')));
      try {
        c.write(`GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\nGET /second HTTP/1.1\r\nHost: a.test\r\n\r\n`);
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.ok(r.chunked);
        assert.deepEqual(r.trailers, want === RESP_WANT ? [['Server-Timing', 'db;dur=53']] : []);
        const second = await c.response();
        assert.equal(second.status, 200);
        assert.equal(second.body.toString(), 'second');
        const bodyAt = raw.indexOf('\r\n\r\n') + 4;
        assert.equal(raw.slice(bodyAt, bodyAt + want.length), want, 'the body bytes as the client got them');
        assert.match(raw.slice(bodyAt + want.length), /^HTTP\/1\.1 200 /);
      } finally {
        c.destroy();
      }
    });
  }
});

test('a malformed chunked response: 502 while nothing was sent, a cut connection after', async (t) => {
  const server = await responseServer((path) =>
    path === '/bad-first'
      ? ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5;\r\nworld\r\n0\r\n\r\n']
      : ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', '5;a b\r\nworld\r\n0\r\n\r\n'],
  );
  t.after(() => server.close());
  const p = await proxyTo(server.address);
  t.after(() => p.stop());
  const port = p.addr('web').port;
  await t.test('malformed in the first read: 502', async () => {
    const r = await rawRequest(port, 'GET /bad-first HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.equal(r.status, 502);
  });
  await t.test('malformed in a later read: the client connection is cut, no last chunk', async () => {
    const c = await RawClient.open(port);
    let raw = '';
    c.socket.on('data', (d: Buffer) => (raw += d.toString('latin1')));
    c.write('GET /bad-later HTTP/1.1\r\nHost: a.test\r\n\r\n');
    await c.waitClosed();
    assert.match(raw, /^HTTP\/1\.1 200 /);
    assert.ok(raw.endsWith('\r\n\r\n5\r\nhello\r\n'), JSON.stringify(raw.slice(-40)));
  });
});

/** Request vectors of issue 13 rows 5 and 6 that fullproxy accepts: [name, chunked body]. */
const ACCEPTED: Array<[string, string]> = [
  ['the issue vector', ISSUE_BODY],
  ['41 leading zeros', '0'.repeat(41) + '5\r\nhello\r\n' + '0'.repeat(41) + '\r\n\r\n'],
  ['5 ;a=b', '5 ;a=b\r\nhello\r\n0\r\n\r\n'],
  ['5;a=b', '5;a=b\r\nhello\r\n0\r\n\r\n'],
  ['BWS and a quoted extension', '5\t; a = "b c" ;d\r\nhello\r\n0 ;e\r\n\r\n'],
  ['a 4,000-byte extension', '5;a=' + 'x'.repeat(4000) + '\r\nhello\r\n0\r\n\r\n'],
  ['uppercase hex sizes', '2\r\nhe\r\n0A\r\nllo-------\r\n0\r\n\r\n'],
  ['the issue trailers', '5\r\nhello\r\n0\r\n' + ISSUE_TRAILERS + '\r\n'],
];

test('llhttp as the origin parses every forwarded vector: 200, body intact, no forbidden trailer (issue 13 rows 5, 6)', async (t) => {
  const origin = await httpBackend('llhttp', (req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => res.end(JSON.stringify({ body: Buffer.concat(parts).toString('latin1'), trailers: req.rawTrailers })));
  });
  t.after(() => origin.close());
  const p = await proxyTo(origin.address);
  t.after(() => p.stop());
  const port = p.addr('web').port;
  for (const [name, body] of ACCEPTED) {
    await t.test(name, async () => {
      const r = await rawRequest(port, POST + body);
      assert.equal(r.status, 200, r.body.toString());
      const echo = JSON.parse(r.body.toString()) as { body: string; trailers: string[] };
      assert.equal(echo.body, name === 'uppercase hex sizes' ? 'hello-------' : 'hello');
      const names = echo.trailers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      assert.deepEqual(names, name.includes('trailers') || name === 'the issue vector' ? ['x-ok'] : []);
    });
  }
});

test('nginx as the origin answers every forwarded vector, then the next request on the same server connection', { skip: nginxBinary() === null ? 'nginx is not installed' : false }, async (t) => {
  const nginx = await startNginx({ logFormat: '$connection $connection_requests $status $request', server: 'location / { return 200 ok; }' });
  t.after(() => nginx.stop());
  const p = await proxyTo(`127.0.0.1:${nginx.port}`);
  t.after(() => p.stop());
  const port = p.addr('web').port;
  for (const [name, body] of ACCEPTED) {
    await t.test(name, async () => {
      const c = await RawClient.open(port);
      try {
        c.write(POST + body);
        const r = await c.response();
        assert.equal(r.status, 200, r.body.toString());
        assert.equal(r.body.toString(), 'ok');
        c.write('GET /next HTTP/1.1\r\nHost: a.test\r\n\r\n');
        assert.equal((await c.response()).status, 200);
      } finally {
        c.destroy();
      }
    });
  }
  // One server connection served them all (the pool keeps it): nginx read every body to its end.
  await sleep(50);
  const lines = nginx.accessLines();
  assert.equal(lines.length, ACCEPTED.length * 2);
  assert.equal(new Set(lines.map((l) => l.split(' ')[0])).size, 1, lines.join('\n'));
  for (const l of lines) assert.equal(l.split(' ')[2], '200', l);
});

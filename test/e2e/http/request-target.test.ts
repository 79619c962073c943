// Request targets toward the server (RFC 9112 §3.2, docs/http.md): an absolute-form request is
// routed by its own host and reaches the server in origin-form with that host as Host; a target
// of no valid form gets 400 and a close, and nothing reaches a server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';

test('absolute-form targets: routed by their host, forwarded in origin-form with that Host; bad targets → 400, close', async (t) => {
  let served = 0;
  const echo = (name: string) =>
    httpBackend(name, (req, res) => {
      served++;
      res.end(`${name} ${req.method} ${req.url} host=${req.headers.host}`);
    });
  const a = await echo('a');
  const b = await echo('b');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'a', routes: [{ host: 'b.test', pool: 'b' }] }],
    pools: [
      { name: 'a', servers: [{ address: a.address }] },
      { name: 'b', servers: [{ address: b.address }] },
    ],
  });
  try {
    const port = p.addr('h').port;
    await t.test('valid forms, one keep-alive connection', async () => {
      const c = await RawClient.open(port);
      try {
        const cases: Array<[string, string]> = [
          ['GET http://b.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\n\r\n', 'b GET /x?y=1 host=b.test'],
          ['GET http://B.test:8080?q HTTP/1.1\r\nHost: a.test\r\n\r\n', 'b GET /?q host=B.test:8080'],
          ['GET https://a.test/p#frag HTTP/1.1\r\nHost: b.test\r\n\r\n', 'a GET /p host=a.test'],
          ['OPTIONS http://a.test HTTP/1.1\r\nHost: a.test\r\n\r\n', 'a OPTIONS * host=a.test'],
          ['OPTIONS * HTTP/1.1\r\nHost: b.test\r\n\r\n', 'b OPTIONS * host=b.test'],
          ['GET /plain HTTP/1.1\r\nHost: b.test\r\n\r\n', 'b GET /plain host=b.test'],
        ];
        for (const [request, seen] of cases) {
          c.write(request);
          const r = await c.response();
          assert.equal(r.status, 200, request);
          assert.equal(r.body.toString(), seen, request);
        }
      } finally {
        c.destroy();
      }
    });
    const bad = ['GET a.test/x HTTP/1.1', 'GET * HTTP/1.1', 'GET ftp://a.test/x HTTP/1.1', 'GET http://user@a.test/ HTTP/1.1', 'GET http:///x HTTP/1.1', 'GET http://a.test:8x/ HTTP/1.1'];
    for (const line of bad) {
      await t.test(`${line} → 400, close`, async () => {
        const before = served;
        const c = await RawClient.open(port);
        try {
          c.write(`${line}\r\nHost: a.test\r\n\r\n`);
          const r = await c.response({ timeoutMs: 3_000 });
          assert.equal(r.status, 400);
          await c.waitEof(3_000);
        } finally {
          c.destroy();
        }
        assert.equal(served, before, 'no server saw the bad request');
      });
    }
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

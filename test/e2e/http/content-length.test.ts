// Content-Length is forwarded as the number, never as the digits received (issue 13 row 7;
// RFC 9112 §6.3): `0005` or a 44-digit zero-padded value reaches the next hop as `5`, in both
// directions, so a server or client with digit-limited (or octal-minded) parsing cannot read a
// different length than the proxy framed by. Values past Number.MAX_SAFE_INTEGER stay refused:
// 400 for a request, 502 for a response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient, rawRequest } from '../../helpers/http.ts';
import { scriptedServer } from '../../helpers/scripted-server.ts';

test('a request Content-Length with leading zeros arrives at the server as the number, body intact (issue 13 row 7)', async (t) => {
  const server = await scriptedServer(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  t.after(() => server.close());
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server.backend.address }] }],
  });
  t.after(() => p.stop());
  const port = p.addr('web').port;
  const cases: Array<[string, string]> = [
    ['0005', '5'],
    [`${'0'.repeat(43)}5`, '5'], // 44 digits
    ['00', '0'],
  ];
  for (const [sent, want] of cases) {
    await t.test(`Content-Length: ${sent}`, async () => {
      const before = server.seen.length;
      const body = 'hello'.slice(0, Number(want));
      // Two requests on one connection: the second proves the body was consumed exactly.
      const c = await RawClient.open(port);
      try {
        c.write(`POST /cl HTTP/1.1\r\nHost: a.test\r\nContent-Length: ${sent}\r\n\r\n${body}GET /after HTTP/1.1\r\nHost: a.test\r\n\r\n`);
        assert.equal((await c.response()).status, 200);
        assert.equal((await c.response()).status, 200);
      } finally {
        c.destroy();
      }
      const seen = server.seen[before]!;
      assert.deepEqual(seen.fields.filter(([n]) => n.toLowerCase() === 'content-length'), [['content-length', want]], JSON.stringify(seen.head));
      assert.equal(seen.body.toString(), body);
      assert.equal(server.seen[before + 1]!.line, 'GET /after HTTP/1.1');
    });
  }
  await t.test('beyond Number.MAX_SAFE_INTEGER: still 400', async () => {
    const before = server.seen.length;
    const r = await rawRequest(port, 'POST /big HTTP/1.1\r\nHost: a.test\r\nContent-Length: 9007199254740992\r\n\r\n');
    assert.equal(r.status, 400);
    assert.equal(server.seen.length, before, 'nothing reached the server');
  });
});

test('a response Content-Length with leading zeros reaches the client as the number (issue 13 row 7)', async (t) => {
  const answers = new Map<string, string>([
    ['/padded', 'HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok'],
    ['/padded44', `HTTP/1.1 200 OK\r\nContent-Length: ${'0'.repeat(43)}2\r\n\r\nok`],
    ['/repeated', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 002\r\n\r\nok'],
    ['/huge', 'HTTP/1.1 200 OK\r\nContent-Length: 9007199254740992\r\n\r\nok'],
  ]);
  const server = await scriptedServer((req) => answers.get(req.line.split(' ')[1]!) ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  t.after(() => server.close());
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server.backend.address }] }],
  });
  t.after(() => p.stop());
  const port = p.addr('web').port;
  for (const path of ['/padded', '/padded44', '/repeated']) {
    await t.test(path, async () => {
      const r = await rawRequest(port, `GET ${path} HTTP/1.1\r\nHost: a.test\r\n\r\n`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.headerAll('content-length'), ['2'], JSON.stringify(r.headers));
      assert.equal(r.body.toString(), 'ok');
    });
  }
  await t.test('beyond Number.MAX_SAFE_INTEGER: still 502', async () => {
    const r = await rawRequest(port, 'GET /huge HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.equal(r.status, 502);
  });
});

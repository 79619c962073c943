// Requests refused at their head (400 malformed, 431 too large, 408 not complete in time) are
// requests for the operator (issue 18 §4, §9): each counts in the listener's requests by status
// class (`fullproxy_listener_rq_total{code="4xx"}`, `requestsTotal` of /api/v1/stats) and gets a
// `request` access line with its reason. Hostile input: that line never echoes the client's
// bytes (method, url and host are null), and a flood of garbage heads gives bounded, valid JSON
// lines. A connection that never sent a byte of a request is no request: closed without a 408.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient, rawRequest } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { scrape, adminBase } from '../metrics/scrape.ts';

const HEAD_TIMEOUT_MS = 400;
const MAX_HEAD = 2048;

let b: Backend;
let p: RunningProxy;

before(async () => {
  b = await httpBackend('b');
  p = await startProxy({
    logging: { level: 'info', access: true },
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', limits: { maxHeaderBytes: MAX_HEAD }, timeouts: { requestHeaders: `${HEAD_TIMEOUT_MS}ms` } }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
});

after(async () => {
  await p.stop();
  await b.close();
});

/** The listener's 4xx requests in /metrics and its requestsTotal in /api/v1/stats. */
async function counts(): Promise<{ rq4xx: number; rqAll: number; requestsTotal: number }> {
  const s = await scrape(p);
  const stats = (await (await fetch(`${adminBase(p)}/api/v1/stats`)).json()) as { listeners: Record<string, { requestsTotal: number }> };
  return { rq4xx: s.sum('fullproxy_listener_rq_total', { listener: 'h', code: '4xx' }), rqAll: s.sum('fullproxy_listener_rq_total', { listener: 'h' }), requestsTotal: stats.listeners['h']!.requestsTotal };
}

/** Sends `bytes` on a new connection, reads the answer and the connection's end; returns what came back. */
async function refused(bytes: string | Buffer, timeoutMs = 5_000): Promise<{ status: number; reason: string | undefined; raw: number; closed: string }> {
  const c = await RawClient.open(p.addr('h').port);
  try {
    c.write(bytes);
    const r = await c.response({ timeoutMs });
    return { status: r.status, reason: r.header('x-fullproxy-reason'), raw: c.socket.bytesRead, closed: await c.waitClosed(3_000) };
  } finally {
    c.destroy();
  }
}

const CASES: Array<{ name: string; bytes: string; status: number; reason: string }> = [
  { name: 'a malformed request line', bytes: 'NOT A REQUEST\r\n\r\n', status: 400, reason: 'bad-request' },
  { name: 'a control character in a field', bytes: 'GET /x HTTP/1.1\r\nHost: a.test\r\nX-A: b\x01c\r\n\r\n', status: 400, reason: 'bad-request' },
  { name: 'no Host (the head parsed, the request refused)', bytes: 'GET /secret?token=abc HTTP/1.1\r\nX-A: b\r\n\r\n', status: 400, reason: 'bad-request' },
  { name: 'CONNECT', bytes: 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n', status: 400, reason: 'bad-request' },
  { name: 'a head over limits.maxHeaderBytes', bytes: `GET / HTTP/1.1\r\nHost: a.test\r\nX-Big: ${'a'.repeat(MAX_HEAD * 2)}\r\n\r\n`, status: 431, reason: 'header-too-large' },
  { name: 'a head not complete within timeouts.requestHeaders', bytes: 'GET /slow HTTP/1.1\r\nHost: a.test\r\nX-Half', status: 408, reason: 'request-timeout' },
];

for (const c of CASES) {
  test(`${c.name}: ${c.status}, counted as a 4xx request, one access line with reason ${c.reason} and nothing of the client's bytes`, async () => {
    const before = await counts();
    const linesBefore = p.logs.find('request').length;
    const got = await refused(c.bytes);
    assert.equal(got.status, c.status);
    assert.equal(got.reason, c.reason);
    assert.equal(got.closed, 'end', 'answered, then FIN');

    await waitFor(() => p.logs.find('request').length === linesBefore + 1, 3_000, 'one request access line');
    const line = p.logs.find('request').at(-1)!;
    assert.equal(line['status'], c.status);
    assert.equal(line['reason'], c.reason);
    for (const k of ['method', 'url', 'host', 'pool', 'server', 'connectMs', 'firstByteMs', 'durationMs']) assert.equal(line[k], null, k);
    // What the client socket read of it: all of it, or (431) at least the limit's worth.
    if (c.status === 431) assert.ok((line['bytesIn'] as number) > MAX_HEAD, `bytesIn ${line['bytesIn']}`);
    else assert.equal(line['bytesIn'], Buffer.byteLength(c.bytes, 'latin1'));
    assert.equal(line['bytesOut'], got.raw, 'bytesOut: the whole answer the client read');

    const after = await counts();
    assert.equal(after.rq4xx - before.rq4xx, 1, 'fullproxy_listener_rq_total{code="4xx"} moved by one');
    assert.equal(after.rqAll - before.rqAll, 1, 'and no other class moved');
    assert.equal(after.requestsTotal - before.requestsTotal, 1, 'requestsTotal of /api/v1/stats moved by one');
    await waitFor(() => p.logs.find('session end').some((l) => l['session'] === line['session']), 3_000, 'the session end line');
    const end = p.logs.find('session end').find((l) => l['session'] === line['session'])!;
    assert.equal(end['reason'], 'client-error');
    assert.equal(end['requests'], 1, 'the session counts the refused request');
  });
}

test('a refused request after a served one on the same connection: its own bytes, its own line', async () => {
  const linesBefore = p.logs.find('request').length;
  const c = await RawClient.open(p.addr('h').port);
  try {
    c.write('GET /ok HTTP/1.1\r\nHost: a.test\r\n\r\n');
    assert.equal((await c.response()).status, 200);
    const servedOut = c.socket.bytesRead;
    const bad = 'GET /two HTTP/1.1\r\nHost: a.test\r\nBad Name: x\r\n\r\n';
    c.write(bad);
    assert.equal((await c.response()).status, 400);
    await waitFor(() => p.logs.find('request').length === linesBefore + 2, 3_000, 'two request lines');
    const [served, refusedLine] = p.logs.find('request').slice(-2);
    assert.equal(served!['status'], 200);
    assert.equal(served!['url'], '/ok');
    assert.equal(refusedLine!['status'], 400);
    assert.equal(refusedLine!['bytesIn'], bad.length);
    assert.equal(refusedLine!['bytesOut'], c.socket.bytesRead - servedOut);
  } finally {
    c.destroy();
  }
});

test('hostile heads: every log line stays valid, bounded JSON; the access lines echo none of the bytes sent', async () => {
  // Bytes meant to break a log line or a terminal: quotes and braces (JSON), CR/LF (line
  // splitting), ESC sequences, NUL, invalid UTF-8, and long garbage up to and over the head limit.
  const marker = 'PWNED-MARKER';
  const hostile = [
    `GET /${marker}"}\n{"msg":"request","status":200 HTTP/1.1\r\nHost: a.test\r\n\r\n`,
    `${marker}\x1b[2J\x1b]0;owned\x07 / HTTP/1.1\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: a.test\r\n${marker}\x00: x\r\n\r\n`,
    Buffer.concat([Buffer.from(`GET /${marker}`), Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x80]), Buffer.from(' HTTP/1.1\r\n\r\n')]),
    `${marker}${'\x7f'.repeat(MAX_HEAD)}\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: a.test\r\n${marker}${'x'.repeat(MAX_HEAD - 100)}: \x01\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: a.test\r\nX: ${marker}${'\xff'.repeat(MAX_HEAD * 3)}\r\n\r\n`,
  ];
  const rounds = 5;
  const before = await counts();
  const from = p.logs.lines.length;
  for (let i = 0; i < rounds; i++) {
    for (const h of hostile) {
      const got = await rawRequest(p.addr('h').port, h, { timeoutMs: 5_000 });
      assert.ok(got.status === 400 || got.status === 431, `status ${got.status}`);
    }
  }
  const n = rounds * hostile.length;
  await waitFor(() => p.logs.find('request').length >= n, 5_000, 'the access lines');
  const after = await counts();
  assert.equal(after.rq4xx - before.rq4xx, n, 'each one a 4xx request');
  const lines = p.logs.lines.slice(from);
  // LogCapture parsed every line as JSON already: one JSON object per line, none split by the input.
  const requestLines = lines.filter((l) => l['msg'] === 'request');
  assert.equal(requestLines.length, n);
  for (const l of lines) {
    const text = JSON.stringify(l);
    // The `bad request` line gives the parser's reason, which may name the offending field: a
    // token (no quote, backslash, space or control character), cut at 128 characters.
    if (l['msg'] !== 'bad request') assert.ok(!text.includes(marker), `a log line echoes the client's bytes: ${text.slice(0, 300)}`);
    assert.ok(text.length < 600, `a log line of ${text.length} characters: ${text.slice(0, 300)}`);
  }
});

test('a connection that sends nothing within timeouts.requestHeaders is closed without a 408, and is no request', async () => {
  const before = await counts();
  const linesBefore = p.logs.find('request').length;
  const c = await RawClient.open(p.addr('h').port);
  try {
    assert.equal(await c.waitClosed(HEAD_TIMEOUT_MS + 3_000), 'end', 'closed with a FIN');
    assert.equal(c.pending.length, 0, 'not one byte (no 408) to a client that asked nothing');
  } finally {
    c.destroy();
  }
  await waitFor(() => p.logs.find('session end').some((l) => l['reason'] === 'idle-close' && l['requests'] === 0), 3_000, 'an idle-close session end line');
  assert.equal(p.logs.find('request').length, linesBefore, 'no request line');
  const after = await counts();
  assert.equal(after.rqAll, before.rqAll, 'no request counted');
  assert.equal(after.requestsTotal, before.requestsTotal);
});

test('a connection that sent only empty lines before the timeout is no request either', async () => {
  const linesBefore = p.logs.find('request').length;
  const c = await RawClient.open(p.addr('h').port);
  try {
    c.write('\r\n\r\n');
    assert.equal(await c.waitClosed(HEAD_TIMEOUT_MS + 3_000), 'end');
    assert.equal(c.pending.length, 0);
  } finally {
    c.destroy();
  }
  assert.equal(p.logs.find('request').length, linesBefore);
});

// ResponseHead: a server's head checked and filtered on its bytes — status line, field lines,
// framing fields, hop-by-hop lines dropped, the client's head written from the kept ranges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ResponseHead } from '../../../src/http/response-head.ts';
import { findHeadEnd } from '../../../src/http/message-head.ts';

const EXTRA = 'via: 1.1 fullproxy\r\n\r\n';

/** Scans `head` (must hold its only CRLFCRLF) with unrelated bytes around it. */
function scan(head: string, pad = 'junk'): ResponseHead {
  const buf = Buffer.from(pad + head + 'body', 'latin1');
  const end = findHeadEnd(buf, pad.length);
  assert.equal(end, pad.length + head.length, 'test head must end with its only CRLFCRLF');
  const h = new ResponseHead();
  h.scan(buf, pad.length, end);
  return h;
}

function ok(head: string): ResponseHead {
  const h = scan(head);
  assert.equal(h.error, null, `${JSON.stringify(head)}: unexpected error ${h.error}`);
  return h;
}

/** The head the client gets. */
function forwarded(h: ResponseHead, extra = EXTRA): string {
  const out = Buffer.alloc(h.byteLength(extra));
  const end = h.writeTo(out, 0, extra);
  assert.equal(end, out.length, 'byteLength is exact');
  return out.toString('latin1');
}

test('status line: code, optional reason, version; the client always gets HTTP/1.1', () => {
  const h = ok('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n');
  assert.equal(h.status, 200);
  assert.equal(h.minor, 1);
  // Content-Length is the proxy's own line (the number it frames by), after the kept lines.
  assert.equal(forwarded(h), 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\nvia: 1.1 fullproxy\r\n\r\n');
  assert.equal(forwarded(ok('HTTP/1.1 204\r\n\r\n')), 'HTTP/1.1 204 \r\nvia: 1.1 fullproxy\r\n\r\n');
  assert.equal(forwarded(ok('HTTP/1.1 200 \r\n\r\n')), 'HTTP/1.1 200 \r\nvia: 1.1 fullproxy\r\n\r\n');
  const h10 = ok('HTTP/1.0 404 Not Found\r\nX: y\r\n\r\n');
  assert.equal(h10.minor, 0);
  assert.equal(forwarded(h10), 'HTTP/1.1 404 Not Found\r\nX: y\r\nvia: 1.1 fullproxy\r\n\r\n');
  assert.equal(ok('HTTP/1.1 100 Continue\r\n\r\n').status, 100);
  assert.equal(forwarded(ok('HTTP/1.1 599 \tOdd  reason\t\xe9\xa0\r\n\r\n')), 'HTTP/1.1 599 \tOdd  reason\t\xe9\xa0\r\nvia: 1.1 fullproxy\r\n\r\n');
});

test('status line violations are refused', () => {
  const lines = [
    'HTTP/1.1 20 OK', 'HTTP/1.1 2000 OK', 'HTTP/1.1  200 OK', 'HTTP/1.1 099 OK', 'HTTP/1.1 abc OK', 'HTTP/1.1 -20 OK', 'HTTP/1.1 +20 OK',
    'HTTP/1.1 200\tOK', 'HTTP/1.1 ', 'HTTP/1.1 20', 'HTTP/1.2 200 OK', 'HTTP/2.0 200 OK', 'http/1.1 200 OK', 'HTTP/1.1\t200 OK', 'HTTP/1.1',
    ' HTTP/1.1 200 OK', '', 'HTTP/1.1 200 O\x00K', 'HTTP/1.1 200 OK\x7f', 'HTTP/1.1 200 OK\r',
    'HTTP/1.1 1e2 Continue', 'HTTP/1.1 2E2 OK', 'HTTP/1.1 2.0 OK', 'HTTP/1.1 20.', 'HTTP/1.1 20  OK', 'HTTP/1.1 20 ', 'HTTP/1.1 99\t OK', 'HTTP/1.1 2\t ',
  ];
  const accepted = lines.filter((line) => scan(`${line}\r\nX: y\r\n\r\n`).error === null);
  assert.deepEqual(accepted, []);
  assert.equal(scan('HTTP/1.1 2E2 OK\r\n\r\n').error, 'malformed status code');
  assert.equal(scan('HTTP/1.2 200 OK\r\n\r\n').error, 'malformed status line');
  assert.equal(scan('HTTP/1.1 200 O\x00K\r\n\r\n').error, 'malformed reason phrase');
});

test('field line violations are refused', () => {
  const cases: [string, string][] = [
    [' Folded: x', 'obs-fold or whitespace before a field name'],
    ['X-A: 1\r\n folded', 'obs-fold or whitespace before a field name'],
    ['Content-Length : 5', 'malformed field name'],
    [': v', 'malformed field name'],
    ['No colon', 'malformed field name'],
    ['X-Nul: a\x00b', 'control character in a field value'],
    ['X-Del: \x7f', 'control character in a field value'],
    ['X-Lf: a\nb', 'control character in a field value'],
    ['X-Cr: a\rb', 'bare CR in a field line'],
  ];
  for (const [line, error] of cases) assert.equal(scan(`HTTP/1.1 200 OK\r\n${line}\r\n\r\n`).error, error, JSON.stringify(line));
  const many = Array.from({ length: 129 }, (_, i) => `X-${i}: v`).join('\r\n');
  assert.equal(scan(`HTTP/1.1 200 OK\r\n${many}\r\n\r\n`).error, 'too many header fields');
  assert.equal(scan(`HTTP/1.1 200 OK\r\n${Array.from({ length: 128 }, (_, i) => `X-${i}: v`).join('\r\n')}\r\n\r\n`).error, null);
});

test('hop-by-hop and Connection-named lines are dropped, the rest kept byte for byte in order; Via joined', () => {
  const h = ok(
    'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5, max=9\r\n' +
      'Transfer-Encoding: gzip, chunked\r\nVia: 1.0 upstream\r\nproxy-connection: x\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic\r\n' +
      'X-Obs:  \xe9t\xe9 \t\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n\r\n',
  );
  assert.equal(h.chunked, true);
  assert.equal(h.transferEncoding, true);
  assert.equal(h.keepAlive, true);
  assert.equal(h.close, false);
  assert.equal(h.keepAliveTimeoutMs, 5000);
  assert.equal(h.via, '1.0 upstream');
  assert.equal(forwarded(h, 'via: x\r\n\r\n'), 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Obs:  \xe9t\xe9 \t\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nvia: x\r\n\r\n');
});

test('framing: Content-Length digits only, identical repeats are one, conflicts and CL beside TE are -2; TE final coding decides chunked', () => {
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n').contentLength, 5);
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n').contentLength, 5);
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n').contentLength, -2);
  for (const v of ['0x5', '+5', '-1', '5 5', '', '99999999999999999999']) assert.equal(ok(`HTTP/1.1 200 OK\r\nContent-Length: ${v}\r\n\r\n`).contentLength, -2, v);
  assert.equal(ok('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n').contentLength, -2);
  assert.equal(ok('HTTP/1.1 200 OK\r\n\r\n').contentLength, -1);
  assert.equal(ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n').chunked, false);
  assert.equal(ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: Chunked \r\n\r\n').chunked, true);
  assert.equal(ok('HTTP/1.1 200 OK\r\nTransfer-Encoding: xchunked\r\n\r\n').chunked, false);
  assert.equal(ok('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n').close, true);
  assert.equal(ok('HTTP/1.1 200 OK\r\nConnection: Keep-Alive\r\n\r\n').keepAlive, true);
});

test('a reused ResponseHead forgets the previous response', () => {
  const h = new ResponseHead();
  const a = Buffer.from('HTTP/1.1 200 OK\r\nConnection: close\r\nVia: a\r\nContent-Length: 1\r\nKeep-Alive: timeout=3\r\n\r\n', 'latin1');
  h.scan(a, 0, a.length);
  const b = Buffer.from('HTTP/1.1 201 Created\r\nX: 1\r\n\r\n', 'latin1');
  assert.ok(h.scan(b, 0, b.length));
  assert.equal(h.status, 201);
  assert.equal(h.close, false);
  assert.equal(h.via, null);
  assert.equal(h.contentLength, -1);
  assert.equal(h.keepAliveTimeoutMs, 0);
  assert.equal(forwarded(h), 'HTTP/1.1 201 Created\r\nX: 1\r\nvia: 1.1 fullproxy\r\n\r\n');
});

test('Connection cannot strip the framing: a listed Content-Length is still sent (issue 13 row 2)', () => {
  for (const conn of ['content-length', 'Content-Length', 'keep-alive, CONTENT-LENGTH, x-a', 'transfer-encoding, content-length, via, connection, keep-alive']) {
    const h = ok(`HTTP/1.1 200 OK\r\nConnection: ${conn}\r\nX-A: 1\r\nContent-Length: 2\r\nX-B: 2\r\n\r\n`);
    assert.equal(h.contentLength, 2, conn);
    const out = forwarded(h);
    assert.match(out, /\r\ncontent-length: 2\r\n/, `${conn}: ${JSON.stringify(out)}`);
    assert.match(out, /\r\nX-B: 2\r\n/, conn);
    assert.equal(/\r\nX-A: /.test(out), !conn.includes('x-a'), `${conn}: other named fields are still dropped`);
    assert.doesNotMatch(out, /\r\nconnection:/i, conn);
  }
});

test('Content-Length is re-serialized as the number, once (issue 13 row 7)', () => {
  const cases: Array<[string, string]> = [
    ['Content-Length: 0005\r\n', 'content-length: 5\r\n'],
    [`Content-Length: ${'0'.repeat(43)}2\r\n`, 'content-length: 2\r\n'],
    ['Content-Length: 000\r\n', 'content-length: 0\r\n'],
    ['Content-Length: 7\r\ncontent-length: 0007\r\n', 'content-length: 7\r\n'],
    [`Content-Length: ${Number.MAX_SAFE_INTEGER}\r\n`, `content-length: ${Number.MAX_SAFE_INTEGER}\r\n`],
    ['Content-Length: 1234567890\r\n', 'content-length: 1234567890\r\n'],
  ];
  for (const [lines, want] of cases) {
    const h = ok(`HTTP/1.1 200 OK\r\nX: y\r\n${lines}\r\n`);
    assert.equal(forwarded(h), `HTTP/1.1 200 OK\r\nX: y\r\n${want}via: 1.1 fullproxy\r\n\r\n`, JSON.stringify(lines));
  }
  // Beyond a safe integer: -2 (the server connection gets 502, as before).
  assert.equal(ok(`HTTP/1.1 200 OK\r\nContent-Length: ${'9'.repeat(17)}\r\n\r\n`).contentLength, -2);
  assert.equal(ok(`HTTP/1.1 200 OK\r\nContent-Length: ${Number.MAX_SAFE_INTEGER + 1}\r\n\r\n`).contentLength, -2, '2^53 is not a safe length');
  assert.equal(ok(`HTTP/1.1 200 OK\r\nContent-Length: 9007199254740993\r\n\r\n`).contentLength, -2);
  // A malformed value on a response without a body (HEAD, 204, 304) is not passed on.
  assert.equal(forwarded(ok('HTTP/1.1 304 Not Modified\r\nContent-Length: 5x\r\n\r\n')), 'HTTP/1.1 304 Not Modified\r\nvia: 1.1 fullproxy\r\n\r\n');
});

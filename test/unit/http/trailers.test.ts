// The trailer policy (issue 13, row 5): names that frame, route, authenticate, modify the request,
// control the response or describe the content never pass; application trailers do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardableTrailer } from '../../../src/http/trailers.ts';
import { buildRequestHeaders, forwardingContext } from '../../../src/http/headers.ts';
import { ForwardedPolicy } from '../../../src/http/forwarded.ts';
import { ResponseHead } from '../../../src/http/response-head.ts';
import { HOP_BY_HOP } from '../../../src/http/headers.ts';

test('framing, hop-by-hop, routing and proxy-owned names are dropped', () => {
  const dropped = [
    ...HOP_BY_HOP,
    'content-length', 'transfer-encoding', 'trailer', 'te', 'host', 'forwarded', 'via', 'max-forwards', 'x-real-ip',
    'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'x-forwarded-host', 'x-forwarded-prefix',
    'authorization', 'www-authenticate', 'authentication-info', 'proxy-authorization', 'proxy-authenticate', 'proxy-authentication-info', 'cookie', 'set-cookie',
    'expect', 'range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'accept', 'accept-encoding', 'accept-language',
    'location', 'retry-after', 'vary', 'age', 'cache-control', 'expires', 'pragma', 'date', 'etag', 'last-modified', 'accept-ranges',
    'content-type', 'content-encoding', 'content-range', 'content-location', 'content-language', 'content-disposition', 'content-md5',
    'x_forwarded_for', 'x-forwarded_for', 'my_header',
  ];
  for (const name of dropped) assert.equal(forwardableTrailer(name), false, name);
});

test('application trailers pass', () => {
  for (const name of ['server-timing', 'content-digest', 'repr-digest', 'digest', 'grpc-status', 'grpc-message', 'grpc-status-details-bin', 'x-checksum', 'x-ok', 'etag-like', 'hosts', 'x-via', 'viaduct']) {
    assert.equal(forwardableTrailer(name), true, name);
  }
});

// The names a Connection header lists are collected by the head parsers (headers.ts for requests,
// response-head.ts for responses); BodyReader.reset() takes them to drop trailers of those names.
const fc = forwardingContext(new ForwardedPolicy({ xForwardedFor: 'append', trustedProxies: [] }), { clientAddress: '127.0.0.1', clientPort: 1, localAddress: '127.0.0.1', localPort: 80 }, 'http');
function connectionNamesOf(raw: readonly string[]): string[] | null {
  const names = buildRequestHeaders(raw, '1.1', null, fc).connectionNames;
  return names === null ? null : [...names];
}
function connectionNamesIn(buf: Buffer, start: number, end: number): string[] | null {
  const head = new ResponseHead();
  assert.ok(head.scan(buf, start, end), head.error ?? '');
  return head.connectionNames === null ? null : [...head.connectionNames];
}

test('the names a Connection header lists, from a request field list and from response head bytes', () => {
  assert.equal(connectionNamesOf(['Host', 'a', 'Connection', 'close']), null);
  assert.deepEqual(connectionNamesOf(['Connection', 'X-Hop, close', 'Host', 'a', 'connection', ' keep-alive ,TE,, x-b ']), ['x-hop', 'te', 'x-b']);
  assert.equal(connectionNamesOf(['X-Connection', 'x-hop', 'Connections', 'x-b', 'Host', 'a']), null);
  const head = (lines: string) => Buffer.from(`xxHTTP/1.1 200 OK\r\n${lines}\r\nyy`, 'latin1');
  const names = (lines: string) => {
    const b = head(lines);
    return connectionNamesIn(b, 2, b.length - 2);
  };
  assert.equal(names('Transfer-Encoding: chunked\r\n'), null);
  assert.equal(names('Connection: keep-alive\r\nConnection:close\r\n'), null);
  assert.deepEqual(names('CONNECTION: X-Hop, close\r\nServer: s\r\nconnection:\tx-b\t\r\n'), ['x-hop', 'x-b']);
  assert.equal(names('X-Connection: x-hop\r\nConnections: x-b\r\nConnectionx: y\r\n'), null);
});

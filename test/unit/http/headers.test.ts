// The request/response header pass: framing checks, hop-by-hop stripping, what the proxy adds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRequestHeaders, forwardingContext } from '../../../src/http/headers.ts';
import { ForwardedPolicy } from '../../../src/http/forwarded.ts';

const append = new ForwardedPolicy({ xForwardedFor: 'append', trustedProxies: ['10.0.0.0/8'] });
const from = (peer: string) => forwardingContext(append, { clientAddress: peer, clientPort: 40000, localAddress: '198.51.100.5', localPort: 8080 }, 'http');
const fc = from('192.0.2.1');
const build = (raw: string[], version = '1.1', peer = '192.0.2.1') => buildRequestHeaders(raw, version, null, from(peer));
const pairs = (flat: readonly string[]) => Object.fromEntries(Array.from({ length: flat.length / 2 }, (_, i) => [flat[2 * i]!.toLowerCase(), flat[2 * i + 1]!]));

test('adds X-Forwarded-For/-Proto/-Port and Via; keeps end-to-end headers in order', () => {
  const r = build(['Host', 'a', 'Accept', '*/*', 'X-Custom', '1']);
  assert.equal(r.error, null);
  assert.deepEqual(r.headers, ['Host', 'a', 'Accept', '*/*', 'X-Custom', '1', 'x-forwarded-for', '192.0.2.1', 'x-forwarded-proto', 'http', 'x-forwarded-port', '8080', 'via', '1.1 fullproxy']);
});

test('X-Forwarded-For: replaced from an untrusted peer, appended from a trusted one (all XFF headers joined)', () => {
  assert.equal(pairs(build(['Host', 'a', 'X-Forwarded-For', '6.6.6.6']).headers!)['x-forwarded-for'], '192.0.2.1');
  const trusted = build(['Host', 'a', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2'], '1.1', '10.1.2.3');
  assert.equal(pairs(trusted.headers!)['x-forwarded-for'], '1.1.1.1, 2.2.2.2, 10.1.2.3');
});

test('hop-by-hop headers and those named in Connection are dropped; Connection cannot drop what the proxy adds', () => {
  const r = build(['Host', 'a', 'Connection', 'keep-alive, X-Secret, x-forwarded-for', 'X-Secret', 's', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Upgrade', 'h2c', 'Proxy-Connection', 'x', 'X-Forwarded-For', '6.6.6.6']);
  const h = pairs(r.headers!);
  for (const gone of ['connection', 'x-secret', 'keep-alive', 'te', 'upgrade', 'proxy-connection']) assert.equal(h[gone], undefined, gone);
  assert.equal(h['x-forwarded-for'], '192.0.2.1');
});

test('framing: 400 cases of RFC 9112 the parser leaves to us', () => {
  const cases: [string[], string, string][] = [
    [['Accept', '*/*'], '1.1', 'no Host header'],
    [['Host', 'a', 'Host', 'b'], '1.1', 'more than one Host header'],
    [['Host', 'a', 'Transfer-Encoding', 'chunked'], '1.0', 'Transfer-Encoding in HTTP/1.0'],
    [['Host', 'a', 'Transfer-Encoding', 'gzip, chunked'], '1.1', 'Transfer-Encoding other than chunked'],
    [['Host', 'a', 'Transfer-Encoding', 'chunked', 'Content-Length', '5'], '1.1', 'both Content-Length and Transfer-Encoding'],
    [['Host', 'a', 'Content-Length', '5', 'Content-Length', '6'], '1.1', 'conflicting or malformed Content-Length'],
    [['Host', 'a', 'Content-Length', '+5'], '1.1', 'conflicting or malformed Content-Length'],
    [['Host', 'a', 'Transfer-Encoding', 'chunked', 'Transfer-Encoding', 'chunked'], '1.1', 'more than one Transfer-Encoding'],
  ];
  for (const [raw, version, error] of cases) {
    const r = build(raw, version);
    assert.equal(r.headers, null, error);
    assert.equal(r.error, error);
  }
});

test('body detection: chunked or non-zero Content-Length; identical duplicate Content-Length is one', () => {
  assert.equal(build(['Host', 'a', 'Transfer-Encoding', 'chunked']).hasBody, true);
  assert.equal(build(['Host', 'a', 'Content-Length', '0']).hasBody, false);
  const dup = build(['Host', 'a', 'Content-Length', '3', 'Content-Length', '3']);
  assert.equal(dup.hasBody, true);
  assert.equal(dup.headers!.filter((h) => h === 'content-length').length, 1);
});

test('request: Connection options, Upgrade only when Connection names it, Expect 100-continue, HTTP/1.0 closes by default', () => {
  assert.equal(build(['Host', 'a']).close, false);
  assert.equal(build(['Host', 'a'], '1.0').close, true);
  assert.equal(build(['Host', 'a', 'Connection', 'keep-alive'], '1.0').close, false);
  assert.equal(build(['Host', 'a', 'Connection', 'close']).close, true);
  assert.equal(build(['Host', 'a', 'Upgrade', 'websocket']).upgrade, null);
  assert.equal(build(['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket']).upgrade, 'websocket');
  assert.equal(build(['Host', 'a', 'Expect', '100-continue', 'Content-Length', '3']).expectContinue, true);
  const r = build(['Host', 'a', 'Content-Length', '12']);
  assert.equal(r.contentLength, 12);
  assert.equal(r.chunked, false);
  assert.equal(r.host, 'a');
});

test('an absolute-form target\'s authority replaces the Host value in place; Host is still required and checked', () => {
  const r = buildRequestHeaders(['Accept', '*/*', 'Host', 'received.test', 'X-A', '1'], '1.1', 'target.test:8080', fc);
  assert.equal(r.error, null);
  assert.equal(r.host, 'target.test:8080');
  assert.deepEqual(r.headers!.slice(0, 6), ['Accept', '*/*', 'Host', 'target.test:8080', 'X-A', '1']);
  assert.match(buildRequestHeaders(['Accept', '*/*'], '1.1', 'target.test', fc).error ?? '', /no Host header/);
  assert.match(buildRequestHeaders(['Host', 'a b'], '1.1', 'target.test', fc).error ?? '', /malformed Host header/);
  assert.match(buildRequestHeaders(['Host', 'a'], '1.1', 'bad host', fc).error ?? '', /malformed host in request target/);
  assert.match(buildRequestHeaders(['Host', 'a'], '1.1', 'a.test:8x', fc).error ?? '', /malformed host in request target/);
});

test('HTTP/1.0 without Host: forwarded with the address the client connected to, or the absolute-form authority (SPEC "Decisions")', () => {
  const plain = buildRequestHeaders(['Accept', '*/*'], '1.0', null, fc);
  assert.equal(plain.error, null);
  assert.equal(plain.host, '198.51.100.5:8080');
  assert.deepEqual(plain.headers!.slice(0, 4), ['Accept', '*/*', 'host', '198.51.100.5:8080']);
  assert.equal(plain.headers!.filter((_, i) => i % 2 === 0 && plain.headers![i]!.toLowerCase() === 'host').length, 1);
  const absolute = buildRequestHeaders(['Accept', '*/*'], '1.0', 'target.test', fc);
  assert.equal(absolute.host, 'target.test');
  assert.deepEqual(pairs(absolute.headers!)['host'], 'target.test');
  const v6 = buildRequestHeaders([], '1.0', null, forwardingContext(append, { clientAddress: '2001:db8::1', clientPort: 1, localAddress: '2001:db8::5', localPort: 80 }, 'http'));
  assert.equal(v6.host, '[2001:db8::5]:80');
  // HTTP/1.1 still needs one, and two are refused in either version.
  assert.match(buildRequestHeaders(['Accept', '*/*'], '1.1', null, fc).error ?? '', /no Host header/);
  assert.match(buildRequestHeaders(['Host', 'a', 'Host', 'b'], '1.0', null, fc).error ?? '', /more than one Host header/);
});

test('Connection naming Host keeps the Host, in place; an absolute-form authority lands in that slot (issue 13 row 3)', () => {
  const r = build(['Accept', '*/*', 'Connection', 'host, x-a', 'Host', 'a.test', 'X-A', '1', 'X-B', '2']);
  assert.equal(r.error, null);
  assert.deepEqual(r.headers!.slice(0, 6), ['Accept', '*/*', 'Host', 'a.test', 'X-B', '2']);
  // Host last, named in Connection, absolute-form target: before, `undefined: target.test` and no Host.
  const abs = buildRequestHeaders(['X-A', '1', 'Connection', 'Host', 'Host', 'received.test'], '1.1', 'target.test', fc);
  assert.equal(abs.error, null);
  assert.deepEqual(abs.headers!.slice(0, 4), ['X-A', '1', 'Host', 'target.test']);
  assert.ok(!abs.headers!.includes('undefined'));
  assert.equal(abs.host, 'target.test');
  // Host first, named: the next field keeps its own value.
  const next = buildRequestHeaders(['Host', 'received.test', 'Connection', 'host', 'X-A', '1'], '1.1', 'evil', fc);
  assert.deepEqual(next.headers!.slice(0, 4), ['Host', 'evil', 'X-A', '1']);
});

test('Connection cannot remove framing or proxy fields: Content-Length, chunked, X-Forwarded-*, Via stay', () => {
  const r = build(['Host', 'a', 'Connection', 'content-length, x-forwarded-for, x-forwarded-proto, x-forwarded-port, via, host', 'Content-Length', '3', 'Via', '1.0 front']);
  const h = pairs(r.headers!);
  assert.equal(h['content-length'], '3');
  assert.equal(h['x-forwarded-for'], '192.0.2.1');
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-port'], '8080');
  assert.equal(h['via'], '1.0 front, 1.1 fullproxy');
  assert.equal(h['host'], 'a');
  const te = build(['Host', 'a', 'Connection', 'transfer-encoding', 'Transfer-Encoding', 'chunked']);
  assert.equal(pairs(te.headers!)['transfer-encoding'], 'chunked');
});

test('Content-Length is forwarded as the number (issue 13 row 7); beyond a safe integer stays 400', () => {
  const cl = (v: string) => pairs(build(['Host', 'a', 'Content-Length', v]).headers!)['content-length'];
  assert.equal(cl('0005'), '5');
  assert.equal(cl(`${'0'.repeat(43)}5`), '5');
  assert.equal(cl('00'), '0');
  assert.equal(cl('0'), '0');
  assert.equal(cl('123'), '123');
  assert.equal(build(['Host', 'a', 'Content-Length', '0005']).contentLength, 5);
  // Repeats must still be the same digits (as strict as before: `5` and `05` conflict).
  assert.equal(build(['Host', 'a', 'Content-Length', '5', 'Content-Length', '05']).error, 'conflicting or malformed Content-Length');
  assert.equal(build(['Host', 'a', 'Content-Length', '9007199254740992']).error, 'conflicting or malformed Content-Length');
  assert.equal(build(['Host', 'a', 'Content-Length', `000${Number.MAX_SAFE_INTEGER}`]).contentLength, Number.MAX_SAFE_INTEGER);
});

test('names with `_` are dropped by default, kept with underscoresInHeaders "keep" (issue 13 row 8)', () => {
  const raw = ['Host', 'a', 'X_Forwarded_For', '6.6.6.6', 'X-Forwarded-For', '7.7.7.7', 'x_custom', '1', 'X-Ok', '2'];
  const dropped = buildRequestHeaders(raw, '1.1', null, forwardingContext(append, { clientAddress: '192.0.2.1', clientPort: 1, localAddress: '198.51.100.5', localPort: 8080 }, 'http', 'drop'));
  assert.deepEqual(dropped.headers!.slice(0, 4), ['Host', 'a', 'X-Ok', '2']);
  assert.ok(!dropped.headers!.some((n) => n.includes('_')));
  assert.deepEqual(build(raw).headers, dropped.headers, 'drop is the default');
  const kept = buildRequestHeaders(raw, '1.1', null, forwardingContext(append, { clientAddress: '192.0.2.1', clientPort: 1, localAddress: '198.51.100.5', localPort: 8080 }, 'http', 'keep'));
  assert.deepEqual(kept.headers!.slice(0, 8), ['Host', 'a', 'X_Forwarded_For', '6.6.6.6', 'x_custom', '1', 'X-Ok', '2']);
  assert.equal(pairs(kept.headers!)['x-forwarded-for'], '192.0.2.1', 'the real XFF is the proxy\'s either way');
});

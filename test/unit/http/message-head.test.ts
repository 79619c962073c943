// Request heads parsed strictly per RFC 9112: CRLF only, no obs-fold, token names,
// no controls in values; everything a lenient parser would repair is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_FIELDS,
  findHeadEnd,
  hasBareLfHeadEnd,
  isHeadError,
  parseRequestHead,
  skipEmptyLines,
  type HeadError,
  type RequestLine,
} from '../../../src/http/message-head.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Parses a whole request head (must hold a CRLFCRLF), with `pad` unrelated bytes around it. */
function request(head: string, pad = ''): RequestLine | HeadError {
  const buf = bytes(pad + head + 'PIPELINED');
  const end = findHeadEnd(buf, pad.length);
  assert.equal(end, pad.length + head.length, 'test head must end with its only CRLFCRLF');
  return parseRequestHead(buf, pad.length, end);
}

function okRequest(head: string, pad = ''): RequestLine {
  const r = request(head, pad);
  if (isHeadError(r)) assert.fail(`${JSON.stringify(head)}: unexpected error ${r.error}`);
  return r;
}

function badRequest(head: string, error: string, tooLarge = false): void {
  const r = request(head);
  assert.ok(isHeadError(r), `${JSON.stringify(head)} must be refused, got ${JSON.stringify(r)}`);
  assert.deepEqual(r, { error, tooLarge }, JSON.stringify(head));
}

test('request line: methods, origin-form and absolute-form targets, HTTP/1.0 and HTTP/1.1', () => {
  const cases: [string, string, string, 0 | 1][] = [
    ['GET / HTTP/1.1', 'GET', '/', 1],
    ['POST /submit?a=1&b=%20 HTTP/1.0', 'POST', '/submit?a=1&b=%20', 0],
    ['PUT /x/y.json HTTP/1.1', 'PUT', '/x/y.json', 1],
    ['DELETE /items/42 HTTP/1.1', 'DELETE', '/items/42', 1],
    ['OPTIONS * HTTP/1.1', 'OPTIONS', '*', 1],
    ['CONNECT example.com:443 HTTP/1.1', 'CONNECT', 'example.com:443', 1],
    ['GET http://example.com:8080/path?q=1#f HTTP/1.1', 'GET', 'http://example.com:8080/path?q=1#f', 1],
    ['PROPFIND /dav/ HTTP/1.1', 'PROPFIND', '/dav/', 1],
    ["M-SEARCH! #$%&'*+-.^_`|~09az HTTP/1.0", "M-SEARCH!", "#$%&'*+-.^_`|~09az", 0],
    ['get /lowercase-method HTTP/1.1', 'get', '/lowercase-method', 1],
    ['GET /caf\xc3\xa9 HTTP/1.1', 'GET', '/caf\xc3\xa9', 1],
  ];
  for (const [line, method, target, minor] of cases) {
    assert.deepEqual(okRequest(`${line}\r\nHost: a\r\n\r\n`), { method, target, minor, fields: ['Host', 'a'] }, line);
  }
  assert.deepEqual(okRequest('GET / HTTP/1.0\r\n\r\n'), { method: 'GET', target: '/', minor: 0, fields: [] });
});

test('request head at an offset inside a larger buffer: only [start, end) is read', () => {
  const pad = 'HTTP/1.1 garbage\r\nX: y\r\n\r\n';
  const r = okRequest('HEAD /p HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n', pad.replace('\r\n\r\n', '\r\n'));
  assert.deepEqual(r, { method: 'HEAD', target: '/p', minor: 1, fields: ['Host', 'h', 'Accept', '*/*'] });
});

test('fields: names kept as sent and in order, duplicates kept, values trimmed of SP/HTAB only', () => {
  const r = okRequest(
    'GET / HTTP/1.1\r\n' +
      'hOsT: example.com\r\n' +
      'X-Empty:\r\n' +
      'X-Blank: \t \r\n' +
      'X-Tabs:\t\tv\t\r\n' +
      'X-Inner:  a  b \t c  \r\n' +
      'Set-Cookie: a=1\r\n' +
      'Set-Cookie: b=2\r\n' +
      "!#$%&'*+-.^_`|~09aZ:x\r\n" +
      'X-Colons: a:b::c:\r\n' +
      '\r\n',
  );
  assert.deepEqual(r.fields, [
    'hOsT', 'example.com',
    'X-Empty', '',
    'X-Blank', '',
    'X-Tabs', 'v',
    'X-Inner', 'a  b \t c',
    'Set-Cookie', 'a=1',
    'Set-Cookie', 'b=2',
    "!#$%&'*+-.^_`|~09aZ", 'x',
    'X-Colons', 'a:b::c:',
  ]);
});

test('fields: obs-text bytes 0x80-0xff are kept byte for byte, a trailing 0xA0 is not whitespace', () => {
  const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('');
  const r = okRequest(`GET / HTTP/1.1\r\nX-Obs: ${all}\r\nX-Nbsp: \xa0v\xa0 \r\nX-Only-Nbsp:\xa0\r\nX-Utf8: caf\xc3\xa9\r\n\r\n`);
  assert.deepEqual(r.fields, ['X-Obs', all, 'X-Nbsp', '\xa0v\xa0', 'X-Only-Nbsp', '\xa0', 'X-Utf8', 'caf\xc3\xa9']);
  // latin1: one char per byte, so the values map back to the exact bytes
  assert.deepEqual(Buffer.from(r.fields[1]!, 'latin1'), Buffer.from(Array.from({ length: 128 }, (_, i) => 0x80 + i)));
  assert.equal(r.fields[3]!.length, 3);
  assert.equal(r.fields[3]!.charCodeAt(2), 0xa0);
});

test('fields: exactly MAX_FIELDS are accepted, one more is too large (431)', () => {
  const head = (n: number) => 'GET / HTTP/1.1\r\n' + Array.from({ length: n }, (_, i) => `X-F${i}: ${i}\r\n`).join('') + '\r\n';
  const r = okRequest(head(MAX_FIELDS));
  assert.equal(r.fields.length, MAX_FIELDS * 2);
  assert.equal(r.fields[MAX_FIELDS * 2 - 2], `X-F${MAX_FIELDS - 1}`);
  assert.equal(r.fields[MAX_FIELDS * 2 - 1], `${MAX_FIELDS - 1}`);
  badRequest(head(MAX_FIELDS + 1), 'too many header fields', true);
});

test('request line violations', () => {
  const cases: [string, string][] = [
    ['GET  / HTTP/1.1', 'malformed request line'],
    ['GET /  HTTP/1.1', 'malformed request line'],
    ['GET / HTTP/1.1 ', 'malformed request line'],
    [' GET / HTTP/1.1', 'malformed request line'],
    ['GET / HTTP/1.1 extra', 'malformed request line'],
    ['GET /', 'malformed request line'],
    ['GET', 'malformed request line'],
    ['', 'malformed request line'],
    ['GET\t/\tHTTP/1.1', 'malformed request line'],
    ['GET / ', 'unsupported HTTP version'],
    ['GET / HTTP/2.0', 'unsupported HTTP version'],
    ['GET / HTTP/1.2', 'unsupported HTTP version'],
    ['GET / HTTP/0.9', 'unsupported HTTP version'],
    ['GET / http/1.1', 'unsupported HTTP version'],
    ['GET / HTTP/1.1\r', 'unsupported HTTP version'],
    ['GET / HTTP/11', 'unsupported HTTP version'],
    ['GET  HTTP/1.1', 'malformed request target'],
    ['GET /a\x00b HTTP/1.1', 'malformed request target'],
    ['GET /a\x7fb HTTP/1.1', 'malformed request target'],
    ['GET /a\tb HTTP/1.1', 'malformed request target'],
    ['GET /a\rb HTTP/1.1', 'malformed request target'],
    ['G@T / HTTP/1.1', 'malformed method'],
    ['GE(T / HTTP/1.1', 'malformed method'],
    ['G\xe9T / HTTP/1.1', 'malformed method'],
  ];
  for (const [line, error] of cases) badRequest(`${line}\r\nHost: a\r\n\r\n`, error);
});

test('bare LF and bare CR are never line ends', () => {
  // bare LF / CR inside the request line
  badRequest('GET / HTTP/1.1\nHost: a\r\n\r\n', 'malformed request line');
  badRequest('GET /\nX HTTP/1.1\r\nHost: a\r\n\r\n', 'malformed request target');
  badRequest('GET / HTTP/1.1\rHost: a\r\n\r\n', 'malformed request line');
  badRequest('GET /\rHTTP/1.1\r\nHost: a\r\n\r\n', 'malformed request line');
  // inside a field line: in the value, in the name, at its end
  badRequest('GET / HTTP/1.1\r\nHost: a\nX-Smuggled: b\r\n\r\n', 'control character in field Host');
  badRequest('GET / HTTP/1.1\r\nHost: a\n\r\n\r\n', 'control character in field Host');
  badRequest('GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n', 'control character in field Host');
  badRequest('GET / HTTP/1.1\r\nHost: a\r\r\n\r\n', 'control character in field Host');
  badRequest('GET / HTTP/1.1\r\nX\nY: a\r\n\r\n', 'malformed field name');
  badRequest('GET / HTTP/1.1\r\nX\rY: a\r\n\r\n', 'malformed field name');
  badRequest('GET / HTTP/1.1\r\n\nHost: a\r\n\r\n', 'malformed field name');
  // the same in a response
});

test('field line violations', () => {
  const cases: [string, string][] = [
    [' Host: a', 'obs-fold or whitespace before a field name'],
    ['Host: a\r\n  continued', 'obs-fold or whitespace before a field name'],
    ['Host: a\r\n\tcontinued', 'obs-fold or whitespace before a field name'],
    ['Host : a', 'malformed field name'],
    ['Host\t: a', 'malformed field name'],
    [': a', 'malformed field name'],
    [':', 'malformed field name'],
    ['X Y: a', 'malformed field name'],
    ['X(Y): a', 'malformed field name'],
    ['X-\xe9: a', 'malformed field name'],
    ['Host', 'field line without a colon'],
    ['Host a', 'field line without a colon'],
    ['Host: a\r\nNoColon\r\nX: b:c', 'field line without a colon'],
    ['X-Nul: a\x00b', 'control character in field X-Nul'],
    ['X-Del: a\x7fb', 'control character in field X-Del'],
    ['X-Del: a\x7f', 'control character in field X-Del'],
    ['X-Esc: \x1b[0m', 'control character in field X-Esc'],
    ['X-Vt: a\x0bb', 'control character in field X-Vt'],
    ['X-Ff: \x0c', 'control character in field X-Ff'],
  ];
  for (const [lines, error] of cases) badRequest(`GET / HTTP/1.1\r\n${lines}\r\n\r\n`, error);
});

test('isHeadError tells errors from parsed heads', () => {
  assert.equal(isHeadError(request('GET / HTTP/1.1\r\n\r\n')), false);
  assert.equal(isHeadError(request('GET / HTTP/9.9\r\n\r\n')), true);
});

test('findHeadEnd: index just past the first CRLFCRLF at or after `from`, at every position', () => {
  for (let n = 0; n <= 40; n++) {
    const buf = Buffer.concat([Buffer.alloc(n, 'a'), bytes('\r\n\r\n'), bytes('tail\r\n\r\n')]);
    assert.equal(findHeadEnd(buf, 0), n + 4, `at ${n}`);
    assert.equal(findHeadEnd(buf, n), n + 4, `from ${n}`);
    // resuming past the first terminator finds the second one
    assert.equal(findHeadEnd(buf, n + 1), buf.length, `from ${n + 1}`);
    // the terminator is found only once all 4 bytes are there
    for (let cut = 0; cut < 4; cut++) assert.equal(findHeadEnd(buf.subarray(0, n + cut), 0), -1, `cut ${n}+${cut}`);
    assert.equal(findHeadEnd(buf.subarray(0, n + 4), Math.max(0, n - 3)), n + 4);
  }
  assert.equal(findHeadEnd(Buffer.alloc(0), 0), -1);
  assert.equal(findHeadEnd(bytes('a\n\n\r\n\r\r\n\n'), 0), -1);
  assert.equal(findHeadEnd(bytes('\r\n\r\r\n\r\n'), 0), 7);
});

test('hasBareLfHeadEnd: a bare-LF empty line anywhere', () => {
  assert.equal(hasBareLfHeadEnd(bytes('GET / HTTP/1.1\nHost: a\n\n')), true);
  assert.equal(hasBareLfHeadEnd(bytes('GET / HTTP/1.1\r\nHost: a\r\n\n')), true);
  assert.equal(hasBareLfHeadEnd(bytes('GET / HTTP/1.1\n\n')), true);
  assert.equal(hasBareLfHeadEnd(bytes('\n\nGET')), true);
  assert.equal(hasBareLfHeadEnd(bytes('GET / HTTP/1.1\r\nHost: a\r\n\r\n')), false);
  assert.equal(hasBareLfHeadEnd(bytes('GET / HTTP/1.1\r\nHost: a\r\n')), false);
  assert.equal(hasBareLfHeadEnd(bytes('GET / HTTP/1.1\nHost: a\n')), false);
  assert.equal(hasBareLfHeadEnd(Buffer.alloc(0)), false);
});

test('skipEmptyLines: skips whole CRLFs only', () => {
  assert.equal(skipEmptyLines(bytes('GET / HTTP/1.1\r\n'), 0), 0);
  assert.equal(skipEmptyLines(bytes('\r\nGET'), 0), 2);
  assert.equal(skipEmptyLines(bytes('\r\n\r\n\r\nGET'), 0), 6);
  assert.equal(skipEmptyLines(bytes('\r\n\r\n\r\nGET'), 2), 6);
  assert.equal(skipEmptyLines(bytes('xx\r\nGET'), 2), 4);
  assert.equal(skipEmptyLines(bytes('\r\n\r\n'), 0), 4);
  assert.equal(skipEmptyLines(bytes('\r\n\r'), 0), 2);
  assert.equal(skipEmptyLines(bytes('\n\r\nGET'), 0), 0);
  assert.equal(skipEmptyLines(bytes('\r\r\nGET'), 0), 0);
  assert.equal(skipEmptyLines(bytes('\r\n\nGET'), 0), 2);
  assert.equal(skipEmptyLines(Buffer.alloc(0), 0), 0);
});

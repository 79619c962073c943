// Body framing: where a Content-Length / chunked / close-delimited body ends, however the socket
// splits it, so that the next pipelined message starts at the right byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyReader, CHUNKED, LENGTH, NONE, UNTIL_CLOSE, type BodyMode, type BodySink } from '../../../src/http/body-reader.ts';
import { seededRandom } from '../../helpers/rng.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');
const NEXT = bytes('GET /next HTTP/1.1\r\nHost: a\r\n\r\n');
/** Garbage around each piece: a read that strays out of [start, end) sees it. */
const PAD = bytes('\r\n0\r\n\r\nZ');

interface Outcome {
  /** Index in `data` just past the body, -1 when it is still incomplete at the end of `data`. */
  end: number;
  error: string | null;
  /** The bytes the reader said belong to the body (what passthrough forwards). */
  consumed: Buffer;
  /** What the sink received (empty without a sink). */
  payload: Buffer;
}

/**
 * Feeds `data` to `reader` cut at `cuts` (sorted indexes), each piece copied into its own buffer
 * between garbage, and checks the read() contract on the way: the index returned is within the
 * piece, short of its end only once done, and sink spans lie within what was consumed.
 */
function feed(reader: BodyReader, data: Buffer, cuts: readonly number[], withSink: boolean): Outcome {
  const consumed: Buffer[] = [];
  const payload: Buffer[] = [];
  let lo = 0;
  let hi = 0;
  const sink: BodySink = {
    onBodyData(buf, start, end) {
      assert.ok(start >= lo && end <= hi && start < end, `sink span [${start}, ${end}) outside [${lo}, ${hi})`);
      payload.push(Buffer.from(buf.subarray(start, end)));
    },
  };
  const bounds = [0, ...cuts, data.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const a = bounds[k]!;
    const b = bounds[k + 1]!;
    const buf = Buffer.concat([PAD, data.subarray(a, b), PAD]);
    lo = PAD.length;
    hi = PAD.length + (b - a);
    const r = reader.read(buf, lo, hi, withSink ? sink : null);
    if (r === -1) {
      assert.equal(typeof reader.error, 'string');
      assert.equal(reader.done, false);
      return { end: -1, error: reader.error, consumed: Buffer.concat(consumed), payload: Buffer.concat(payload) };
    }
    assert.ok(r >= lo && r <= hi, `read returned ${r} outside [${lo}, ${hi}]`);
    assert.equal(reader.error, null);
    consumed.push(buf.subarray(lo, r));
    if (reader.done) {
      return { end: a + (r - lo), error: null, consumed: Buffer.concat(consumed), payload: Buffer.concat(payload) };
    }
    assert.equal(r, hi, 'an unfinished body consumes the whole piece');
  }
  return { end: -1, error: null, consumed: Buffer.concat(consumed), payload: Buffer.concat(payload) };
}

function run(mode: BodyMode, data: Buffer, cuts: readonly number[], withSink: boolean, length = 0): Outcome {
  const reader = new BodyReader();
  reader.reset(mode, length);
  return feed(reader, data, cuts, withSink);
}

const everyByte = (n: number) => Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1);

/** A chunked body: each chunk as [size line text after the hex, data]; hex digits formatted by `hex`. */
function chunked(chunks: readonly (readonly [Buffer, string])[], last = '0', trailers = '', hex = (n: number) => n.toString(16)): Buffer {
  const parts: Buffer[] = [];
  for (const [data, ext] of chunks) parts.push(bytes(hex(data.length) + ext + '\r\n'), data, bytes('\r\n'));
  parts.push(bytes(last + '\r\n' + trailers + '\r\n'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// NONE / LENGTH / UNTIL_CLOSE

test('NONE and zero LENGTH are done at once and consume nothing', () => {
  const r = new BodyReader();
  for (const [mode, length] of [[NONE, 0], [LENGTH, 0], [NONE, 5]] as const) {
    r.reset(mode, length);
    assert.equal(r.done, true);
    assert.equal(r.read(NEXT, 3, NEXT.length, null), 3);
    assert.equal(r.finishAtEof(), true);
  }
  r.reset(LENGTH, 1);
  assert.equal(r.done, false);
  assert.equal(r.read(NEXT, 0, 0, null), 0, 'an empty read consumes nothing');
  assert.equal(r.done, false);
});

test('LENGTH: split at every position, stops exactly at the body end before a pipelined message', () => {
  const body = bytes('hello, world\r\n0\r\n\r\nthis is not chunked\x00\xff');
  const data = Buffer.concat([body, NEXT]);
  for (const withSink of [false, true]) {
    for (let i = 0; i <= data.length; i++) {
      const o = run(LENGTH, data, [i], withSink, body.length);
      assert.equal(o.error, null);
      assert.equal(o.end, body.length, `split at ${i}`);
      assert.deepEqual(o.consumed, body, `split at ${i}`);
      assert.deepEqual(o.payload, withSink ? body : Buffer.alloc(0), `split at ${i}`);
    }
    const o = run(LENGTH, data, everyByte(data.length), withSink, body.length);
    assert.equal(o.end, body.length);
    assert.deepEqual(o.consumed, body);
  }
});

test('LENGTH: remaining counts down; a truncated body is not done at EOF', () => {
  const r = new BodyReader();
  r.reset(LENGTH, 10);
  assert.equal(r.read(bytes('abcd'), 0, 4, null), 4);
  assert.equal(r.remaining, 6);
  assert.equal(r.done, false);
  assert.equal(r.finishAtEof(), false);
  assert.equal(r.done, false);
  assert.equal(r.read(bytes('xxefghijNEXT'), 2, 12, null), 8);
  assert.equal(r.remaining, 0);
  assert.equal(r.done, true);
  assert.equal(r.read(bytes('more'), 1, 4, null), 1, 'a finished body takes nothing more');
  // large lengths are plain numbers
  r.reset(LENGTH, 2 ** 40);
  assert.equal(r.read(Buffer.alloc(1000), 0, 1000, null), 1000);
  assert.equal(r.remaining, 2 ** 40 - 1000);
  assert.equal(r.finishAtEof(), false);
});

test('UNTIL_CLOSE: consumes everything until finishAtEof() makes it done', () => {
  const data = Buffer.concat([bytes('HTTP/1.1 200 OK\r\n\r\n0\r\n\r\n'), NEXT, Buffer.from([0, 13, 10, 255])]);
  for (const cuts of [[], [1], [7, 8, 30], everyByte(data.length)]) {
    const r = new BodyReader();
    r.reset(UNTIL_CLOSE);
    assert.equal(r.done, false);
    const o = feed(r, data, cuts, true);
    assert.equal(o.end, -1, 'never ends by itself');
    assert.equal(o.error, null);
    assert.deepEqual(o.consumed, data);
    assert.deepEqual(o.payload, data);
    assert.equal(r.finishAtEof(), true);
    assert.equal(r.done, true);
    assert.equal(r.read(data, 2, data.length, null), 2);
  }
});

// ---------------------------------------------------------------------------------------------
// CHUNKED: valid encodings

const vectors: { name: string; encoded: Buffer; payload: Buffer }[] = [
  { name: 'empty body', encoded: bytes('0\r\n\r\n'), payload: Buffer.alloc(0) },
  { name: 'one chunk', encoded: bytes('5\r\nhello\r\n0\r\n\r\n'), payload: bytes('hello') },
  {
    name: 'data that looks like framing',
    encoded: bytes('b\r\n0\r\n\r\nGET / \r\n3\r\n\n\r\n\r\n0\r\n\r\n'),
    payload: bytes('0\r\n\r\nGET / \n\r\n'),
  },
  {
    name: 'extensions',
    encoded: bytes('5;name=value\r\nhello\r\n6;a;b="q s; \\"x\\""\r\n world\r\n1 ;x\r\n!\r\n2\t;y=z\r\n??\r\n0;last="\xe9"\r\n\r\n'),
    payload: bytes('hello world!??'),
  },
  {
    name: 'trailers',
    encoded: bytes('3\r\nabc\r\n0\r\nX-Checksum: abc\r\nx-empty:\r\nX-Obs: \xa0\xff\t v\r\n\r\n'),
    payload: bytes('abc'),
  },
  {
    name: 'uppercase and mixed-case hex',
    encoded: chunked([[Buffer.alloc(0x1a, 'u'), ''], [Buffer.alloc(0xbe, 'm'), ''], [Buffer.alloc(0xfF, 'x'), '']], '0', '', (n) => (n === 0xbe ? 'bE' : n.toString(16).toUpperCase())),
    payload: Buffer.concat([Buffer.alloc(0x1a, 'u'), Buffer.alloc(0xbe, 'm'), Buffer.alloc(0xff, 'x')]),
  },
  {
    name: 'leading zeros',
    encoded: bytes('0005\r\nhello\r\n0000000000000000000000000000001\r\n.\r\n000\r\n\r\n'),
    payload: bytes('hello.'),
  },
  {
    name: 'binary payload, big chunk',
    encoded: chunked([[Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)), ';k=v'], [Buffer.from([13, 10, 13, 10]), '']], '0', 'T: 1\r\n'),
    payload: Buffer.concat([Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff)), Buffer.from([13, 10, 13, 10])]),
  },
];

test('CHUNKED: each vector split at every position into two reads ends exactly at its end', () => {
  for (const { name, encoded, payload } of vectors) {
    const data = Buffer.concat([encoded, NEXT]);
    for (let i = 0; i <= data.length; i++) {
      for (const withSink of [false, true]) {
        const o = run(CHUNKED, data, [i], withSink);
        assert.equal(o.error, null, `${name} split at ${i}`);
        assert.equal(o.end, encoded.length, `${name} split at ${i}`);
        assert.deepEqual(o.consumed, encoded, `${name} split at ${i}: passthrough bytes`);
        assert.deepEqual(o.payload, withSink ? payload : Buffer.alloc(0), `${name} split at ${i}: payload`);
      }
    }
  }
});

test('CHUNKED: each vector fed one byte at a time', () => {
  for (const { name, encoded, payload } of vectors) {
    const data = Buffer.concat([encoded, NEXT]);
    for (const withSink of [false, true]) {
      const o = run(CHUNKED, data, everyByte(data.length), withSink);
      assert.equal(o.error, null, name);
      assert.equal(o.end, encoded.length, name);
      assert.deepEqual(o.consumed, encoded, name);
      assert.deepEqual(o.payload, withSink ? payload : Buffer.alloc(0), name);
    }
  }
});

test('CHUNKED: read() works on [start, end) of a shared buffer and leaves the rest alone', () => {
  const encoded = bytes('4;e\r\nwiki\r\n5\r\npedia\r\n0\r\nT: v\r\n\r\n');
  const buf = Buffer.concat([bytes('HEAD\r\n\r\n'), encoded, NEXT]);
  const r = new BodyReader();
  r.reset(CHUNKED);
  const spans: string[] = [];
  const sink: BodySink = { onBodyData: (b, s, e) => void spans.push(b.toString('latin1', s, e)) };
  assert.equal(r.read(buf, 8, 24, sink), 24);
  assert.equal(r.done, false);
  assert.equal(r.remaining, 3, '3 bytes of "pedia" still to come');
  assert.equal(r.read(buf, 24, buf.length, sink), 8 + encoded.length);
  assert.equal(r.done, true);
  assert.deepEqual(spans, ['wiki', 'pe', 'dia']);
  assert.equal(r.read(buf, 8 + encoded.length, buf.length, sink), 8 + encoded.length);
});

test('CHUNKED: chunk sizes up to 2^48 - 1 are accepted, 2^48 and beyond refused', () => {
  const r = new BodyReader();
  r.reset(CHUNKED);
  assert.equal(r.read(bytes('ffffffffffff\r\nab'), 0, 16, null), 16);
  assert.equal(r.error, null);
  assert.equal(r.remaining, 2 ** 48 - 3);
  r.reset(CHUNKED);
  assert.equal(r.read(bytes('0000000000000000FFFFFFFFFFFF;x\r\n'), 0, 32, null), 32);
  assert.equal(r.remaining, 2 ** 48 - 1);
  for (const size of ['1000000000000', '1000000000001', 'FFFFFFFFFFFFF', '100000000000000000000000000000000']) {
    r.reset(CHUNKED);
    assert.equal(r.read(bytes(size + '\r\n'), 0, size.length + 2, null), -1, size);
    assert.equal(r.error, 'chunk size too large', size);
  }
});

test('CHUNKED: trailers up to 64 KiB are accepted, larger ones refused', () => {
  const ok = bytes('0\r\nX-Big: ' + 'a'.repeat(60 * 1024) + '\r\nY: b\r\n\r\n');
  assert.deepEqual(run(CHUNKED, Buffer.concat([ok, NEXT]), [], false), { end: ok.length, error: null, consumed: ok, payload: Buffer.alloc(0) });
  for (const trailers of ['X-Big: ' + 'a'.repeat(70 * 1024) + '\r\n', ('X-Many: ' + 'b'.repeat(1000) + '\r\n').repeat(70)]) {
    const big = bytes('1\r\nz\r\n0\r\n' + trailers + '\r\n');
    for (const cuts of [[], [100, 40000]]) {
      const o = run(CHUNKED, big, cuts, true);
      assert.equal(o.end, -1);
      assert.equal(o.error, 'trailers too large');
      assert.deepEqual(o.payload, bytes('z'));
    }
  }
});

test('CHUNKED: a truncated body is never done, at any cut, and finishAtEof() says so', () => {
  for (const { name, encoded } of vectors) {
    for (let n = 0; n < encoded.length; n++) {
      const r = new BodyReader();
      r.reset(CHUNKED);
      const o = feed(r, encoded.subarray(0, n), n > 1 ? [n >> 1] : [], false);
      assert.equal(o.error, null, `${name} cut at ${n}`);
      assert.equal(o.end, -1, `${name} cut at ${n}`);
      assert.equal(r.done, false);
      assert.equal(r.finishAtEof(), false, `${name} cut at ${n}`);
      assert.equal(r.done, false);
    }
  }
});

test('CHUNKED: a reader is reusable after an error and after a complete body', () => {
  const r = new BodyReader();
  r.reset(CHUNKED);
  assert.equal(r.read(bytes('0\r\nX-T: a'), 0, 9, null), 9);
  r.reset(CHUNKED);
  const colonless = bytes('0\r\nNoColon\r\n\r\n');
  assert.equal(r.read(colonless, 0, colonless.length, null), -1, 'the colon of the previous trailer does not leak');
  assert.equal(r.error, 'trailer line without a colon');
  r.reset(CHUNKED);
  assert.equal(r.error, null);
  const good = bytes('3\r\nabc\r\n0\r\n\r\n');
  assert.equal(r.read(good, 0, good.length, null), good.length);
  assert.equal(r.done, true);
  r.reset(CHUNKED);
  assert.equal(r.done, false);
  assert.equal(r.read(good, 0, 4, null), 4);
  assert.equal(r.remaining, 2);
});

// ---------------------------------------------------------------------------------------------
// CHUNKED: malformed framing

const malformed: [string, string, string][] = [
  ['non-hex size', 'g\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['non-hex after size', '5x\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['signed size', '+5\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['negative size', '-1\r\nx\r\n0\r\n\r\n', 'malformed chunk size'],
  ['space before size', ' 5\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['empty size line', '\r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['empty size line after a chunk', '5\r\nhello\r\n\r\n0\r\n\r\n', 'malformed chunk size'],
  ['extension without size', ';a=b\r\n0\r\n\r\n', 'malformed chunk size'],
  ['size followed by bare LF', '5\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['last size followed by bare LF', '5\r\nhello\r\n0\n\r\n', 'malformed chunk size'],
  ['size followed by bare CR', '5\rhello\r\n0\r\n\r\n', 'chunk size line not ended by CRLF'],
  ['size followed by CR CR LF', '5\r\r\nhello\r\n0\r\n\r\n', 'chunk size line not ended by CRLF'],
  ['chunk data longer than its size', '3\r\nhello\r\n0\r\n\r\n', 'chunk data longer than its size'],
  ['missing CRLF after data', '5\r\nhello0\r\n\r\n', 'chunk data longer than its size'],
  ['bare LF after data', '5\r\nhello\n0\r\n\r\n', 'chunk data longer than its size'],
  ['bare CR after data', '5\r\nhello\r0\r\n\r\n', 'chunk data not ended by CRLF'],
  ['CR CR after data', '5\r\nhello\r\r\n0\r\n\r\n', 'chunk data not ended by CRLF'],
  ['bare LF in extension', '5;a=b\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
  ['bare LF in last-chunk extension', '0;a\n\r\n\r\n', 'control character in chunk extension'],
  ['bare CR then LF-less extension', '5;a\rb\r\nhello\r\n0\r\n\r\n', 'chunk size line not ended by CRLF'],
  ['NUL in extension', '5;a=\x00\r\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
  ['DEL in extension', '5;a=\x7f\r\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
  ['ESC in extension', '5;\x1b\r\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
  ['chunk size 2^48', '1000000000000\r\nx\r\n0\r\n\r\n', 'chunk size too large'],
  // chunk-ext grammar (RFC 9112 §7.1.1, issue 13 row 6): names are tokens, values tokens or quoted-strings
  ['empty extension', '5;\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['extension with spaces and brackets', '5;a b c @ [ ]\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['extension name not a token', '5;\xe9=1\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['extension value not a token', '0;last=\xe9\r\n\r\n', 'malformed chunk extension'],
  ['extension without name', '5;=b\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['extension with empty value', '5;a=\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['extension value then junk', '5;a=b"c"\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['unterminated quoted value', '5;a="b\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['junk after quoted value', '5;a="b"c\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['whitespace before CRLF', '5;a \r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['whitespace after value before CRLF', '5;a=b \r\nhello\r\n0\r\n\r\n', 'malformed chunk size'],
  ['two semicolons', '5;;a\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
  ['bare LF in quoted value', '5;a="b\nc"\r\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
  ['bare LF after backslash', '5;a="b\\\n"\r\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
  ['size line longer than 4096 bytes', '5;a=' + 'x'.repeat(4093) + '\r\nhello\r\n0\r\n\r\n', 'chunk size line too long'],
  ['4096 leading zeros', '0'.repeat(4096) + '5\r\nhello\r\n0\r\n\r\n', 'chunk size line too long'],
  ['trailer line without colon', '0\r\nX-Trailer\r\n\r\n', 'trailer line without a colon'],
  ['second trailer line without colon', '0\r\nA: b\r\nX-Trailer\r\n\r\n', 'trailer line without a colon'],
  ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n', 'obs-fold in trailers'],
  ['obs-fold (tab) in trailers', '0\r\nX: a\r\n\tb\r\n\r\n', 'obs-fold in trailers'],
  ['whitespace before the first trailer', '0\r\n X: a\r\n\r\n', 'obs-fold in trailers'],
  ['trailer with bare LF', '0\r\nX: a\nY: b\r\n\r\n', 'control character in trailers'],
  ['trailer ended by bare LF', '0\r\nX: a\n\r\n', 'control character in trailers'],
  ['bare LF as the final line', '0\r\n\n', 'control character in trailers'],
  ['NUL in trailer', '0\r\nX: a\x00\r\n\r\n', 'control character in trailers'],
  ['DEL in trailer', '0\r\nX\x7f: a\r\n\r\n', 'control character in trailers'],
  ['trailer ended by bare CR', '0\r\nX: a\rY: b\r\n\r\n', 'trailer line not ended by CRLF'],
  ['final CR without LF', '0\r\n\rGET / HTTP/1.1', 'chunked body not ended by CRLF'],
  ['final CR CR', '0\r\nX: a\r\n\r\r\n', 'chunked body not ended by CRLF'],
];

test('CHUNKED: malformed framing is refused with the reason, whole or byte by byte', () => {
  for (const [name, text, error] of malformed) {
    const data = bytes(text);
    for (const cuts of [[], everyByte(data.length)]) {
      for (const withSink of [false, true]) {
        const o = run(CHUNKED, data, cuts, withSink);
        assert.equal(o.end, -1, name);
        assert.equal(o.error, error, name);
      }
    }
    const r = new BodyReader();
    r.reset(CHUNKED);
    assert.equal(r.read(data, 0, data.length, null), -1, name);
    assert.equal(r.error, error, name);
  }
});

test('CHUNKED: a size line of exactly 4096 bytes (size and extensions, without CRLF) is accepted, 4097 refused', () => {
  for (const [line, ok] of [['5;a=' + 'x'.repeat(4092), true], ['5;a=' + 'x'.repeat(4093), false], ['0'.repeat(4095) + '5', true], ['0'.repeat(4096) + '5', false]] as const) {
    assert.equal(line.length, ok ? 4096 : 4097);
    const data = bytes(line + '\r\nhello\r\n0\r\n\r\n');
    for (const cuts of [[], [4096], [4097], everyByte(data.length)]) {
      const o = run(CHUNKED, data, cuts, true);
      assert.equal(o.error, ok ? null : 'chunk size line too long');
      assert.equal(o.end, ok ? data.length : -1);
    }
  }
  // the count restarts with each size line
  const many = bytes(('1;a=' + 'y'.repeat(4000) + '\r\nz\r\n').repeat(5) + '0\r\n\r\n');
  assert.equal(run(CHUNKED, many, [], true).end, many.length);
});

test('CHUNKED: chunk size line is size [BWS ";" ...] CRLF, nothing else', () => {
  const accepted: string[] = [];
  for (const line of ['5 5', '5 x', '5\tz', '5 ', '5 \t', '5 =', '5 \xff']) {
    const data = bytes(line + '\r\nhello\r\n0\r\n\r\n');
    if (run(CHUNKED, data, [], false).end !== -1) accepted.push(JSON.stringify(line));
  }
  assert.deepEqual(accepted, []);
});

test('CHUNKED: trailer field names are tokens right before the colon', () => {
  const accepted: string[] = [];
  for (const line of ['X-T : v', ': v', 'X T: v', 'X\xe9: v', 'X-T\t: v', 'A(b): v']) {
    const data = bytes('0\r\n' + line + '\r\n\r\n');
    if (run(CHUNKED, data, [], false).end !== -1) accepted.push(JSON.stringify(line));
  }
  assert.deepEqual(accepted, []);
});

// ---------------------------------------------------------------------------------------------
// Seeded random properties

const EXTS = ['', '', '', ';a', ';a=b', ';name="quoted; value"', ' ;x=1', '\t;y', ';a=1;b=2', ';e="\xe9\\\xff"', ' ; a = b ;c'];
const TRAILERS = ['', '', 'X-A: 1\r\n', 'x-b:\r\n', 'T: \xa0v\xa0\r\nU:w\r\n', 'Server-Timing: total;dur=12\r\n'];

function randomEncoding(rnd: () => number): { encoded: Buffer; payload: Buffer } {
  const int = (n: number) => Math.floor(rnd() * n);
  const payload = Buffer.from(Array.from({ length: int(300) }, () => (rnd() < 0.2 ? [13, 10, 48][int(3)]! : int(256))));
  const hex = (n: number) => '0'.repeat(int(4)) + (rnd() < 0.5 ? n.toString(16) : n.toString(16).toUpperCase());
  const chunks: [Buffer, string][] = [];
  for (let at = 0; at < payload.length; ) {
    const n = Math.min(payload.length - at, 1 + int(rnd() < 0.2 ? 300 : 40));
    chunks.push([payload.subarray(at, at + n), EXTS[int(EXTS.length)]!]);
    at += n;
  }
  const trailers = TRAILERS[int(TRAILERS.length)]!;
  return { encoded: chunked(chunks, hex(0) + EXTS[int(EXTS.length)]!, trailers, hex), payload };
}

function randomCuts(rnd: () => number, length: number): number[] {
  const pieces = 1 + Math.floor(rnd() * 10);
  const cuts = Array.from({ length: pieces - 1 }, () => Math.floor(rnd() * (length + 1)));
  return cuts.sort((x, y) => x - y);
}

test('property: random chunked encodings split into 1-10 pieces decode to the payload and end exactly', () => {
  const rnd = seededRandom(0x5eed1);
  for (let n = 0; n < 500; n++) {
    const { encoded, payload } = randomEncoding(rnd);
    const next = rnd() < 0.5 ? NEXT : Buffer.from(Array.from({ length: Math.floor(rnd() * 20) }, () => Math.floor(rnd() * 256)));
    const data = Buffer.concat([encoded, next]);
    const cuts = randomCuts(rnd, data.length);
    const withSink = rnd() < 0.5;
    const o = run(CHUNKED, data, cuts, withSink);
    const what = `case ${n}: ${JSON.stringify(encoded.subarray(0, 120).toString('latin1'))} cuts ${cuts.join(',')}`;
    assert.equal(o.error, null, what);
    assert.equal(o.end, encoded.length, what);
    assert.deepEqual(o.consumed, encoded, what);
    assert.deepEqual(o.payload, withSink ? payload : Buffer.alloc(0), what);
  }
});

test('property: single-byte mutations never throw and give the same outcome however they are split', () => {
  const rnd = seededRandom(0xbad5eed);
  let refused = 0;
  for (let n = 0; n < 500; n++) {
    const { encoded } = randomEncoding(rnd);
    const data = Buffer.concat([encoded, NEXT]);
    const at = Math.floor(rnd() * encoded.length);
    const byte = rnd() < 0.5 ? [13, 10, 32, 9, 59, 58, 48, 0, 127, 0x41][Math.floor(rnd() * 10)]! : Math.floor(rnd() * 256);
    if (data[at] === byte) continue;
    data[at] = byte;
    const what = `case ${n}: byte ${at} -> ${byte} in ${JSON.stringify(data.subarray(0, 120).toString('latin1'))}`;
    const whole = run(CHUNKED, data, [], true);
    if (whole.error !== null) refused++;
    for (const cuts of [randomCuts(rnd, data.length), everyByte(data.length)]) {
      const split = run(CHUNKED, data, cuts, true);
      assert.equal(split.error, whole.error, what);
      assert.equal(split.end, whole.end, what);
      // payload spans reach the sink in order up to the failing byte, however the input is split
      assert.deepEqual(split.payload, whole.payload, what);
      if (whole.error === null) assert.deepEqual(split.consumed, whole.consumed, what);
    }
    if (whole.end !== -1) {
      assert.ok(whole.end <= data.length, what);
      assert.deepEqual(whole.consumed, data.subarray(0, whole.end), what);
      // the last 2 bytes of a complete chunked body are always its final CRLF
      assert.deepEqual(data.subarray(whole.end - 2, whole.end), bytes('\r\n'), what);
      assert.ok(whole.payload.length < whole.end, what);
    }
  }
  assert.ok(refused > 100, `most mutations of framing bytes are refused (${refused})`);
});

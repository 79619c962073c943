// Framing fields in a chunked body's trailers (RFC 9110 §6.5.1: a trailer must not be used for
// framing; a recipient may discard it). The body is framed by chunked already, so a
// Content-Length or Transfer-Encoding trailer is dropped whatever its value says — a value no
// head would pass (`abc`, `-1`, `1, 2`, 30 digits, `gzip, chunked`) included: the value is never
// parsed, the body ends at its last chunk, and the next message starts where it should. What is
// checked in a trailer is the field-line grammar, the same for every name: a line that breaks it
// (whitespace before the colon, a control character, obs-fold, a bare LF) refuses the body.
// Both directions share BodyReader: forward() re-frames requests and responses alike.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyReader, CHUNKED, type ChunkedOut } from '../../../src/http/body-reader.ts';

const NEXT = 'GET /next HTTP/1.1\r\nHost: a\r\n\r\n';

/** forward() over `data` cut at `cuts`, with read() on the same pieces beside it: where the body ended, its error, the output. */
function run(data: Buffer, cuts: readonly number[]): { end: number; error: string | null; output: string } {
  const reader = new BodyReader();
  reader.reset(CHUNKED);
  const twin = new BodyReader();
  twin.reset(CHUNKED);
  let output = '';
  const out: ChunkedOut = { onForward: (framing, buf, start, end) => (output += framing + buf.toString('latin1', start, end)) };
  const bounds = [0, ...cuts, data.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const piece = Buffer.from(data.subarray(bounds[k]!, bounds[k + 1]!));
    const r = reader.forward(piece, 0, piece.length, out);
    assert.equal(twin.read(piece, 0, piece.length, null), r, 'forward() and read() agree');
    assert.equal(twin.error, reader.error);
    if (r < 0) return { end: -1, error: reader.error, output };
    if (reader.done) return { end: bounds[k]! + r, error: null, output };
  }
  return { end: -2, error: null, output };
}

function everyCut(data: Buffer): number[][] {
  const list: number[][] = [[], Array.from({ length: data.length - 1 }, (_, i) => i + 1)];
  for (let i = 1; i < data.length; i++) list.push([i]);
  return list;
}

const HOSTILE_VALUES = [
  'Content-Length: abc',
  'Content-Length: -1',
  'Content-Length: 1, 2',
  'Content-Length: 999999999999999999999999999999',
  'Content-Length: 0x10',
  'Content-Length:',
  'content-length: 5 5',
  'CONTENT-LENGTH: 100',
  'Content-Length: \xff\xfe',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, identity',
  'Transfer-Encoding: \x22chunked\x22',
  'Transfer-Encoding:',
  'transfer-encoding: chunked',
];

test('Content-Length and Transfer-Encoding trailers with values no head would pass are dropped; the body ends at its last chunk', () => {
  for (const field of HOSTILE_VALUES) {
    // two of them, around an application trailer that must survive in place
    const body = `5\r\nhello\r\n0\r\n${field}\r\nX-Ok: 1\r\n${field}\r\n\r\n`;
    const data = Buffer.from(body + NEXT, 'latin1');
    for (const cuts of everyCut(data)) {
      const o = run(data, cuts);
      const what = `${JSON.stringify(field)}, cuts ${cuts.length > 2 ? 'every byte' : cuts.join(',')}`;
      assert.equal(o.error, null, what);
      assert.equal(o.end, body.length, `${what}: the next message starts right after the body`);
      assert.equal(o.output, '5\r\nhello\r\n0\r\nX-Ok: 1\r\n\r\n', what);
    }
  }
});

test('a trailer line that breaks the field grammar refuses the body, a framing name or not', () => {
  const bad: Array<[string, string]> = [
    ['Content-Length : 5', 'malformed trailer field name'],
    ['X-Ok : 5', 'malformed trailer field name'],
    ['Content-Length:\x7f', 'control character in trailers'],
    ['X-Ok: a\x00b', 'control character in trailers'],
    ['Transfer-Encoding: chunked\r\n\tgzip', 'obs-fold in trailers'],
    ['X-Ok: 1\r\n 2', 'obs-fold in trailers'],
    ['Content-Length: 5\nX: y', 'control character in trailers'],
    ['Content-Length', 'trailer line without a colon'],
  ];
  for (const [field, error] of bad) {
    const data = Buffer.from(`5\r\nhello\r\n0\r\n${field}\r\n\r\n${NEXT}`, 'latin1');
    for (const cuts of everyCut(data)) {
      const o = run(data, cuts);
      assert.equal(o.end, -1, JSON.stringify(field));
      assert.equal(o.error, error, JSON.stringify(field));
      assert.ok(!o.output.includes('0\r\n'), `${JSON.stringify(field)}: no last chunk forwarded`);
    }
  }
});

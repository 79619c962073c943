// forward(): the body re-framed for the next hop (issue 13, rows 5 and 6). A chunked body goes out
// canonical — lowercase hex sizes without leading zeros, no extensions, output chunks ≤ 2^31−1,
// trailers filtered by trailers.ts — however the input spells it and however the socket splits it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BodyReader, CHUNKED, LENGTH, MAX_OUT_CHUNK, UNTIL_CLOSE, type BodyMode, type ChunkedOut } from '../../../src/http/body-reader.ts';
import { forwardableTrailer } from '../../../src/http/trailers.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');
const NEXT = bytes('GET /next HTTP/1.1\r\nHost: a\r\n\r\n');
/** Garbage around each piece: a span that strays out of [start, end) shows it. */
const PAD = bytes('\r\n0\r\n\r\nZ');

interface Forwarded {
  /** Index in `data` just past the body, -1 when incomplete or refused. */
  end: number;
  error: string | null;
  /** Everything handed to onForward, framing and spans in order (latin1). */
  output: string;
  /** onForward calls per forward() call, summed. */
  calls: number;
}

/**
 * Feeds `data` to a reader in `mode` cut at `cuts`, each piece copied into its own buffer between
 * garbage, and checks the ChunkedOut contract on the way: spans lie in the piece, in order, with
 * no gap or overlap; each call carries framing or data; a framing-only call comes last in its
 * forward() call; the return value is read()'s.
 */
function forwardAll(data: Buffer, cuts: readonly number[], mode: BodyMode = CHUNKED, length = 0, connectionNames: readonly string[] | null = null): Forwarded {
  const reader = new BodyReader();
  const names = connectionNames === null ? null : new Set(connectionNames);
  reader.reset(mode, length, names);
  const twin = new BodyReader(); // read() on the same pieces: the same indexes and errors
  twin.reset(mode, length, names);
  let output = '';
  let calls = 0;
  let lo = 0;
  let hi = 0;
  let next = 0; // where the next span must start
  let framingOnly = false;
  const out: ChunkedOut = {
    onForward(framing, buf, start, end) {
      assert.ok(!framingOnly, 'a framing-only call is the last of its forward() call');
      assert.ok(framing !== '' || end > start, 'an empty call');
      assert.ok(start >= lo && end <= hi && start <= end, `span [${start}, ${end}) outside [${lo}, ${hi})`);
      if (end > start) assert.ok(start >= next, 'spans in order, without overlap');
      else framingOnly = true;
      next = end;
      calls++;
      output += framing + buf.toString('latin1', start, end);
    },
  };
  const bounds = [0, ...cuts, data.length];
  for (let k = 0; k + 1 < bounds.length; k++) {
    const a = bounds[k]!;
    const b = bounds[k + 1]!;
    const buf = Buffer.concat([PAD, data.subarray(a, b), PAD]);
    lo = next = PAD.length;
    hi = PAD.length + (b - a);
    framingOnly = false;
    const r = reader.forward(buf, lo, hi, out);
    assert.equal(twin.read(buf, lo, hi, null), r, 'forward() and read() agree');
    assert.equal(twin.error, reader.error);
    assert.equal(twin.done, reader.done);
    if (r === -1) return { end: -1, error: reader.error, output, calls };
    assert.ok(r >= lo && r <= hi);
    if (reader.done) return { end: a + (r - lo), error: null, output, calls };
    assert.equal(r, hi, 'an unfinished body consumes the whole piece');
  }
  return { end: -1, error: null, output, calls };
}

const everyByte = (n: number) => Array.from({ length: Math.max(0, n - 1) }, (_, i) => i + 1);

/** Runs `encoded` (then a pipelined request) whole, cut at every single position and byte by byte: always `expected`. */
function assertForwards(name: string, encoded: string, expected: string): void {
  const data = Buffer.concat([bytes(encoded), NEXT]);
  const cutsList: number[][] = [[], everyByte(data.length)];
  for (let i = 1; i < data.length; i++) cutsList.push([i]);
  for (const cuts of cutsList) {
    const o = forwardAll(data, cuts);
    const what = `${name}, cuts ${cuts.length > 3 ? 'every byte' : cuts.join(',')}`;
    assert.equal(o.error, null, what);
    assert.equal(o.end, encoded.length, what);
    assert.equal(o.output, expected, what);
  }
}

// ---------------------------------------------------------------------------------------------
// the issue 13 vectors

test('row 6: leading zeros, extensions and trailers of the issue vector come out canonical', () => {
  assertForwards('issue vector', '0'.repeat(41) + '5;a=b\r\nhello\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nX-Ok: 1\r\n\r\n', '5\r\nhello\r\n0\r\nX-Ok: 1\r\n\r\n');
});

test('row 6: size spellings and extensions are dropped, sizes re-encoded in lowercase hex', () => {
  const cases: [string, string, string][] = [
    ['41 leading zeros', '0'.repeat(41) + '5\r\nhello\r\n' + '0'.repeat(41) + '\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
    ['BWS before the extension', '5 ;a=b\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
    ['tab BWS everywhere', '5\t;\ta\t=\t"b c"\t;d\r\nhello\r\n0 ; last\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
    ['quoted-pair and obs-text', '5;q="a\\"b\\\\;c\xe9"\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
    ['uppercase hex', '1A\r\n' + 'u'.repeat(26) + '\r\n00Ff\r\n' + 'v'.repeat(255) + '\r\n0\r\n\r\n', '1a\r\n' + 'u'.repeat(26) + '\r\nff\r\n' + 'v'.repeat(255) + '\r\n0\r\n\r\n'],
    ['data that looks like framing', 'b\r\n0\r\n\r\nGET / \r\n3\r\n\n\r\n\r\n0\r\n\r\n', 'b\r\n0\r\n\r\nGET / \r\n3\r\n\n\r\n\r\n0\r\n\r\n'],
    ['empty body', '000;x="y"\r\n\r\n', '0\r\n\r\n'],
    ['an extension of 4,000 bytes', '5;a=' + 'x'.repeat(4000) + '\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\n\r\n'],
  ];
  for (const [name, input, expected] of cases) assertForwards(name, input, expected);
});

test('row 5: framing, routing and proxy-owned trailers are dropped, the rest kept in order', () => {
  assertForwards(
    'issue trailers',
    '3\r\nabc\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nHost: evil\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n',
    '3\r\nabc\r\n0\r\n\r\n',
  );
  assertForwards(
    'mixed trailers',
    '3\r\nabc\r\n0\r\nServer-Timing: total;dur=12\r\nHOST: evil\r\nx-forwarded-proto: http\r\nX_Forwarded_For: 1.2.3.4\r\nConnection: close\r\nTE: trailers\r\n' +
      'Trailer: X-Sum\r\nVia: 1.1 evil\r\nForwarded: for=6.6.6.6\r\nSet-Cookie: a=b\r\nAuthorization: Basic eA==\r\nContent-Type: text/evil\r\n' +
      'Content-Digest: sha-256=:x:\r\nX-Sum:42\r\ngrpc-status: 0\r\nExpect: 100-continue\r\nUpgrade: h2c\r\nProxy-Authorization: x\r\nx-empty:\r\n\r\n',
    '3\r\nabc\r\n0\r\nServer-Timing: total;dur=12\r\nContent-Digest: sha-256=:x:\r\nX-Sum:42\r\ngrpc-status: 0\r\nx-empty:\r\n\r\n',
  );
});

test('row 5: trailers named by the message Connection header are dropped as well; the names are per message', () => {
  const input = bytes('3\r\nabc\r\n0\r\nX-Hop: 1\r\nx-other: 2\r\nServer-Timing: a\r\n\r\n');
  for (const cuts of [[], [15], [17, 22, 30]]) {
    assert.equal(forwardAll(input, cuts, CHUNKED, 0, ['x-hop', 'x-other']).output, '3\r\nabc\r\n0\r\nServer-Timing: a\r\n\r\n');
    assert.equal(forwardAll(input, cuts, CHUNKED, 0, null).output, '3\r\nabc\r\n0\r\nX-Hop: 1\r\nx-other: 2\r\nServer-Timing: a\r\n\r\n');
  }
  // reset() without names forgets the previous message's
  const reader = new BodyReader();
  reader.reset(CHUNKED, 0, new Set(['x-hop']));
  reader.reset(CHUNKED);
  let out = '';
  reader.forward(input, 0, input.length, { onForward: (f, b, s, e) => (out += f + b.toString('latin1', s, e)) });
  assert.ok(out.includes('X-Hop: 1\r\n'));
});

test('malformed extensions and over-long size lines are refused by forward(), at the same byte as read()', () => {
  const bad: [string, string][] = [
    ['5;\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['5;a b c @ [ ]\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['5;a=b\nhello\r\n0\r\n\r\n', 'control character in chunk extension'],
    ['5;a="b\r\nhello\r\n0\r\n\r\n', 'malformed chunk extension'],
    ['5;a=' + 'x'.repeat(5000) + '\r\nhello\r\n0\r\n\r\n', 'chunk size line too long'],
    ['0'.repeat(5000) + '5\r\nhello\r\n0\r\n\r\n', 'chunk size line too long'],
    ['5;' + 'a'.repeat(1 << 20), 'chunk size line too long'],
    ['1000000000000\r\nx\r\n0\r\n\r\n', 'chunk size too large'],
    ['0\r\nX: a\r\n b\r\n\r\n', 'obs-fold in trailers'],
  ];
  for (const [input, error] of bad) {
    const data = bytes(input);
    for (const cuts of [[], [1], [data.length >> 1], data.length < 200 ? everyByte(data.length) : [100, 4000, 4100]]) {
      const o = forwardAll(data, cuts);
      assert.equal(o.end, -1, input.slice(0, 40));
      assert.equal(o.error, error, input.slice(0, 40));
    }
  }
});

test('a trailer section larger than 64 KiB is refused; one just under it is held and forwarded', () => {
  const big = 'X-Big: ' + 'a'.repeat(60 * 1024) + '\r\n';
  assertForwardsOnce('3\r\nabc\r\n0\r\n' + big + 'Host: x\r\nY: b\r\n\r\n', '3\r\nabc\r\n0\r\n' + big + 'Y: b\r\n\r\n');
  const o = forwardAll(bytes('0\r\n' + 'X: ' + 'b'.repeat(70 * 1024) + '\r\n\r\n'), [10, 30000]);
  assert.equal(o.error, 'trailers too large');
  assert.equal(o.output, '', 'nothing of an unfinished trailer section was emitted');
});

function assertForwardsOnce(input: string, expected: string): void {
  for (const cuts of [[], [7], [20, 30000, 61000]]) {
    const o = forwardAll(bytes(input), cuts);
    assert.equal(o.error, null);
    assert.equal(o.output, expected);
  }
}

test('chunks of 2^31 bytes and more go out as several chunks of at most 2^31 - 1 (8 hex digits)', () => {
  assert.equal(MAX_OUT_CHUNK.toString(16), '7fffffff');
  const reader = new BodyReader();
  reader.reset(CHUNKED);
  const size = 2 ** 32 + 5; // "0000100000005" in, three output chunks
  const piece = Buffer.alloc(1 << 20, 0x61);
  const framings: string[] = [];
  let dataBytes = 0;
  const out: ChunkedOut = {
    onForward(framing, _buf, start, end) {
      if (framing !== '') framings.push(`${framing}@${dataBytes}`);
      dataBytes += end - start;
    },
  };
  const head = bytes('0000' + size.toString(16).toUpperCase() + ';ext\r\n');
  assert.equal(reader.forward(head, 0, head.length, out), head.length);
  for (let left = size; left > 0; ) {
    const n = Math.min(left, piece.length);
    assert.equal(reader.forward(piece, 0, n, out), n);
    left -= n;
  }
  const tail = bytes('\r\n0\r\n\r\n');
  assert.equal(reader.forward(tail, 0, tail.length, out), tail.length);
  assert.equal(reader.done, true);
  assert.equal(dataBytes, size);
  // 2^48 - 1, the largest size accepted, starts as a 2^31 - 1 chunk too
  const max = new BodyReader();
  max.reset(CHUNKED);
  let first = '';
  const top = bytes('FFFFFFFFFFFF\r\nab');
  max.forward(top, 0, top.length, { onForward: (f, b, s, e) => void (first += f + b.toString('latin1', s, e)) });
  assert.equal(first, '7fffffff\r\nab');
  assert.deepEqual(framings, [`7fffffff\r\n@0`, `\r\n7fffffff\r\n@${MAX_OUT_CHUNK}`, `\r\n7\r\n@${2 * MAX_OUT_CHUNK}`, `\r\n0\r\n\r\n@${size}`]);
});

test('many small chunks in one read: one onForward call per chunk, framing coalesced with the data after it', () => {
  const input = Array.from({ length: 50 }, (_, i) => `3;n=${i}\r\n${String(i).padStart(3, '.')}\r\n`).join('') + '0\r\nT: 1\r\n\r\n';
  const o = forwardAll(bytes(input), []);
  assert.equal(o.calls, 51, '50 data calls and the last chunk with the trailers');
  assert.equal(o.output, Array.from({ length: 50 }, (_, i) => `3\r\n${String(i).padStart(3, '.')}\r\n`).join('') + '0\r\nT: 1\r\n\r\n');
});

test('Content-Length and close-delimited bodies pass through forward() as spans without framing', () => {
  const body = '5\r\nhello\r\n0\r\nHost: x\r\n\r\n';
  const data = Buffer.concat([bytes(body), NEXT]);
  for (const cuts of [[], [3], everyByte(data.length)]) {
    const o = forwardAll(data, cuts, LENGTH, body.length);
    assert.equal(o.end, body.length);
    assert.equal(o.output, body);
    const u = forwardAll(data, cuts, UNTIL_CLOSE);
    assert.equal(u.end, -1);
    assert.equal(u.output, data.toString('latin1'));
  }
});

test('a reader reset between messages forgets held trailers and partial lines', () => {
  const r = new BodyReader();
  const got: string[] = [];
  const out: ChunkedOut = { onForward: (f, b, s, e) => void got.push(f + b.toString('latin1', s, e)) };
  r.reset(CHUNKED);
  const first = bytes('0\r\nX-A: 1\r\nX-B: par');
  assert.equal(r.forward(first, 0, first.length, out), first.length);
  assert.deepEqual(got, []);
  r.reset(CHUNKED);
  const second = bytes('tial\r\n0\r\nX-C: 3\r\n\r\n');
  assert.equal(r.forward(second, 0, second.length, out), -1, '"tial" is no chunk size');
  r.reset(CHUNKED);
  const third = bytes('0\r\nX-C: 3\r\n\r\n');
  assert.equal(r.forward(third, 0, third.length, out), third.length);
  assert.deepEqual(got, ['0\r\nX-C: 3\r\n\r\n']);
});

// ---------------------------------------------------------------------------------------------
// property

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 8 }).map((a) => a.join(''));
const bws = fc.constantFrom('', '', ' ', '\t', ' \t ');
const quoted = fc
  .array(fc.oneof(fc.constantFrom('a', ' ', '\t', ';', '=', ',', '\xe9', '\xff', '~'), fc.constantFrom('\\"', '\\\\', '\\a', '\\\xe9')), { maxLength: 6 })
  .map((a) => `"${a.join('')}"`);
const ext = fc.tuple(bws, bws, token, fc.option(fc.tuple(bws, bws, fc.oneof(token, quoted)))).map(([b1, b2, name, v]) => `${b1};${b2}${name}${v === null ? '' : `${v[0]}=${v[1]}${v[2]}`}`);
const exts = fc.array(ext, { maxLength: 3 }).map((a) => a.join(''));
const hexSpelling = fc.record({ zeros: fc.nat({ max: 45 }), upper: fc.boolean() });
const TRAILER_NAMES = ['X-Ok', 'Server-Timing', 'grpc-status', 'Content-Digest', 'Host', 'HOST', 'X-Forwarded-For', 'x-forwarded-host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'TE', 'Trailer', 'Via', 'Forwarded', 'Set-Cookie', 'Cookie', 'Authorization', 'Content-Type', 'X_Forwarded_For', 'If-Match', 'Proxy-Authorization', 'Upgrade', 'Expect', 'x-sum'];
const trailerValue = fc.array(fc.constantFrom('a', '1', ' ', '\t', ';', '=', ':', '\xa0', '\xff', ','), { maxLength: 12 }).map((a) => a.join(''));
const trailer = fc.tuple(fc.oneof(fc.constantFrom(...TRAILER_NAMES), token), fc.constantFrom('', ' ', '\t'), trailerValue).map(([n, ows, v]) => `${n}:${ows}${v}`);

const body = fc.record({
  chunks: fc.array(fc.record({ data: fc.uint8Array({ minLength: 1, maxLength: 120 }), spelling: hexSpelling, ext: exts }), { maxLength: 8 }),
  last: fc.record({ spelling: hexSpelling, ext: exts }),
  trailers: fc.array(trailer, { maxLength: 6 }),
});

const spell = (n: number, s: { zeros: number; upper: boolean }) => '0'.repeat(s.zeros) + (s.upper ? n.toString(16).toUpperCase() : n.toString(16));

/** A strict decoder of canonical chunked output: throws on any non-canonical spelling. */
function decodeCanonical(out: string): { payload: string; trailers: string[] } {
  let i = 0;
  let payload = '';
  for (;;) {
    const eol = out.indexOf('\r\n', i);
    const size = out.slice(i, eol);
    assert.match(size, /^(0|[1-9a-f][0-9a-f]{0,7})$/, `canonical size line ${JSON.stringify(size)}`);
    const n = parseInt(size, 16);
    i = eol + 2;
    if (n === 0) break;
    payload += out.slice(i, i + n);
    i += n;
    assert.equal(out.slice(i, i + 2), '\r\n');
    i += 2;
  }
  const trailers: string[] = [];
  for (;;) {
    const eol = out.indexOf('\r\n', i);
    if (eol === i) break;
    trailers.push(out.slice(i, eol));
    i = eol + 2;
  }
  assert.equal(i + 2, out.length, 'nothing after the final CRLF');
  return { payload, trailers };
}

test('property: random valid chunked bodies, any spelling, any split: canonical output, same payload, filtered trailers, re-parsable', () => {
  fc.assert(
    fc.property(body, fc.array(fc.nat(), { maxLength: 8 }), ({ chunks, last, trailers }, rawCuts) => {
      let input = '';
      let payload = '';
      for (const c of chunks) {
        const data = Buffer.from(c.data).toString('latin1');
        input += `${spell(data.length, c.spelling)}${c.ext}\r\n${data}\r\n`;
        payload += data;
      }
      input += `${spell(0, last.spelling)}${last.ext}\r\n${trailers.map((t) => t + '\r\n').join('')}\r\n`;
      const data = Buffer.concat([bytes(input), NEXT]);
      const cuts = [...new Set(rawCuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
      const o = forwardAll(data, cuts);
      assert.equal(o.error, null);
      assert.equal(o.end, input.length);
      const decoded = decodeCanonical(o.output);
      assert.equal(decoded.payload, payload);
      assert.deepEqual(decoded.trailers, trailers.filter((t) => forwardableTrailer(t.slice(0, t.indexOf(':')).toLowerCase())));
      // the output is a valid chunked body for the reader too, and forwarding it again changes nothing
      const again = forwardAll(Buffer.concat([bytes(o.output), NEXT]), cuts.filter((c) => c <= o.output.length));
      assert.equal(again.error, null);
      assert.equal(again.end, o.output.length);
      assert.equal(again.output, o.output);
    }),
    { numRuns: 400, seed: 0x13_05_06 },
  );
});

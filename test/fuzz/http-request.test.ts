// Fuzz target (c): the HTTP request path end to end. Valid request sequences (methods, origin- and
// absolute-form targets, HTTP/1.0 and 1.1, random fields, Content-Length and chunked bodies with
// extensions and trailers, pipelined) get byte edits — the parser's separators and the framing
// fields a smuggler would add (a second Content-Length, Transfer-Encoding, a request hidden in a
// body, bare LF, obs-fold) — and go, split at random points, into a running http listener in
// front of a recording server (test/helpers/scripted-server.ts).
// Properties: the proxy never crashes (it runs in this process) and never leaves a client hanging
// past its timeouts; and no request reaches the server that the client did not send as one. The
// requests the server receives must be a prefix of what a strict parse of the client's bytes
// (`reference` below, RFC 9112) finds, in order, each with the same method, target (absolute-form
// made origin-form, as the proxy forwards it) and body. The reference is lax about what it
// accepts — a request the proxy refuses only shortens the prefix — and exact about where each
// request ends: Content-Length and Transfer-Encoding together, differing lengths, a coding
// other than chunked, bare CR or LF, obs-fold end it, since those are where two parsers disagree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startProxy } from '../helpers/fullproxy.ts';
import { scriptedServer, type SeenRequest } from '../helpers/scripted-server.ts';
import { budget, fuzz } from './fuzz-run.ts';
import { applyEdits, edit, pieces, splits } from './mutate.ts';
import { send } from './wire.ts';

// ---- the reference: a strict parse of the client's bytes ----

export interface RefRequest {
  method: string;
  /** As the proxy forwards it (origin-form); null when the reference cannot tell (then only method and body are compared). */
  target: string | null;
  body: Buffer;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

/** A CR not followed by LF, or an LF not preceded by CR, in buf[from, to). */
function bareCrOrLf(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    if (buf[i] === 0x0a && (i === from || buf[i - 1] !== 0x0d)) return true;
    if (buf[i] === 0x0d && (i + 1 >= to || buf[i + 1] !== 0x0a)) return true;
  }
  return false;
}

/** origin-form as forwarded: absolute-form loses scheme and authority (and a fragment); null: a form the proxy refuses or the reference cannot predict. */
function forwardedTarget(method: string, target: string): string | null | undefined {
  if (target.startsWith('/')) return target.includes('#') ? null : target;
  if (target === '*') return method === 'OPTIONS' ? '*' : undefined;
  const m = /^https?:\/\/[^/?#]*([^#]*)/i.exec(target);
  if (m === null) return undefined; // authority-form, garbage: 400
  if (m[1] === '') return method === 'OPTIONS' ? '*' : '/';
  return m[1]!.startsWith('?') ? null : m[1]!;
}

/**
 * The requests in `buf` up to the first one that is invalid or incomplete, and up to one after
 * which the connection closes (Connection: close, HTTP/1.0 without keep-alive).
 */
export function reference(buf: Buffer): RefRequest[] {
  const out: RefRequest[] = [];
  let pos = 0;
  for (;;) {
    while (buf[pos] === 0x0d && buf[pos + 1] === 0x0a) pos += 2; // empty lines before a request line
    const he = buf.indexOf(HEAD_END, pos);
    if (he < 0) return out;
    if (bareCrOrLf(buf, pos, he + 4)) return out;
    const lines = buf.toString('latin1', pos, he).split('\r\n');
    const rl = /^([^ ]+) ([^ ]+) HTTP\/1\.([01])$/.exec(lines[0]!);
    if (rl === null || !TOKEN.test(rl[1]!) || rl[1] === 'CONNECT') return out;
    if (/[\x00-\x20\x7f]/.test(rl[2]!)) return out;
    const method = rl[1]!;
    const minor = Number(rl[3]);
    const target = forwardedTarget(method, rl[2]!);
    if (target === undefined) return out;
    const fields: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c <= 0 || !TOKEN.test(line.slice(0, c))) return out; // obs-fold, space before the colon, not a token
      const value = line.slice(c + 1).replace(/^[ \t]+|[ \t]+$/g, '');
      if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return out;
      fields.push([line.slice(0, c).toLowerCase(), value]);
    }
    const values = (n: string): string[] => fields.filter(([k]) => k === n).map(([, v]) => v);
    if (minor === 1 && values('host').length !== 1) return out;
    const te = values('transfer-encoding');
    const cl = values('content-length').flatMap((v) => v.split(',').map((x) => x.trim()));
    let body: Buffer;
    let next: number;
    if (te.length > 0) {
      if (cl.length > 0 || minor === 0) return out;
      const codings = te.flatMap((v) => v.split(',')).map((x) => x.trim().toLowerCase());
      if (codings.length !== 1 || codings[0] !== 'chunked') return out;
      const r = chunked(buf, he + 4);
      if (r === null) return out;
      body = r.body;
      next = r.next;
    } else if (cl.length > 0) {
      if (!cl.every((v) => /^[0-9]+$/.test(v)) || new Set(cl.map((v) => BigInt(v))).size !== 1) return out;
      const n = Number(cl[0]);
      if (buf.length < he + 4 + n) return out;
      body = buf.subarray(he + 4, he + 4 + n);
      next = he + 4 + n;
    } else {
      body = Buffer.alloc(0);
      next = he + 4;
    }
    out.push({ method, target, body });
    const connection = values('connection').flatMap((v) => v.split(',')).map((x) => x.trim().toLowerCase());
    if (connection.includes('close') || (minor === 0 && !connection.includes('keep-alive'))) return out;
    // An Upgrade request is not a tunnel here: the server never answers 101, so the proxy goes back to parsing requests.
    pos = next;
  }
}

/** A chunked body from `pos`: decoded, and where it ends; null when malformed or incomplete. */
function chunked(buf: Buffer, pos: number): { body: Buffer; next: number } | null {
  const parts: Buffer[] = [];
  for (let guard = 0; guard < 10_000; guard++) {
    const eol = buf.indexOf(CRLF, pos);
    if (eol < 0 || bareCrOrLf(buf, pos, eol + 2)) return null;
    const line = buf.toString('latin1', pos, eol);
    const m = /^([0-9A-Fa-f]+)(?:[ \t]*;.*)?$/.exec(line);
    if (m === null || m[1]!.length > 12) return null;
    const size = parseInt(m[1]!, 16);
    pos = eol + 2;
    if (size === 0) {
      // trailer fields, then the empty line
      for (;;) {
        const e = buf.indexOf(CRLF, pos);
        if (e < 0 || bareCrOrLf(buf, pos, e + 2)) return null;
        const tl = buf.toString('latin1', pos, e);
        pos = e + 2;
        if (tl === '') return { body: Buffer.concat(parts), next: pos };
        const c = tl.indexOf(':');
        if (c <= 0 || !TOKEN.test(tl.slice(0, c))) return null;
      }
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a) return null;
    pos += size + 2;
  }
  return null;
}

// ---- inputs ----

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/);
const fieldValue = fc.stringMatching(/^[!-~]([ !-~]{0,10}[!-~])?$/);
const path = fc.array(fc.stringMatching(/^[A-Za-z0-9._~%-]{0,6}$/), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join('/')}`);
const target = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(path, fc.option(fc.stringMatching(/^[A-Za-z0-9=&]{0,8}$/), { nil: null })).map(([p, q]) => (q === null ? p : `${p}?${q}`)) },
  { weight: 1, arbitrary: path.map((p) => `http://a.test${p}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://a.test', 'https://a.test:8443/x?y', 'a.test:80', 'x/y') },
);
const bodyBytes = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a));

interface Req {
  method: string;
  target: string;
  minor: 0 | 1;
  fields: Array<[string, string]>;
  framing: 'none' | 'length' | 'chunked';
  body: Buffer;
  chunks: number[];
  ext: string;
  trailers: Array<[string, string]>;
  /** Field lines put among the others as they are: framing a smuggler would add. */
  injected: string[];
}

const INJECTED = ['Content-Length: 0', 'Content-Length: 3', 'Content-Length: 05', 'Content-Length: 3, 3', 'Content-Length: +3', 'Content-Length: -1', 'Content-Length: 1e1',
  'Content-Length:', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked, chunked', 'Transfer-Encoding: identity', 'Transfer-Encoding:  chunked ', 'Transfer-Encoding: CHUNKED',
  'Transfer-Encoding: chunked;q=1', 'Transfer-Encoding: xchunked', 'Connection: close', 'Connection: transfer-encoding', 'Host: b.test', 'Expect: 100-continue', 'Upgrade: h2c'];

const request: fc.Arbitrary<Req> = fc.record({
  method: fc.oneof({ weight: 8, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH') }, { weight: 1, arbitrary: token.map((t) => t.toUpperCase()) }),
  target,
  minor: fc.constantFrom<0 | 1>(1, 1, 1, 0),
  fields: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom('Connection', 'Expect', 'Upgrade', 'X-Forwarded-For', 'Via', 'TE', 'Keep-Alive', 'Cookie')), fieldValue), { maxLength: 4 }),
  framing: fc.constantFrom('none', 'length', 'chunked'),
  body: bodyBytes,
  chunks: fc.array(fc.integer({ min: 1, max: 16 }), { maxLength: 4 }),
  ext: fc.constantFrom('', ';a=b', ';a="b c"', ' ;x'),
  trailers: fc.array(fc.tuple(token, fieldValue), { maxLength: 2 }),
  injected: fc.oneof({ weight: 2, arbitrary: fc.constant<string[]>([]) }, { weight: 1, arbitrary: fc.array(fc.constantFrom(...INJECTED), { minLength: 1, maxLength: 2 }) }),
});

function serialize(r: Req): Buffer {
  const head = [`${r.method} ${r.target} HTTP/1.${r.minor}`, 'Host: a.test', ...r.fields.map(([n, v]) => `${n}: ${v}`)];
  let body: Buffer = Buffer.alloc(0);
  for (const [i, line] of r.injected.entries()) head.splice(1 + ((i * 7) % head.length), 0, line);
  if (r.framing === 'length' || (r.framing === 'chunked' && r.minor === 0)) {
    head.push(`Content-Length: ${r.body.length}`);
    body = r.body;
  } else if (r.framing === 'chunked') {
    head.push('Transfer-Encoding: chunked');
    const parts: Buffer[] = [];
    let at = 0;
    for (const n of [...r.chunks, r.body.length]) {
      const piece = r.body.subarray(at, at + n);
      if (piece.length === 0) break;
      parts.push(Buffer.from(`${piece.length.toString(16)}${r.ext}\r\n`, 'latin1'), piece, CRLF);
      at += piece.length;
    }
    parts.push(Buffer.from(`0\r\n${r.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1'));
    body = Buffer.concat(parts);
  }
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

const TOKENS = ['\r\n', '\n', '\r', ' ', '\t', ':', ',', ';', '0', 'Content-Length: 5\r\n', 'Content-Length: 0\r\n', 'content-length: 05\r\n', 'Content-Length: 5, 5\r\n',
  'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip, chunked\r\n', 'transfer-encoding: chunked\r\n', 'Transfer-Encoding:chunked\r\n', ' chunked', 'Content-Length : 3\r\n',
  '0\r\n\r\n', '\r\n\r\n', '5\r\nhello\r\n', 'GET /smuggled HTTP/1.1\r\nHost: a.test\r\n\r\n', 'POST /smuggled HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1', 'HTTP/1.0', ' HTTP/1.1\r\n', 'Host: b.test\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n', 'Expect: 100-continue\r\n', 'Upgrade: websocket\r\nConnection: upgrade\r\n',
  'Connection: content-length\r\n', ' folded', '\x00', '\x7f', 'ffffffffffff', '1;a="x\r\n"'];

const input = fc.record({
  requests: fc.array(request, { minLength: 1, maxLength: 3 }),
  edits: fc.oneof({ weight: 1, arbitrary: fc.constant([]) }, { weight: 4, arbitrary: fc.array(edit(TOKENS), { minLength: 1, maxLength: 4 }) }),
  cuts: splits,
});

// ---- the run ----

function seenAs(r: SeenRequest): { method: string; target: string; body: Buffer } {
  const [method = '', target = ''] = r.line.split(' ');
  return { method, target, body: r.body };
}

test('fuzz: mutated raw requests into a listener → no crash, no hang, no request the client did not send as one', async (t) => {
  const backend = await scriptedServer((req) => (req.line.startsWith('HEAD ') ? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n' : 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  const p = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: [
      {
        name: 'h',
        listen: '127.0.0.1:0',
        protocol: 'http',
        pool: 'p',
        forwardedHeaders: { xForwardedFor: 'replace' },
        timeouts: { requestHeaders: '1s', requestBody: '1s', httpKeepAlive: '1s' },
      },
    ],
    pools: [{ name: 'p', servers: [{ address: backend.backend.address }], timeouts: { response: '2s' } }],
  });
  const port = p.addr('h').port;
  const counts: Record<string, number> = { cases: 0, forwarded: 0, referenceRequests: 0, smuggledMarkers: 0 };
  let n = 0;
  try {
    await fuzz(
      t,
      'http request path',
      fc.asyncProperty(input, async ({ requests, edits, cuts }) => {
        const bytes = applyEdits(Buffer.concat(requests.map(serialize)), edits);
        const ref = reference(bytes);
        // one source address per case (127.0.0.2 … .254 in turn): the server's X-Forwarded-For says which case a request came from
        const address = `127.0.0.${2 + (n++ % 253)}`;
        const from = backend.seen.length;
        const r = await send(port, pieces(bytes, cuts), { localAddress: address, timeoutMs: 5_000 });
        assert.notEqual(r.how, 'timeout', 'the proxy answered or closed within its timeouts');
        const got = backend.seen.slice(from).filter((s) => s.values('x-forwarded-for').at(-1) === address).map(seenAs);
        counts['cases']!++;
        counts['forwarded']! += got.length;
        counts['referenceRequests']! += ref.length;
        if (bytes.includes('/smuggled')) counts['smuggledMarkers']!++;
        assert.ok(got.length <= ref.length, `the server got ${got.length} requests, the client sent ${ref.length}: ${JSON.stringify(got.map((g) => `${g.method} ${g.target}`))} from ${JSON.stringify(bytes.toString('latin1'))}`);
        got.forEach((g, i) => {
          const want = ref[i]!;
          const what = `request ${i} of ${JSON.stringify(bytes.toString('latin1'))}`;
          assert.equal(g.method, want.method, what);
          if (want.target !== null) assert.equal(g.target, want.target, what);
          assert.ok(g.body.equals(want.body), `${what}: body ${JSON.stringify(g.body.toString('latin1'))}, sent ${JSON.stringify(want.body.toString('latin1'))}`);
        });
      }),
      budget(4),
      () => counts,
    );
    // still serving
    const ok = await send(port, [Buffer.from('GET /after HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n')]);
    assert.match(ok.data.toString('latin1'), /^HTTP\/1\.1 200 /);
  } finally {
    await p.stop();
    await backend.close();
  }
});

test('the reference parse itself', () => {
  const b = (s: string): Buffer => Buffer.from(s, 'latin1');
  assert.deepEqual(reference(b('GET / HTTP/1.1\r\nHost: a\r\n\r\n')).map((r) => r.target), ['/']);
  assert.equal(reference(b('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).length, 0);
  assert.equal(reference(b('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n')).length, 2);
  assert.equal(reference(b('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab')).length, 0);
  assert.deepEqual(reference(b('GET http://a.test HTTP/1.1\r\nHost: a\r\n\r\nOPTIONS http://a.test HTTP/1.1\r\nHost: a\r\n\r\n')).map((r) => r.target), ['/', '*']);
  assert.equal(reference(b('GET / HTTP/1.1\nHost: a\r\n\r\n')).length, 0);
  assert.equal(reference(b('GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n')).length, 1);
  assert.equal(reference(b('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 01\r\n\r\nxGET / HTTP/1.1\r\nHost: a\r\n\r\n')).length, 2);
  assert.equal(reference(b('GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx')).length, 0);
});

// Fuzz target (d): the response path. A scripted server answers request A of each case with a
// response built valid (status, 1xx before it, random fields, Content-Length, chunked with
// extensions and trailers, or close-delimited) and then edited — the framing fields, a second
// response glued behind the first, bare LF, truncation — and closes the connection after it or
// not. Then request B of the same case, on a new client connection, which the pool may serve on
// the same server connection (`reuse: "always"`, one connection per server at most); the server
// answers B cleanly with `own:/b<n>`.
// Properties: the proxy never crashes and never hangs a client past its timeouts; no client gets
// bytes of another request's response — B gets its own response (200 `own:/b<n>`) or the proxy's
// own 502/503/504, never anything of A's (a poisoned connection reused), and A's client never
// sees a byte meant for another case.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { startProxy } from '../helpers/fullproxy.ts';
import { parseResponse } from '../helpers/http.ts';
import { scriptedServer } from '../helpers/scripted-server.ts';
import { budget, fuzz } from './fuzz-run.ts';
import { applyEdits, edit } from './mutate.ts';
import { send } from './wire.ts';

/**
 * Replaced by the case's marker (also after the edits, so text the edits insert carries it too).
 * A marker is `#` + 8 random hex digits + `#`: an edit that breaks one makes a string no other
 * case was given (a counter could be edited into another case's number: `case314!` → `case14!`).
 */
const MARK = '@@';
const MARKER = /#([0-9a-f]{8})#/g;

function newMarker(issued: Set<string>): string {
  for (;;) {
    const hex = randomBytes(4).toString('hex');
    if (issued.has(hex)) continue;
    issued.add(hex);
    return hex;
  }
}

interface Resp {
  status: number;
  informational: number[];
  fields: Array<[string, string]>;
  framing: 'length' | 'chunked' | 'close';
  body: string;
  chunks: number[];
  ext: string;
  trailers: Array<[string, string]>;
}

const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/);
const fieldValue = fc.stringMatching(/^[!-~]([ !-~]{0,10}[!-~])?$/);
const response: fc.Arbitrary<Resp> = fc.record({
  status: fc.oneof({ weight: 8, arbitrary: fc.constantFrom(200, 201, 204, 206, 301, 304, 404, 500, 503) }, { weight: 1, arbitrary: fc.constantFrom(101, 199, 600, 99) }),
  informational: fc.array(fc.constantFrom(100, 102, 103), { maxLength: 2 }),
  fields: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom('Connection', 'Keep-Alive', 'Set-Cookie', 'Upgrade', 'Trailer', 'Via')), fieldValue), { maxLength: 3 }),
  framing: fc.constantFrom('length', 'length', 'chunked', 'close'),
  body: fc.stringMatching(/^[a-z0-9 ]{0,30}$/).map((b) => `${MARK}${b}`),
  chunks: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 3 }),
  ext: fc.constantFrom('', ';a=b', ';q="x y"'),
  trailers: fc.array(fc.tuple(fc.oneof(token, fc.constantFrom('Content-Length', 'Transfer-Encoding', 'Set-Cookie', 'Server-Timing')), fieldValue), { maxLength: 2 }),
});

/** `head`: the answer to a HEAD request (a body would be garbage after it). `marker` replaces MARK in the body before it is framed. */
function serialize(r: Resp, head: boolean, marker: string): string {
  r = { ...r, body: r.body.replaceAll(MARK, marker) };
  const info = r.informational.map((s) => `HTTP/1.1 ${s} Info\r\n\r\n`).join('');
  const lines = [`HTTP/1.1 ${r.status} Reason`, ...r.fields.map(([n, v]) => `${n}: ${v}`)];
  let body = '';
  if (r.status === 204 || r.status === 304) {
    // no body, whatever the framing (RFC 9112 §6.3): a Content-Length is allowed, a body is not
    if (r.framing === 'length') lines.push(`Content-Length: ${r.body.length}`);
  } else if (r.framing === 'length') {
    lines.push(`Content-Length: ${r.body.length}`);
    body = r.body;
  } else if (r.framing === 'chunked') {
    lines.push('Transfer-Encoding: chunked');
    let at = 0;
    for (const n of [...r.chunks, r.body.length]) {
      const piece = r.body.slice(at, at + n);
      if (piece === '') break;
      body += `${piece.length.toString(16)}${r.ext}\r\n${piece}\r\n`;
      at += piece.length;
    }
    body += `0\r\n${r.trailers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  } else body = r.body;
  return `${info}${lines.join('\r\n')}\r\n\r\n${head ? '' : body}`;
}

const TOKENS = ['\r\n', '\n', '\r', ' ', ':', ';', '0', 'Content-Length: 5\r\n', 'Content-Length: 0\r\n', 'Content-Length: 99\r\n', 'Content-Length: 3, 4\r\n',
  'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip\r\n', 'Connection: close\r\n', 'Connection: keep-alive\r\n', 'Keep-Alive: timeout=1\r\n', '0\r\n\r\n',
  '\r\n\r\n', 'ffffffff\r\n', `HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n${MARK}POISON`, `HTTP/1.1 200 OK\r\n\r\n${MARK}`, 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.0',
  '\x00', 'Upgrade: websocket\r\n', `5\r\n${MARK}x\r\n`];

const input = fc.record({
  resp: response,
  edits: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 3, arbitrary: fc.array(edit(TOKENS), { minLength: 1, maxLength: 3 }) }),
  /** Bytes after the response: a second response, junk, an empty line (a server that frames differently or speaks out of turn). */
  suffix: fc.constantFrom('', '', '', `HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n${MARK}POISON`, `${MARK}junk`, '\r\n'),
  end: fc.constantFrom(false, false, true),
  head: fc.constantFrom(false, false, false, false, true),
});

test('fuzz: mutated server responses → no crash, no hang, never a poisoned connection reused', async (t) => {
  /** What the server answers to /a<n>: the case's bytes. */
  const script = new Map<string, { data: Buffer; end: boolean }>();
  const backend = await scriptedServer((req) => {
    const target = req.line.split(' ')[1] ?? '';
    const a = script.get(target);
    if (a !== undefined) return a;
    const body = `own:${target}`;
    return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
  });
  const p = await startProxy({
    logging: { level: 'error', access: false },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', timeouts: { requestHeaders: '1s', httpKeepAlive: '1s' } }],
    pools: [
      {
        name: 'p',
        servers: [{ address: backend.backend.address, maxConnections: 1 }],
        retries: 0,
        timeouts: { response: '400ms', serverIdle: '400ms', queue: '2s' },
        connectionPool: { reuse: 'always', maxIdlePerServer: 1 },
      },
    ],
  });
  const port = p.addr('h').port;
  const counts: Record<string, number> = { cases: 0, aServerResponse: 0, aProxyError: 0, aNoResponse: 0, bOwn: 0, bProxyError: 0, bReused: 0 };
  let n = 0;
  const issued = new Set<string>();
  try {
    await fuzz(
      t,
      'http response path',
      fc.asyncProperty(input, async ({ resp, edits, suffix, end, head }) => {
        const id = n++;
        const own = newMarker(issued);
        const marker = `#${own}#`;
        const data = Buffer.from(applyEdits(Buffer.from(serialize(resp, head, marker) + suffix, 'latin1'), edits).toString('latin1').replaceAll(MARK, marker), 'latin1');
        script.set(`/a${id}`, { data, end: end || resp.framing === 'close' });
        const a = await send(port, [Buffer.from(`${head ? 'HEAD' : 'GET'} /a${id} HTTP/1.1\r\nHost: a.test\r\n\r\n`)], { timeoutMs: 5_000 });
        script.delete(`/a${id}`);
        assert.notEqual(a.how, 'timeout', 'A: answered or closed within the timeouts');
        const aText = a.data.toString('latin1');
        assert.doesNotMatch(aText, /own:\/b/, 'A got bytes of a B response');
        for (const m of aText.matchAll(MARKER)) assert.ok(m[1] === own || !issued.has(m[1]!), `A got bytes of another case's response (${m[0]})`);
        counts['cases']!++;
        counts[/x-fullproxy-reason/i.test(aText) ? 'aProxyError' : /^HTTP\/1\.1 \d\d\d /.test(aText) ? 'aServerResponse' : 'aNoResponse']!++;
        const accepted = backend.backend.accepted;
        const b = await send(port, [Buffer.from(`GET /b${id} HTTP/1.1\r\nHost: a.test\r\n\r\n`)], { timeoutMs: 5_000 });
        assert.notEqual(b.how, 'timeout', 'B: answered or closed within the timeouts');
        if (backend.backend.accepted === accepted) counts['bReused']!++;
        const parsed = parseResponse(b.data, true);
        assert.ok(parsed !== null, `B got no complete response: ${JSON.stringify(b.data.toString('latin1'))}`);
        const res = parsed.res;
        const bText = b.data.toString('latin1');
        for (const m of bText.matchAll(MARKER)) assert.ok(!issued.has(m[1]!), `B got bytes of a case's A response: ${JSON.stringify(bText)}`);
        if (res.header('x-fullproxy-reason') !== undefined) {
          assert.ok([502, 503, 504].includes(res.status), `proxy error ${res.status}`);
          counts['bProxyError']!++;
        } else {
          assert.equal(res.status, 200, `B: ${JSON.stringify(bText)}`);
          assert.equal(res.body.toString('latin1'), `own:/b${id}`, 'B gets its own response');
          counts['bOwn']!++;
        }
      }),
      budget(4),
      () => counts,
    );
  } finally {
    await p.stop();
    await backend.close();
  }
});

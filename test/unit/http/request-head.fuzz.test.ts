// Seeded, bounded fuzzing of the request-head path (message-head.ts parseRequestHead, then the
// framing checks of headers.ts buildRequestHeaders), plus a differential run against Node's own
// strict llhttp parser. Valid heads are mutated (bytes, lines, folds, bare LF, version case,
// framing headers); every mutated head must keep our invariants, and whenever llhttp refuses a
// head as malformed we must refuse it too (except the allow-listed, harmless differences below).
// Deterministic: rerun with FUZZ_SEED=<seed> to get other inputs; failures name seed and bytes.
// Budget: FUZZ_PER_HEAD mutations per corpus head (default 300, ~3,400 distinct heads), of which
// FUZZ_NODE_SAMPLE (default 400) go to node:http; FUZZ_VERBOSE=1 prints every difference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { MAX_FIELDS, findHeadEnd, isHeadError, parseRequestHead, skipEmptyLines, type RequestLine } from '../../../src/http/message-head.ts';
import { buildRequestHeaders, forwardingContext, type RequestHead } from '../../../src/http/headers.ts';
import { ForwardedPolicy } from '../../../src/http/forwarded.ts';
import { Rng } from '../../helpers/rng.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 0x48ead5) >>> 0;
/** Mutated heads generated per corpus head (duplicates dropped). */
const PER_HEAD = Number(process.env['FUZZ_PER_HEAD'] ?? 300);
/** Mutated heads sent to Node's parser (a bounded, deterministic sample). */
const NODE_SAMPLE = Number(process.env['FUZZ_NODE_SAMPLE'] ?? 400);
const NODE_CONCURRENCY = 20;
const NODE_TIMEOUT_MS = 1000;
/** Slow second probes (3 s each) for a timeout or bare close on a head we accept, at most this many. */
const MAX_REPROBES = 10;

/** Heads are latin1 strings: one char per byte, so string offsets are byte offsets. */
const bytes = (s: string) => Buffer.from(s, 'latin1');
/** A head as a JS string literal with every non-ASCII byte escaped, to paste into a reproducer. */
const show = (s: string) => JSON.stringify(s).replace(/[\x7f-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

// ---- corpus: valid request heads that both we and llhttp accept ----------------------------

const CORPUS: readonly string[] = [
  'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n',
  'GET /search?q=fuzz&lang=en HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: fuzz/1.0\r\nAccept: text/html, application/xhtml+xml;q=0.9, */*;q=0.8\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n',
  'POST /submit HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n',
  'POST /upload HTTP/1.1\r\nHost: up.example.com\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n',
  'HEAD /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: example.com\r\nMax-Forwards: 0\r\n\r\n',
  'GET http://example.com/absolute/path?x=1 HTTP/1.1\r\nHost: example.com\r\nProxy-Connection: keep-alive\r\n\r\n',
  'GET /legacy HTTP/1.0\r\nHost: old.example.com\r\nConnection: keep-alive\r\n\r\n',
  'POST /form HTTP/1.0\r\nHost: example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\n',
  // one field short of MAX_FIELDS: two more (duplicated or added lines) make it too many
  'GET /many HTTP/1.1\r\nHost: many.example.com\r\n' + Array.from({ length: MAX_FIELDS - 2 }, (_, i) => `X-Header-${i}: value-${i}\r\n`).join('') + '\r\n',
  'GET /xff HTTP/1.1\r\nHost: example.com\r\nX-Forwarded-For: 203.0.113.7, 198.51.100.2\r\nX-Forwarded-Proto: https\r\nForwarded: for=203.0.113.7;proto=https\r\nVia: 1.1 edge\r\n\r\n',
  'GET /long HTTP/1.1\r\nHost: example.com\r\nCookie: a=' + 'x'.repeat(2000) + '; b=2\r\nX-Long: ' + 'abc-DEF_123 '.repeat(80) + 'end\r\n\r\n',
  'GET /obs HTTP/1.1\r\nHost: example.com\r\nX-Latin1: caf\xe9 na\xefve\r\nX-Utf8: \xc3\xa9t\xc3\xa9\r\nX-High: \x80\xff\xa0end\r\n\r\n',
  'PUT /bucket/key HTTP/1.1\r\nHost: s3.example.com\r\nContent-Length: 5\r\nExpect: 100-continue\r\nContent-MD5: XUFAKrxLKna5cZ2REBfFkg==\r\n\r\n',
  'DELETE /items/42 HTTP/1.1\r\nHost: example.com\r\nAuthorization:\tBearer abc.def.ghi \t\r\nX-Empty:\r\nIf-Match: "etag-1", "etag-2"\r\n\r\n',
  'PATCH /p HTTP/1.1\r\nhost: lower.example.com\r\ncontent-length: 0\r\nTE: trailers\r\nConnection: TE, close\r\n\r\n',
  '\r\nGET /after-empty-line HTTP/1.1\r\nHost: example.com\r\n\r\n',
];

// ---- mutations ---------------------------------------------------------------------------

/** Bytes that break parsers: line ends, separators, controls, DEL, obs-text edges, list commas. */
const INTERESTING = [13, 10, 32, 9, 58, 0, 0x7f, 0x80, 0xff, 44, 0x0b, 0x0c, 0xa0];

function randomByte(rng: Rng): string {
  return String.fromCharCode(rng.chance(0.75) ? rng.pick(INTERESTING) : rng.int(256));
}

/** Lines of a head (request line first, each without its CRLF); null when it has no clean shape. */
function lines(head: string): string[] | null {
  if (!head.endsWith('\r\n\r\n')) return null;
  return head.slice(0, -4).split('\r\n');
}

const join = (ls: readonly string[]) => ls.join('\r\n') + '\r\n\r\n';

/** Framing-related lines, valid and invalid, that headers.ts has to judge. */
const FRAMING_LINES = [
  'Content-Length: 5',
  'Content-Length: 13',
  'Content-Length: 0',
  'Content-Length: 005',
  'Content-Length:  5 ',
  'Content-Length: +5',
  'Content-Length: -1',
  'Content-Length: 0x5',
  'Content-Length: 5, 5',
  'Content-Length: 5 5',
  'Content-Length:',
  'Content-Length: 99999999999999999999',
  'Content-Length: 9007199254740993',
  'content-length: 7',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: Chunked',
  'Transfer-Encoding:  chunked\t',
  'Transfer-Encoding: chunked, chunked',
  'Transfer-Encoding: gzip, chunked',
  'Transfer-Encoding: chunked, gzip',
  'Transfer-Encoding: identity',
  'Transfer-Encoding: xchunked',
  'Transfer-Encoding: chunked\xa0',
  'Transfer-Encoding:',
  'transfer-encoding: chunked',
  'Host: other.example.com',
  'Host:',
  'Connection: close',
  'Connection: Transfer-Encoding, Content-Length',
  'X-Forwarded-For: 10.0.0.1',
];

type Mutator = (rng: Rng, head: string) => string;

const MUTATORS: readonly [string, Mutator][] = [
  ['insert-byte', (rng, h) => {
    const i = rng.int(h.length + 1);
    return h.slice(0, i) + randomByte(rng) + h.slice(i);
  }],
  ['delete-byte', (rng, h) => {
    const i = rng.int(h.length);
    return h.slice(0, i) + h.slice(i + 1);
  }],
  ['replace-byte', (rng, h) => {
    const i = rng.int(h.length);
    return h.slice(0, i) + randomByte(rng) + h.slice(i + 1);
  }],
  ['duplicate-line', (rng, h) => {
    const ls = lines(h);
    if (ls === null || ls.length < 2) return h;
    const i = 1 + rng.int(ls.length - 1);
    ls.splice(i, 0, ls[i]!);
    return join(ls);
  }],
  ['swap-lines', (rng, h) => {
    const ls = lines(h);
    if (ls === null || ls.length < 2) return h;
    // now and then the request line itself moves down
    const i = rng.chance(0.1) ? 0 : 1 + rng.int(ls.length - 1);
    const j = 1 + rng.int(ls.length - 1);
    [ls[i], ls[j]] = [ls[j]!, ls[i]!];
    return join(ls);
  }],
  ['space-before-colon', (rng, h) => {
    const ls = lines(h);
    if (ls === null || ls.length < 2) return h;
    const i = 1 + rng.int(ls.length - 1);
    const c = ls[i]!.indexOf(':');
    if (c < 0) return h;
    ls[i] = ls[i]!.slice(0, c) + rng.pick([' ', '\t', '  ']) + ls[i]!.slice(c);
    return join(ls);
  }],
  ['fold-line', (rng, h) => {
    const ls = lines(h);
    if (ls === null || ls.length < 2) return h;
    const i = 1 + rng.int(ls.length - 1);
    const line = ls[i]!;
    const at = line.indexOf(':') + 1 + rng.int(Math.max(1, line.length - line.indexOf(':')));
    ls[i] = line.slice(0, at) + '\r\n' + rng.pick([' ', '\t', '  ', ' \t']) + line.slice(at);
    return join(ls);
  }],
  ['version-case', (rng, h) => {
    const at = h.indexOf('HTTP/1.');
    if (at < 0) return h;
    const variants = ['http/1.1', 'Http/1.1', 'hTtP/1.1', 'hTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/1.10', 'HTTP/01.1', 'HTTP /1.1', 'HTTP/1', 'HTTP/0.9', 'HTTPS/1.1'];
    return h.slice(0, at) + rng.pick(variants) + h.slice(at + 8);
  }],
  ['split-crlf', (rng, h) => {
    const ends: number[] = [];
    for (let i = h.indexOf('\r\n'); i >= 0; i = h.indexOf('\r\n', i + 2)) ends.push(i);
    const i = rng.pick(ends);
    // mostly a bare LF, sometimes a bare CR or a CRCRLF
    return h.slice(0, i) + rng.pick(['\n', '\n', '\n', '\r', '\r\r\n', '\n\r']) + h.slice(i + 2);
  }],
  ['add-framing-line', (rng, h) => {
    const ls = lines(h);
    if (ls === null) return h;
    ls.splice(1 + rng.int(ls.length), 0, rng.pick(FRAMING_LINES));
    return join(ls);
  }],
  ['name-case', (rng, h) => {
    const ls = lines(h);
    if (ls === null || ls.length < 2) return h;
    const i = 1 + rng.int(ls.length - 1);
    const c = ls[i]!.indexOf(':');
    if (c < 0) return h;
    const name = ls[i]!.slice(0, c);
    ls[i] = (rng.chance(0.5) ? name.toUpperCase() : name.toLowerCase()) + ls[i]!.slice(c);
    return join(ls);
  }],
  ['version-swap', (_rng, h) => {
    const at = h.indexOf('HTTP/1.');
    if (at < 0) return h;
    return h.slice(0, at) + (h[at + 7] === '1' ? 'HTTP/1.0' : 'HTTP/1.1') + h.slice(at + 8);
  }],
];

interface Case {
  /** The whole mutated input (a head, maybe followed by more bytes). */
  input: string;
  ops: string;
  corpus: number;
}

/** Several thousand distinct mutated heads, 1 to 3 stacked mutations each. */
function generate(seed: number): Case[] {
  const rng = new Rng(seed);
  const seen = new Set<string>(CORPUS);
  const out: Case[] = [];
  CORPUS.forEach((base, corpus) => {
    for (let n = 0; n < PER_HEAD; n++) {
      let h = base;
      const ops: string[] = [];
      const count = 1 + (rng.chance(0.6) ? 0 : rng.int(3));
      for (let k = 0; k < count; k++) {
        const [name, fn] = rng.pick(MUTATORS);
        h = fn(rng, h);
        ops.push(name);
      }
      if (seen.has(h)) continue;
      seen.add(h);
      out.push({ input: h, ops: ops.join('+'), corpus });
    }
  });
  return out;
}

// ---- our side ----------------------------------------------------------------------------

const POLICY = new ForwardedPolicy({ xForwardedFor: 'append', trustedProxies: [] });
const FORWARDING = forwardingContext(POLICY, { clientAddress: '192.0.2.10', clientPort: 40000, localAddress: '192.0.2.80', localPort: 8080 }, 'http');

interface Ours {
  /** The bytes client-connection.ts consumes for this head: leading CRLFs through CRLFCRLF. */
  head: Buffer;
  line: RequestLine | null;
  framing: RequestHead | null;
  /** null when accepted, else the reason (parse error or framing error). */
  error: string | null;
}

/** What client-connection.ts does with the buffered bytes; null when no CRLFCRLF (no head yet). */
function ours(input: string): Ours | null {
  const buf = bytes(input);
  const start = skipEmptyLines(buf, 0);
  const end = findHeadEnd(buf, start);
  if (end < 0) return null;
  const head = buf.subarray(0, end);
  let parsed: ReturnType<typeof parseRequestHead>;
  try {
    parsed = parseRequestHead(buf, start, end);
  } catch (err) {
    assert.fail(`parseRequestHead threw on ${show(input)}: ${String(err)}`);
  }
  if (isHeadError(parsed)) return { head, line: null, framing: null, error: `head: ${parsed.error}` };
  let framing: RequestHead;
  try {
    framing = buildRequestHeaders(parsed.fields, parsed.minor === 1 ? '1.1' : '1.0', null, FORWARDING);
  } catch (err) {
    assert.fail(`buildRequestHeaders threw on ${show(input)}: ${String(err)}`);
  }
  return { head, line: parsed, framing, error: framing.error === null ? null : `framing: ${framing.error}` };
}

// An independent statement of RFC 9112's head grammar (as this project reads it: any visible or
// obs-text request-target), matched against the whole head at once instead of cut by lines.
const TCHAR = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]";
const REF_HEAD = new RegExp(`^${TCHAR}+ [\\x21-\\x7e\\x80-\\xff]+ HTTP/1\\.[01]\\r\\n(?:${TCHAR}+:[\\t\\x20-\\x7e\\x80-\\xff]*\\r\\n)*\\r\\n$`);
const TOKEN = new RegExp(`^${TCHAR}+$`);
const NO_SP_CTL = /^[^\x00-\x20\x7f]+$/;
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;

function fieldCount(grammarHead: string): number {
  return grammarHead.split('\r\n').length - 3;
}

/** The invariants of an accepted head and of its framing, on one case. */
function checkProperties(input: string, o: Ours): void {
  const ctx = `input ${show(input)}`;
  const text = o.head.toString('latin1', skipEmptyLines(o.head, 0));
  const grammatical = REF_HEAD.test(text);
  if (o.line === null) {
    // refused by the parser: only heads outside the grammar, or with too many fields
    assert.ok(!grammatical || fieldCount(text) > MAX_FIELDS, `${ctx}: grammatical head refused (${o.error})`);
    return;
  }
  const { method, target, minor, fields } = o.line;
  assert.ok(grammatical, `${ctx}: accepted a head outside the RFC 9112 grammar`);
  assert.match(method, TOKEN, ctx);
  assert.match(target, NO_SP_CTL, ctx);
  assert.ok(minor === 0 || minor === 1, ctx);
  assert.ok(text.startsWith(`${method} ${target} HTTP/1.${minor}\r\n`), `${ctx}: request line not as sent`);
  assert.equal(fields.length % 2, 0, ctx);
  assert.ok(fields.length <= MAX_FIELDS * 2, ctx);
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    assert.match(name, TOKEN, `${ctx}: field name ${show(name)}`);
    assert.doesNotMatch(value, BAD_VALUE_CHAR, `${ctx}: value ${show(value)}`);
    assert.doesNotMatch(value, /^[ \t]|[ \t]$/, `${ctx}: value ${show(value)} not trimmed`);
  }

  const f = o.framing!;
  const lower = (i: number) => fields[i]!.toLowerCase();
  const valuesOf = (n: string) => fields.filter((_, i) => i % 2 === 1 && lower(i - 1) === n);
  const cl = valuesOf('content-length');
  const te = valuesOf('transfer-encoding');
  const hosts = valuesOf('host');
  if (f.error !== null) {
    assert.equal(f.headers, null, ctx);
    assert.equal(f.hasBody, false, ctx);
    return;
  }
  // accepted: the input obeys every framing rule...
  // one Host; only HTTP/1.0 may omit it (the proxy then writes one of its own: checked below)
  assert.equal(hosts.length, minor === 0 ? Math.min(hosts.length, 1) : 1, `${ctx}: Host count`);
  if (hosts.length === 1) assert.equal(f.host, hosts[0], ctx);
  for (const v of cl) assert.match(v, /^[0-9]+$/, `${ctx}: Content-Length ${show(v)}`);
  assert.ok(cl.every((v) => v === cl[0]), `${ctx}: conflicting Content-Length accepted`);
  assert.ok(te.length <= 1, `${ctx}: several Transfer-Encoding accepted`);
  if (te.length === 1) {
    assert.equal(te[0]!.toLowerCase(), 'chunked', ctx);
    assert.equal(cl.length, 0, `${ctx}: Content-Length beside Transfer-Encoding accepted`);
    assert.equal(minor, 1, `${ctx}: Transfer-Encoding in HTTP/1.0 accepted`);
  }
  // ...and the framing handed on is consistent: chunked XOR a length, hasBody follows from them
  const out = f.headers!;
  const outNames = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
  const outCl = outNames.filter((n) => n === 'content-length').length;
  const outTe = outNames.filter((n) => n === 'transfer-encoding').length;
  assert.equal(outNames.filter((n) => n === 'host').length, 1, `${ctx}: the server gets one Host`);
  assert.ok(Number.isSafeInteger(f.contentLength) && f.contentLength >= 0, ctx);
  assert.equal(f.chunked, te.length === 1, ctx);
  assert.equal(f.hasBody, f.chunked || f.contentLength > 0, ctx);
  if (f.chunked) {
    assert.equal(f.contentLength, 0, ctx);
    assert.deepEqual([outCl, outTe], [0, 1], `${ctx}: chunked must be forwarded as the only framing`);
  } else {
    assert.equal(outTe, 0, ctx);
    assert.equal(outCl, cl.length > 0 ? 1 : 0, `${ctx}: one Content-Length forwarded`);
    assert.equal(f.contentLength, cl.length > 0 ? Number(cl[0]) : 0, ctx);
  }
  for (const n of outNames) assert.ok(!['connection', 'keep-alive', 'proxy-connection', 'te', 'upgrade'].includes(n), `${ctx}: hop-by-hop ${n} forwarded`);
  assert.equal(outNames.filter((n) => n === 'x-forwarded-for').length, 1, ctx);
}

// ---- Node's side -------------------------------------------------------------------------

/** What llhttp (via node:http) made of a head: the first final status, or the connection closing. */
type NodeVerdict = { kind: 'status'; status: number } | { kind: 'closed' } | { kind: 'timeout' };

function probe(port: number, head: Buffer, timeoutMs = NODE_TIMEOUT_MS): Promise<NodeVerdict> {
  return new Promise((resolve) => {
    const sock = net.connect({ port, host: '127.0.0.1' });
    let data = '';
    let done = false;
    const finish = (v: NodeVerdict) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), timeoutMs);
    sock.on('connect', () => sock.write(head));
    sock.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      // skip 1xx (100 Continue for Expect), report the first final status
      for (;;) {
        const m = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(data);
        if (m === null) return;
        const status = Number(m[1]);
        if (status >= 200) return finish({ kind: 'status', status });
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        data = data.slice(end + 4);
      }
    });
    sock.on('error', () => finish({ kind: 'closed' }));
    sock.on('close', () => finish({ kind: 'closed' }));
  });
}

/** Runs `fn` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// Known differences where llhttp refuses a head as malformed and we accept it, each judged
// harmless: none changes where the message ends or what its body is, and the server behind us
// gets the request as sent. Each entry also says how to take the difference out again: a head
// Node refused must be accepted by Node once every matching entry is repaired, so an entry can
// never hide a second, unexplained difference in the same head.
const HTTP_METHODS = new Set(http.METHODS);
const isContentLength = (line: string) => line.slice(0, line.indexOf(':')).toLowerCase() === 'content-length';

interface Difference {
  name: string;
  matches: (l: RequestLine) => boolean;
  /** Rewrites the head's lines (request line first) so that this difference is gone. */
  repair: (lines: string[], l: RequestLine) => void;
}

const ALLOWED_DIFFERENCES: readonly Difference[] = [
  {
    // RFC 9110 §9.1: any token is a method; llhttp only knows a fixed list. Forwarded verbatim, the server answers 501.
    name: 'method unknown to llhttp',
    matches: (l) => !HTTP_METHODS.has(l.method),
    repair: (ls) => void (ls[0] = 'GET' + ls[0]!.slice(ls[0]!.indexOf(' '))),
  },
  {
    // message-head.ts TARGET: obs-text (raw UTF-8) in the target is accepted by design, as nginx and HAProxy do.
    name: 'obs-text in the request-target',
    matches: (l) => /[\x80-\xff]/.test(l.target),
    repair: (ls, l) => void (ls[0] = ls[0]!.replace(` ${l.target} `, ' / ')),
  },
  {
    // llhttp's URL parser takes only "/…", "*" and scheme://…; other targets (http:/x, h,tp://x) are
    // not framing (RFC 9112 §3.2 only SHOULDs a 400) and go to the server as sent.
    name: 'request-target neither origin-form nor asterisk-form',
    matches: (l) => !l.target.startsWith('/') && l.target !== '*',
    repair: (ls, l) => void (ls[0] = ls[0]!.replace(` ${l.target} `, ' / ')),
  },
  {
    // RFC 9110 §8.6: identical Content-Length values MAY be collapsed; llhttp refuses any repeat, we forward exactly one.
    name: 'repeated identical Content-Length',
    matches: (l) => l.fields.filter((_, i) => i % 2 === 0 && l.fields[i]!.toLowerCase() === 'content-length').length > 1,
    repair: (ls) => {
      const first = ls.findIndex((x, i) => i > 0 && isContentLength(x));
      for (let i = ls.length - 1; i > first; i--) if (isContentLength(ls[i]!)) ls.splice(i, 1);
    },
  },
];

/** The allow-list entries that match an accepted head, and the head with all of them repaired. */
function explain(o: Ours): { names: string[]; repaired: Buffer } {
  const line = o.line!;
  const matching = ALLOWED_DIFFERENCES.filter((d) => d.matches(line));
  const text = o.head.toString('latin1', skipEmptyLines(o.head, 0));
  const ls = text.slice(0, -4).split('\r\n');
  for (const d of matching) d.repair(ls, line);
  return { names: matching.map((d) => d.name), repaired: bytes(ls.join('\r\n') + '\r\n\r\n') };
}

const nodeAccepts = (v: NodeVerdict) => v.kind === 'status' && v.status >= 200 && v.status < 300;
/** llhttp's verdict on a malformed head: 400 and close (Node's clientError default), or a bare close. */
const nodeMalformed = (v: NodeVerdict) => v.kind === 'closed' || (v.kind === 'status' && v.status === 400);

// ---- tests -------------------------------------------------------------------------------

test('corpus: every seed head is accepted by us with its framing', () => {
  for (const head of CORPUS) {
    const o = ours(head);
    assert.ok(o !== null, show(head));
    assert.equal(o.error, null, `${show(head)}: ${o.error}`);
    checkProperties(head, o);
  }
});

const CASES = generate(SEED);

test(`mutated heads (seed ${SEED}): parser never throws, accepted heads keep the RFC 9112 grammar, framing is consistent`, (t) => {
  assert.ok(CASES.length >= 3000, `only ${CASES.length} distinct cases`);
  let parsed = 0;
  let accepted = 0;
  let framingRefused = 0;
  const reasons = new Map<string, number>();
  for (const c of CASES) {
    const o = ours(c.input);
    if (o === null) continue;
    parsed++;
    checkProperties(c.input, o);
    if (o.error === null) accepted++;
    else {
      if (o.line !== null) framingRefused++;
      const r = o.error.replace(/ in field .*/, ' in field …');
      reasons.set(r, (reasons.get(r) ?? 0) + 1);
    }
  }
  t.diagnostic(`${CASES.length} mutated heads, ${parsed} with a CRLFCRLF: ${accepted} accepted, ${parsed - accepted} refused (${framingRefused} by framing checks)`);
  for (const [r, n] of [...reasons].sort((a, b) => b[1] - a[1])) t.diagnostic(`  ${n} × ${r}`);
});

test(`differential against node:http (llhttp, strict): what Node refuses as malformed, we refuse (seed ${SEED})`, async (t) => {
  const verbose = process.env['FUZZ_VERBOSE'] === '1';
  const server = http.createServer({ insecureHTTPParser: false, requireHostHeader: true }, (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    // the corpus itself: both sides accept every seed head
    const seeds = await mapLimit(CORPUS, NODE_CONCURRENCY, (h) => probe(port, bytes(h)));
    seeds.forEach((v, i) => assert.deepEqual(v, { kind: 'status', status: 200 }, `seed ${show(CORPUS[i]!)}`));

    // the sample: mostly heads we accept (only those can break the safety direction), some we refuse
    const rng = new Rng(SEED ^ 0x9e3779b9);
    const shuffle = <T>(xs: T[]) => {
      for (let i = xs.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [xs[i], xs[j]] = [xs[j]!, xs[i]!];
      }
      return xs;
    };
    const withHead = CASES.map((c) => ({ c, o: ours(c.input) })).filter((x): x is { c: Case; o: Ours } => x.o !== null);
    const acc = shuffle(withHead.filter((x) => x.o.error === null));
    const rej = shuffle(withHead.filter((x) => x.o.error !== null));
    const nAcc = Math.min(acc.length, Math.round(NODE_SAMPLE * 0.7));
    const sample = [...acc.slice(0, nAcc), ...rej.slice(0, NODE_SAMPLE - nAcc)];
    const verdicts = await mapLimit(sample, NODE_CONCURRENCY, (x) => probe(port, x.o.head));

    const unsafe: string[] = [];
    const allowed = new Map<string, number>();
    const stricter = new Map<string, number>();
    const counts = { bothAccept: 0, bothRefuse: 0, nodeOther: 0, timeouts: 0, retried: 0 };
    const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);
    for (let i = 0; i < sample.length; i++) {
      const { c, o } = sample[i]!;
      let v = verdicts[i]!;
      const where = `${c.ops} on seed head ${c.corpus}: ${show(o.head.toString('latin1'))}`;
      if (o.error !== null) {
        if (v.kind === 'timeout') counts.timeouts++;
        if (nodeAccepts(v)) bump(stricter, o.error);
        else counts.bothRefuse++;
        if (verbose && nodeAccepts(v)) t.diagnostic(`stricter (${o.error}): ${where.slice(0, 400)}`);
        continue;
      }
      // we accept: a timeout or a bare close may be the machine, not the parser; ask once more, slowly
      if (v.kind !== 'status' && counts.retried < MAX_REPROBES) {
        counts.retried++;
        v = await probe(port, o.head, NODE_TIMEOUT_MS * 3);
      }
      if (nodeAccepts(v)) {
        counts.bothAccept++;
        continue;
      }
      if (v.kind === 'timeout') {
        counts.timeouts++;
        unsafe.push(`Node still waits for the end of a head we accepted: ${where}`);
        continue;
      }
      if (!nodeMalformed(v)) {
        // e.g. 417 for an Expect other than 100-continue: a server's choice, not a malformed head
        counts.nodeOther++;
        if (verbose) t.diagnostic(`node ${JSON.stringify(v)}: ${where.slice(0, 400)}`);
        continue;
      }
      const { names, repaired } = explain(o);
      if (names.length === 0) {
        unsafe.push(`${where} -> node ${JSON.stringify(v)}`);
        continue;
      }
      const again = await probe(port, repaired, NODE_TIMEOUT_MS * 3);
      const stillOurs = ours(repaired.toString('latin1'));
      if (!nodeAccepts(again) || stillOurs === null || stillOurs.error !== null) {
        unsafe.push(`${where} -> node ${JSON.stringify(v)}; not explained by [${names.join(', ')}]: repaired ${show(repaired.toString('latin1'))} -> node ${JSON.stringify(again)}, ours ${stillOurs?.error ?? 'accepted'}`);
        continue;
      }
      for (const n of names) bump(allowed, n);
    }
    t.diagnostic(
      `${sample.length} heads sent to node:http (${nAcc} we accept, ${sample.length - nAcc} we refuse): both accept ${counts.bothAccept}, both refuse ${counts.bothRefuse}, ` +
        `Node other status ${counts.nodeOther}, Node timeouts ${counts.timeouts}, re-probed ${counts.retried}`,
    );
    for (const [why, n] of allowed) t.diagnostic(`allow-listed (Node refuses, we accept): ${n} × ${why}`);
    for (const [why, n] of [...stricter].sort((a, b) => b[1] - a[1])) t.diagnostic(`stricter than Node (we refuse, Node accepts): ${n} × ${why}`);
    assert.deepEqual(unsafe, [], 'heads llhttp refuses as malformed but we accept');
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

// RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
// request message that lacks a Host header field and to any request message that contains more
// than one Host header field line or a Host header field with an invalid field value."
// Host = uri-host [ ":" port ] (RFC 9110 §7.2); llhttp does not check it, buildRequestHeaders does.
test('Host with a value outside the uri-host [":" port] grammar is refused', () => {
  const heads = [
    'GET / HTTP/1.1\r\nHost: a b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: good.example, evil.example\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: a:8o\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: ex\xe9mple.com\r\n\r\n',
  ];
  const accepted = heads.filter((h) => ours(h)?.error === null);
  assert.deepEqual(accepted.map(show), []);
});

// Bodies through the proxy (issue 3 §4): chunked both ways, trailers, HEAD, 204/304,
// Expect: 100-continue, 50 MiB both ways byte-identical, pipelined requests answered in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { patternBuffer, sha256 } from '../../helpers/clients.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const MiB = 1024 * 1024;
const BIG = patternBuffer(50 * MiB, 7);
const BIG_HASH = sha256(BIG);

/** One server for the whole file, routing on the path. */
async function backend() {
  return httpBackend('s', (req, res) => {
    const url = req.url ?? '/';
    if (url === '/stream-echo') {
      // answers at once and echoes each piece as it arrives: both directions stream
      res.writeHead(200, { 'x-request-te': req.headers['transfer-encoding'] ?? '' });
      req.on('data', (d: Buffer) => res.write(d));
      req.on('end', () => res.end());
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
      if (bytes <= MiB) chunks.push(d);
    });
    req.on('end', () => {
      const te = req.headers['transfer-encoding'] ?? '';
      if (url === '/echo') {
        res.setHeader('x-request-te', te);
        res.setHeader('x-request-cl', req.headers['content-length'] ?? '');
        res.end(Buffer.concat(chunks));
      } else if (url === '/hash') {
        res.end(`${bytes} ${hash.digest('hex')}`);
      } else if (url === '/chunked') {
        // no Content-Length: node sends chunked, in several writes
        res.write('one,');
        setImmediate(() => {
          res.write('two,');
          setImmediate(() => res.end('three'));
        });
      } else if (url === '/trailers') {
        res.writeHead(200, { 'Content-Type': 'text/plain', Trailer: 'X-Checksum, X-Count' });
        res.write('part1-');
        res.write('part2');
        res.addTrailers({ 'X-Checksum': 'abc123', 'X-Count': '2' });
        res.end();
      } else if (url === '/head') {
        res.writeHead(200, { 'Content-Length': '1234', 'Content-Type': 'text/plain' });
        res.end(req.method === 'HEAD' ? undefined : 'x'.repeat(1234));
      } else if (url === '/204') {
        res.writeHead(204, { 'X-Status': 'no-content' });
        res.end();
      } else if (url === '/304') {
        res.writeHead(304, { ETag: '"v1"', 'Cache-Control': 'max-age=60' });
        res.end();
      } else if (url === '/big') {
        res.writeHead(200, { 'Content-Length': String(BIG.length) });
        res.end(BIG);
      } else if (url.startsWith('/delay/')) {
        const ms = Number(url.split('/')[2]);
        setTimeout(() => res.end(`done ${url}`), ms);
      } else {
        res.end(`s ${req.method} ${url}`);
      }
    });
  });
}

async function withProxy(fn: (p: RunningProxy, port: number) => Promise<void>): Promise<void> {
  const b = await backend();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }], timeouts: { response: '10s' } }],
  });
  try {
    await fn(p, p.addr('h').port);
  } finally {
    await p.stop();
    await b.close();
  }
}

test('chunked request body reaches the server intact, sent in pieces', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      c.write('POST /echo HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n');
      c.write('5\r\nhello\r\n');
      await new Promise((r) => setImmediate(r));
      c.write('6;ext=1\r\n world\r\n');
      c.write('0\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 200);
      // the proxy may re-frame a body it already holds whole (chunked or Content-Length)
      assert.equal(r.body.toString(), 'hello world');
    } finally {
      c.destroy();
    }
  }));

test('a chunked request body streams: the server sees the first chunk before the client sends the rest', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      c.write('POST /stream-echo HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
      // the echo of the first chunk comes back while the request is still open
      await waitFor(() => c.pending.includes('hello'), 3_000, 'first chunk echoed through the proxy');
      c.write('6\r\n world\r\n0\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.header('x-request-te'), 'chunked', 'a body of unknown length goes to the server chunked');
      assert.ok(r.chunked, 'the response of unknown length goes to the client chunked');
      assert.equal(r.body.toString(), 'hello world');
    } finally {
      c.destroy();
    }
  }));

test('Content-Length request body is forwarded with its length', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      c.write('PUT /echo HTTP/1.1\r\nHost: s.test\r\nContent-Length: 11\r\n\r\nhello');
      c.write(' world');
      const r = await c.response();
      assert.equal(r.body.toString(), 'hello world');
      assert.equal(r.header('x-request-cl'), '11');
    } finally {
      c.destroy();
    }
  }));

test('chunked response body and response trailers reach the client', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      c.write('GET /chunked HTTP/1.1\r\nHost: s.test\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'one,two,three');
      assert.ok(r.chunked || r.header('content-length') === '13', 'framed');
      c.write('GET /trailers HTTP/1.1\r\nHost: s.test\r\nTE: trailers\r\n\r\n');
      const t = await c.response();
      assert.equal(t.status, 200);
      assert.equal(t.body.toString(), 'part1-part2');
      assert.ok(t.chunked, 'trailers need a chunked response');
      assert.deepEqual(
        t.trailers.map(([n, v]) => [n.toLowerCase(), v]),
        [
          ['x-checksum', 'abc123'],
          ['x-count', '2'],
        ],
      );
    } finally {
      c.destroy();
    }
  }));

test('HEAD keeps Content-Length and sends no body; 204 and 304 have no body; the connection stays in sync', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      c.write('HEAD /head HTTP/1.1\r\nHost: s.test\r\n\r\n');
      const h = await c.response({ head: true });
      assert.equal(h.status, 200);
      assert.equal(h.header('content-length'), '1234');
      c.write('GET /204 HTTP/1.1\r\nHost: s.test\r\n\r\n');
      const n = await c.response();
      assert.equal(n.status, 204);
      assert.equal(n.header('x-status'), 'no-content');
      assert.equal(n.header('transfer-encoding'), undefined);
      c.write('GET /304 HTTP/1.1\r\nHost: s.test\r\nIf-None-Match: "v1"\r\n\r\n');
      const nm = await c.response();
      assert.equal(nm.status, 304);
      assert.equal(nm.header('etag'), '"v1"');
      assert.equal(nm.header('transfer-encoding'), undefined);
      // Had any of them carried body bytes, this response would be garbled.
      c.write('GET /head HTTP/1.1\r\nHost: s.test\r\n\r\n');
      const g = await c.response();
      assert.equal(g.status, 200);
      assert.equal(g.body.length, 1234);
      assert.equal(c.pending.length, 0, 'no stray bytes after the responses');
    } finally {
      c.destroy();
    }
  }));

test('Expect: 100-continue: the client gets 100 Continue, then sends the body', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      c.write('POST /echo HTTP/1.1\r\nHost: s.test\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
      const interim = await c.response({ timeoutMs: 3_000 });
      assert.equal(interim.status, 100, 'the body is sent only after 100 Continue');
      c.write('hello world');
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'hello world');
    } finally {
      c.destroy();
    }
  }));

test('50 MiB upload and 50 MiB download are byte-identical', () =>
  withProxy(async (_p, port) => {
    const up = await new Promise<string>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'PUT', path: '/hash', agent: false, headers: { 'content-length': String(BIG.length) } }, (res) => {
        let s = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (s += d));
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      // in 1 MiB writes so backpressure is exercised
      let off = 0;
      const pump = (): void => {
        while (off < BIG.length) {
          const chunk = BIG.subarray(off, off + MiB);
          off += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    assert.equal(up, `${BIG.length} ${BIG_HASH}`, 'upload');

    const down = await new Promise<{ bytes: number; hash: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/big', agent: false }, (res) => {
        const h = createHash('sha256');
        let bytes = 0;
        res.on('data', (d: Buffer) => {
          h.update(d);
          bytes += d.length;
        });
        res.on('end', () => resolve({ bytes, hash: h.digest('hex') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(down, { bytes: BIG.length, hash: BIG_HASH }, 'download');
  }));

test('pipelined requests (three in one write) are answered in order', () =>
  withProxy(async (_p, port) => {
    const c = await RawClient.open(port);
    try {
      // the first is the slowest: in-order answers cannot be a coincidence of timing
      c.write(
        'GET /delay/150 HTTP/1.1\r\nHost: s.test\r\n\r\n' +
          'POST /echo HTTP/1.1\r\nHost: s.test\r\nContent-Length: 6\r\n\r\nsecond' +
          'GET /delay/0 HTTP/1.1\r\nHost: s.test\r\n\r\n',
      );
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) bodies.push((await c.response()).body.toString());
      assert.deepEqual(bodies, ['done /delay/150', 'second', 'done /delay/0']);
    } finally {
      c.destroy();
    }
  }));

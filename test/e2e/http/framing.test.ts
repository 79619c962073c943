// Request framing safety (RFC 9112; SPEC "Decisions"): every ambiguous or malformed request gets
// 400 and a close, and nothing of it reaches a server. The differential test puts two naive
// servers (one frames by Content-Length only, one prefers chunked) behind the proxy on a single
// shared connection each: neither may ever see a smuggled request, and the next client's request
// must get its own response.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: s.test\r\n\r\n';
const hex = (n: number): string => n.toString(16);
const chunkedSmuggle = `${hex(SMUGGLED.length)}\r\n${SMUGGLED}\r\n0\r\n\r\n`;

/** Each vector is a complete client write; a smuggled request line rides in the body where it can. */
const VECTORS: Array<{ name: string; bytes: string }> = [
  // Content-Length + Transfer-Encoding, both orders (CL.TE and TE.CL)
  { name: 'CL + TE (CL.TE)', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}` },
  { name: 'TE + CL (TE.CL)', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${chunkedSmuggle}` },
  // Content-Length conflicting or malformed
  { name: 'two different Content-Length', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'Content-Length list "0, 41"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: 0, ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'Content-Length "+N"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: +${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  { name: 'Content-Length "5 5"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: 5 5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length "0x5"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: 0x5\r\n\r\nhello${SMUGGLED}` },
  { name: 'Content-Length "-1"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: -1\r\n\r\n${SMUGGLED}` },
  // Transfer-Encoding other than a final chunked
  { name: 'TE gzip', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: gzip\r\n\r\n${SMUGGLED}` },
  { name: 'TE "chunked, gzip"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked, gzip\r\n\r\n${chunkedSmuggle}` },
  { name: 'TE chunked then TE gzip (two fields)', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n${chunkedSmuggle}` },
  { name: 'TE "xchunked"', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: xchunked\r\n\r\n${chunkedSmuggle}` },
  { name: 'TE in HTTP/1.0', bytes: `POST /v HTTP/1.0\r\nHost: s.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunkedSmuggle}` },
  // obs-fold, bare CR / LF, space before colon
  { name: 'obs-fold', bytes: 'GET /v HTTP/1.1\r\nHost: s.test\r\nX-Folded: a\r\n b\r\n\r\n' },
  { name: 'obs-fold in Transfer-Encoding', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n${chunkedSmuggle}` },
  { name: 'bare LF line ends', bytes: 'GET /v HTTP/1.1\nHost: s.test\n\n' },
  { name: 'one bare LF among CRLF', bytes: 'GET /v HTTP/1.1\r\nHost: s.test\nX-A: b\r\n\r\n' },
  { name: 'bare LF ending the head', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length: ${SMUGGLED.length}\r\n\n${SMUGGLED}` },
  { name: 'bare CR', bytes: 'GET /v HTTP/1.1\r\nHost: s.test\rX-A: b\r\n\r\n' },
  { name: 'space before colon (Host)', bytes: 'GET /v HTTP/1.1\r\nHost : s.test\r\n\r\n' },
  { name: 'space before colon (Transfer-Encoding)', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n${chunkedSmuggle}` },
  { name: 'space before colon (Content-Length)', bytes: `POST /v HTTP/1.1\r\nHost: s.test\r\nContent-Length : ${SMUGGLED.length}\r\n\r\n${SMUGGLED}` },
  // Host
  { name: 'no Host', bytes: 'GET /v HTTP/1.1\r\n\r\n' },
  { name: 'two Host headers', bytes: 'GET /v HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n' },
  { name: 'two identical Host headers', bytes: 'GET /v HTTP/1.1\r\nHost: s.test\r\nHost: s.test\r\n\r\n' },
];

/**
 * A deliberately naive HTTP server: logs every request line it parses and answers
 * "<name> <request line>". `cl` frames bodies by Content-Length only; `chunked` uses chunked
 * whenever Transfer-Encoding mentions it, else Content-Length (parseInt, as sloppy code does).
 */
async function naiveServer(name: string, kind: 'cl' | 'chunked'): Promise<Backend & { log: string[] }> {
  const log: string[] = [];
  const b = await tcpBackend((s: Socket) => {
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const lines = buf.subarray(0, headEnd).toString('latin1').split(/\r?\n/);
        const requestLine = lines[0] ?? '';
        const h = new Map<string, string>();
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          if (i > 0) h.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
        }
        let pos = headEnd + 4;
        if (kind === 'chunked' && (h.get('transfer-encoding') ?? '').toLowerCase().includes('chunked')) {
          for (;;) {
            const eol = buf.indexOf('\r\n', pos);
            if (eol < 0) return;
            const size = parseInt(buf.subarray(pos, eol).toString('latin1'), 16) || 0;
            if (buf.length < eol + 2 + size + 2) return;
            pos = eol + 2 + size + 2;
            if (size === 0) break;
          }
        } else {
          const cl = parseInt(h.get('content-length') ?? '0', 10) || 0;
          if (buf.length < pos + cl) return;
          pos += cl;
        }
        buf = buf.subarray(pos);
        log.push(requestLine);
        const body = `${name} ${requestLine}`;
        s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });
  return Object.assign(b, { log });
}

/** A server that records every byte it receives. */
async function recordingServer(): Promise<Backend & { received: () => string }> {
  let received = '';
  const b = await tcpBackend((s) => {
    s.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
  });
  return Object.assign(b, { received: () => received });
}

/** Sends one vector on a new connection: expects 400 and the connection closed by the proxy. */
async function expect400AndClose(port: number, bytes: string): Promise<void> {
  const c = await RawClient.open(port);
  try {
    c.write(bytes);
    const r = await c.response({ timeoutMs: 3_000 });
    assert.equal(r.status, 400, `status ${r.status} ${r.reason}`);
    await c.waitEof(3_000);
  } finally {
    c.destroy();
  }
}

test('malformed or ambiguous framing → 400, connection closed, nothing reaches the server', async (t) => {
  const b = await recordingServer();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const port = p.addr('h').port;
    for (const v of VECTORS) {
      await t.test(v.name, async () => {
        const before = b.received();
        await expect400AndClose(port, v.bytes);
        assert.equal(b.received(), before, 'the server received nothing');
      });
    }
    await t.test('the server saw no byte of any vector; a valid request afterwards reaches it alone', async () => {
      assert.equal(b.accepted, 0, 'no server connection was even opened');
      const c = await RawClient.open(port);
      try {
        c.write('GET /valid HTTP/1.1\r\nHost: s.test\r\n\r\n');
        const r = await c.response();
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'ok');
      } finally {
        c.destroy();
      }
      const lines = b.received().split('\r\n').filter((l) => / HTTP\/1\.[01]$/.test(l));
      assert.deepEqual(lines, ['GET /valid HTTP/1.1']);
    });
  } finally {
    await p.stop();
    await b.close();
  }
});

test('the naive servers really are vulnerable when reached directly (the differential harness works)', async () => {
  const ch = await naiveServer('chunked', 'chunked');
  const cl = await naiveServer('cl', 'cl');
  try {
    // CL.TE: the chunked server ends the body at "0\r\n\r\n" and reads the rest as a new request
    const clte = VECTORS[0]!.bytes;
    for (const b of [ch, cl]) {
      const s = await dial(b.port);
      s.write(clte);
      s.write('GET /victim HTTP/1.1\r\nHost: s.test\r\n\r\n');
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      // wait for the victim's response (the last one)
      await waitFor(() => Buffer.concat(got).toString().includes('/victim'), 3_000, 'victim answered');
      s.destroy();
    }
    assert.ok(ch.log.includes('GET /smuggled HTTP/1.1'), `chunked server log: ${JSON.stringify(ch.log)}`);
    // TE.CL: the CL-only server reads 4 body bytes and then the chunk body as a request
    const s = await dial(cl.port);
    s.write(VECTORS[1]!.bytes);
    s.write('GET /victim2 HTTP/1.1\r\nHost: s.test\r\n\r\n');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    await waitFor(() => Buffer.concat(got).toString().includes('/victim2'), 3_000, 'victim answered').catch(() => {});
    s.destroy();
    assert.ok(cl.log.includes('GET /smuggled HTTP/1.1'), `cl server log: ${JSON.stringify(cl.log)}`);
  } finally {
    await ch.close();
    await cl.close();
  }
});

test('differential smuggling: naive CL and chunked servers behind one pooled connection each never see a smuggled request', async (t) => {
  const servers = { cl: await naiveServer('cl', 'cl'), chunked: await naiveServer('chunked', 'chunked') };
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      { name: 'cl', listen: '127.0.0.1:0', protocol: 'http', pool: 'cl' },
      { name: 'chunked', listen: '127.0.0.1:0', protocol: 'http', pool: 'chunked' },
    ],
    pools: (['cl', 'chunked'] as const).map((name) => ({
      name,
      servers: [{ address: servers[name].address, maxConnections: 1 }],
      connectionPool: { maxIdlePerServer: 1, reuse: 'always' },
      timeouts: { response: '2s' },
    })),
  });
  try {
    for (const name of ['cl', 'chunked'] as const) {
      const port = p.addr(name).port;
      const server = servers[name];
      const expected: string[] = [];
      const victim = async (path: string): Promise<void> => {
        const c = await RawClient.open(port);
        try {
          c.write(`GET ${path} HTTP/1.1\r\nHost: s.test\r\n\r\n`);
          const r = await c.response({ timeoutMs: 3_000 });
          expected.push(`GET ${path} HTTP/1.1`);
          assert.equal(r.status, 200);
          assert.equal(r.body.toString(), `${name} GET ${path} HTTP/1.1`, 'the victim gets its own response');
        } finally {
          c.destroy();
        }
      };
      await victim('/warmup'); // the one pooled server connection now exists and is proven
      for (const [i, v] of VECTORS.entries()) {
        await t.test(`${name} server: ${v.name}`, async () => {
          await expect400AndClose(port, v.bytes);
          await victim(`/victim-${i}`);
          assert.deepEqual(server.log, expected, 'the server logged only the legitimate requests');
        });
      }
      assert.ok(!server.log.some((l) => l.includes('smuggled')), `${name} server saw a smuggled request: ${JSON.stringify(server.log)}`);
      assert.equal(server.accepted, 1, `${name}: one server connection served everything`);
    }
  } finally {
    await p.stop();
    await servers.cl.close();
    await servers.chunked.close();
  }
});

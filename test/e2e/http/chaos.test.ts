// Mutated traffic against a live http listener: hundreds of valid requests with random bytes
// inserted, removed or replaced (heads and bodies, pipelined, cut off mid-way, reset), several
// connections at once. Whatever each connection gets, the proxy must not crash, must not leave a
// session or a busy server connection behind, and must answer a clean request correctly after
// it. Deterministic (seeded), bounded to a few seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { rawRequest } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { seededRandom } from '../../helpers/rng.ts';

const SEEDS = 300;
const CONCURRENCY = 20;
const INTERESTING = [13, 10, 32, 9, 58, 0, 0x7f, 0x80, 0xff, 44, 59, 48, 70];

const CORPUS = [
  'GET /a HTTP/1.1\r\nHost: c.test\r\n\r\n',
  'GET /b HTTP/1.1\r\nHost: c.test\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\nGET /c HTTP/1.1\r\nHost: c.test\r\n\r\n',
  'POST /p HTTP/1.1\r\nHost: c.test\r\nContent-Length: 11\r\n\r\nhello world',
  'POST /q HTTP/1.1\r\nHost: c.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nT: 1\r\n\r\n',
  'GET /d HTTP/1.0\r\nHost: c.test\r\nConnection: keep-alive\r\n\r\n',
  'HEAD /e HTTP/1.1\r\nHost: c.test\r\nExpect: 100-continue\r\n\r\n',
  'GET /f HTTP/1.1\r\nHost: c.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
];

function mutate(rand: () => number, text: string): Buffer {
  const b = [...Buffer.from(text, 'latin1')];
  const n = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * b.length);
    const byte = rand() < 0.7 ? INTERESTING[Math.floor(rand() * INTERESTING.length)]! : Math.floor(rand() * 256);
    const op = rand();
    if (op < 0.4) b.splice(at, 0, byte);
    else if (op < 0.7) b.splice(at, 1);
    else b[at] = byte;
  }
  return Buffer.from(b);
}

/** Sends `bytes` in 1–3 pieces, then ends, resets or just waits; resolves when the connection is gone. */
function fire(port: number, rand: () => number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    const ending = rand();
    const done = (): void => {
      clearTimeout(guard);
      resolve();
    };
    const guard = setTimeout(() => s.destroy(), 1_500); // the proxy may rightly wait for more bytes
    s.on('error', () => {});
    s.on('close', done);
    s.on('data', () => {});
    s.on('connect', () => {
      const cut = Math.floor(rand() * bytes.length);
      s.write(bytes.subarray(0, cut));
      setTimeout(() => {
        if (s.destroyed) return;
        s.write(bytes.subarray(cut));
        if (ending < 0.3) s.end();
        else if (ending < 0.45) s.resetAndDestroy();
      }, Math.floor(rand() * 20));
    });
  });
}

test(`${SEEDS} mutated requests, ${CONCURRENCY} at a time: no crash, nothing left behind, a clean request still works`, async () => {
  const b = await httpBackend('chaos', (req, res) => {
    req.resume();
    req.on('end', () => res.end(`ok ${req.method} ${req.url}`));
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', timeouts: { requestHeaders: '1s', requestBody: '1s', httpKeepAlive: '1s' } }],
    pools: [{ name: 'p', servers: [{ address: b.address }], timeouts: { response: '2s' } }],
  });
  try {
    const port = p.addr('h').port;
    const rand = seededRandom(0xc4a05);
    const jobs = Array.from({ length: SEEDS }, (_, i) => mutate(rand, CORPUS[i % CORPUS.length]!));
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < jobs.length) await fire(port, rand, jobs[next++]!);
      }),
    );
    await waitFor(() => p.proxy.sessions.size === 0, 5_000, 'every client session ended');
    for (const u of p.proxy.upstreams.values()) assert.equal(u.openConnections - u.idleConnections, 0, 'no server connection left busy');
    const r = await rawRequest(port, 'GET /after HTTP/1.1\r\nHost: c.test\r\n\r\n');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'ok GET /after');
  } finally {
    await p.stop();
    await b.close();
  }
});

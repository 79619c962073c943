// A flapping server (issue 16, Proof "Flapping"): up 700 ms, down 700 ms, over and over, beside a
// healthy one. Idempotent GETs at 20 requests a second, each on a new client connection, all
// succeed: a request whose connect is refused, or whose connection is reset before any response
// byte (the server went away with the request in flight), is sent again to the other server.
// The flapping server answers after 100 ms, so requests are in flight when it goes; its checks
// (every 1 s, rise 1, fall 5) are slower than the flaps, so the pool counts it up much of the time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { tcpBackend } from '../../helpers/backends.ts';
import { restartable } from './servers.ts';

const FLAP_MS = 700;
const RATE = 20;
const REQUESTS = 140; // 7 s at 20/s: five flaps each way

test('a server going up and down every 700 ms: zero failed GETs at 20 req/s while the other is healthy', async (t) => {
  const steady = await restartable('steady');
  const flappy = await restartable('flappy', (_req, res) => {
    // In flight for a while, so some requests are cut by the stop.
    setTimeout(() => {
      res.setHeader('x-served-by', 'flappy');
      res.end('flappy\n');
    }, 100);
    return true;
  });
  const p = await startProxy(
    {
      listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
      pools: [{ name: 'app', servers: [{ address: steady.address }, { address: flappy.address }], healthCheck: { type: 'http', path: '/healthz', interval: '1s', rise: 1, fall: 5 } }],
    },
    'warn',
  );
  let flapping = true;
  let flaps = 0;
  const flapper = (async () => {
    while (flapping) {
      await new Promise((r) => setTimeout(r, FLAP_MS));
      if (!flapping) break;
      await flappy.stop();
      flaps++;
      await new Promise((r) => setTimeout(r, FLAP_MS));
      if (!flapping) break;
      await flappy.start();
    }
  })();
  const failures: string[] = [];
  const servedBy = { steady: 0, flappy: 0 };
  try {
    const inFlight: Promise<void>[] = [];
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) {
      // Paced against the start, so a slow request does not lower the rate.
      const wait = t0 + (i * 1000) / RATE - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(
        get(p.addr('web').port, { path: `/r${i}`, timeoutMs: 10_000 }).then(
          (r) => {
            if (r.status !== 200) failures.push(`/r${i}: ${r.status} ${String(r.headers['x-fullproxy-reason'] ?? '')}`);
            else servedBy[String(r.headers['x-served-by']) as 'steady' | 'flappy']++;
          },
          (e: Error) => void failures.push(`/r${i}: ${e.message}`),
        ),
      );
    }
    await Promise.all(inFlight);
    const s = p.proxy.pools.get('app')!.find(flappy.address)!;
    t.diagnostic(`${REQUESTS} GETs in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${flaps} stops; served by steady ${servedBy.steady}, flappy ${servedBy.flappy}; flappy retries ${s.retries}, connect errors ${s.connectErrors}, checks ${s.checksPassed} passed / ${s.checksFailed} failed`);
    assert.deepEqual(failures, [], 'no failed GET');
    assert.ok(flaps >= 4, `the server went down ${flaps} times`);
    assert.ok(servedBy.flappy > 0, 'the flapping server served some while up');
  } finally {
    flapping = false;
    await flapper;
    await p.stop();
    await steady.stop();
    await flappy.stop();
  }
});

// What makes the flapping proof hold, made certain: a server that takes the request and goes away
// before answering (RST, or FIN) on a fresh connection. A GET goes to the other server; a POST
// with a body is never sent twice (502 server-reset).
test('a server gone with the request in flight: a GET is retried on the other server, a POST is not', async () => {
  const steady = await restartable('steady');
  let seenByDying = 0;
  const methods: string[] = [];
  // Reads one request head, then resets (odd connections) or closes (even ones) without a byte back.
  const dying = await tcpBackend((s) => {
    let head = '';
    s.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      methods.push(head.slice(0, head.indexOf(' ')));
      if (++seenByDying % 2 === 1) s.resetAndDestroy();
      else s.end();
    });
  });
  const pool = (name: string) => ({ name, servers: [{ address: dying.address }, { address: steady.address }], retries: 1 });
  const p = await startProxy(
    {
      listeners: [
        { name: 'get', listen: '127.0.0.1:0', protocol: 'http', pool: 'g' },
        { name: 'post', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' },
      ],
      pools: [pool('g'), pool('p')],
    },
    'warn',
  );
  try {
    // Until passive health takes the dying server out (fall 3), requests go to it first.
    for (let i = 0; i < 4; i++) {
      const r = await get(p.addr('get').port, { path: `/g${i}` });
      assert.equal(r.status, 200, `GET /g${i}: ${r.status} ${String(r.headers['x-fullproxy-reason'] ?? '')}`);
      assert.equal(r.headers['x-served-by'], 'steady');
    }
    const gets = methods.length;
    assert.ok(gets >= 2, `GETs reached the dying server (one reset, one closed at least): ${gets}`);
    assert.ok(methods.every((m) => m === 'GET'));
    assert.equal(steady.served, 4, 'every GET went on to the steady server');
    let failed = 0;
    for (let i = 0; i < 4; i++) {
      const r = await get(p.addr('post').port, { method: 'POST', path: `/p${i}`, body: 'x'.repeat(10), headers: { 'content-type': 'text/plain' } });
      if (r.status === 200) continue;
      failed++;
      assert.equal(r.status, 502);
      assert.equal(r.headers['x-fullproxy-reason'], 'server-reset');
    }
    const posts = methods.length - gets;
    assert.ok(posts >= 2, `POSTs reached the dying server: ${posts}`);
    assert.equal(failed, posts, 'each POST cut in flight failed: never sent twice');
    assert.equal(steady.served, 4 + 4 - posts, 'the steady server got only the POSTs sent to it first');
  } finally {
    await p.stop();
    await dying.close();
    await steady.stop();
  }
});

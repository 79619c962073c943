// Slowloris (issue 3 "Proof"): 300 connections trickling a request head one byte per second are
// closed by `timeouts.requestHeaders` + 1.5 s at the latest, while a control client doing
// sequential requests keeps p99 < 200 ms. Bounded to ~6 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { rawRequest, percentile } from '../../helpers/http.ts';

const SLOW = 300;
const REQUEST_HEADERS_MS = 2_000;
const SLACK_MS = 1_500;
const BOUND_MS = 6_000;

test(`${SLOW} slowloris connections are closed at requestHeaders + ${SLACK_MS} ms; a control client keeps p99 < 200 ms`, async (t) => {
  const b = await httpBackend('a');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', timeouts: { requestHeaders: `${REQUEST_HEADERS_MS}ms` } }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  const slow: Array<{ s: Socket; openedAt: number; closedAt: number | null; sent: number; got: string }> = [];
  let ticker: NodeJS.Timeout | undefined;
  try {
    const port = p.addr('h').port;
    const head = `GET /slow HTTP/1.1\r\nHost: a.test\r\nX-Slow: ${'a'.repeat(64)}`;
    const testStart = Date.now();
    await Promise.all(
      Array.from(
        { length: SLOW },
        () =>
          new Promise<void>((resolve, reject) => {
            const s = connect({ port, host: '127.0.0.1', allowHalfOpen: false });
            const entry = { s, openedAt: 0, closedAt: null as number | null, sent: 0, got: '' };
            s.once('connect', () => {
              entry.openedAt = Date.now();
              s.write(head[0]!);
              entry.sent = 1;
              slow.push(entry);
              resolve();
            });
            s.once('error', (e: NodeJS.ErrnoException) => {
              if (entry.openedAt === 0) reject(e);
            });
            s.on('data', (d: Buffer) => (entry.got += d.toString('latin1')));
            s.once('close', () => (entry.closedAt = Date.now()));
          }),
      ),
    );
    // one header byte per second on every open connection
    ticker = setInterval(() => {
      for (const e of slow) {
        if (e.closedAt !== null || e.s.destroyed || e.sent >= head.length) continue;
        e.s.write(head[e.sent++]!);
      }
    }, 1_000);

    // control: sequential requests, each on a new connection, until every slow one is closed
    const latencies: number[] = [];
    const failures: string[] = [];
    const deadline = testStart + BOUND_MS;
    while (Date.now() < deadline && slow.some((e) => e.closedAt === null)) {
      const t0 = performance.now();
      try {
        const r = await rawRequest(port, 'GET /control HTTP/1.1\r\nHost: a.test\r\n\r\n', { timeoutMs: 2_000 });
        latencies.push(performance.now() - t0);
        if (r.status !== 200) failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }

    const open = slow.filter((e) => e.closedAt === null).length;
    const lifetimes = slow.filter((e) => e.closedAt !== null).map((e) => e.closedAt! - e.openedAt);
    const p99 = percentile(latencies, 99);
    t.diagnostic(
      `slow connections closed ${SLOW - open}/${SLOW}, lifetime min ${Math.min(...lifetimes)} ms max ${Math.max(...lifetimes)} ms; control requests ${latencies.length}, p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; slow got ${JSON.stringify(slow[0]?.got.split('\r\n')[0] ?? '')}`,
    );
    assert.equal(open, 0, `${open} slowloris connections still open after ${BOUND_MS} ms`);
    assert.ok(Math.max(...lifetimes) <= REQUEST_HEADERS_MS + SLACK_MS, `a slow connection lived ${Math.max(...lifetimes)} ms (limit ${REQUEST_HEADERS_MS + SLACK_MS})`);
    assert.ok(Math.min(...lifetimes) >= REQUEST_HEADERS_MS - 100, `a slow connection was closed after ${Math.min(...lifetimes)} ms, before requestHeaders`);
    assert.deepEqual(failures, [], 'every control request succeeded');
    assert.ok(latencies.length >= 20, `enough control requests (${latencies.length})`);
    assert.ok(p99 < 200, `control p99 ${p99.toFixed(1)} ms`);
    assert.ok(!slow.some((e) => e.got.includes(' 200 ')), 'no slow request was ever served');
  } finally {
    clearInterval(ticker);
    for (const e of slow) e.s.destroy();
    await p.stop();
    await b.close();
  }
});

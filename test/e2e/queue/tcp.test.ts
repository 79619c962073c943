// servers[].maxConnections with the pool's queue (pools[].timeouts.queue), tcp mode
// (src/pool/queue.ts): sessions beyond the limit wait for a free connection instead of being
// closed, are served in order when one frees, and are closed with a FIN after timeouts.queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { spawnProxy, type ChildProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A server that holds each session `holdMs`, then answers with what it received and closes; `counts`: sessions at once. */
async function holdingBackend(holdMs: number): Promise<{ b: Backend; counts: { now: number; max: number } }> {
  const counts = { now: 0, max: 0 };
  const b = await tcpBackend((s: Socket) => {
    counts.now++;
    counts.max = Math.max(counts.max, counts.now);
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    setTimeout(() => {
      // Counted as done when it answers: the proxy frees the slot once both sides closed, and the
      // next session's connect may reach us before our own 'close' event for this one.
      counts.now--;
      s.end(`served ${got}`);
    }, holdMs);
  });
  return { b, counts };
}

interface QueueStats {
  queued: number;
  queuedTotal: number;
  timeouts: number;
}

async function queueStats(p: ChildProxy): Promise<QueueStats> {
  const a = p.listeners.get('#admin')!;
  const res = await fetch(`http://${a.host}:${a.port}/api/v1/stats`);
  const body = (await res.json()) as { pools: Record<string, { queue: QueueStats }> };
  return body.pools['p']!.queue;
}

/** Dials `n` sessions at once, each writing `hello <i>`; per session: how it ended, what it got, after how long. */
async function sessions(port: number, n: number): Promise<Array<{ how: string; data: string; ms: number }>> {
  const start = Date.now();
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const s = await dial(port);
      const done = outcome(s);
      s.write(`hello ${i}`);
      const r = await done;
      return { how: r.how, data: r.data.toString(), ms: Date.now() - start };
    }),
  );
}

test('maxConnections 2, 4 sessions at once: 2 served, 2 wait in the queue and are served when slots free', async () => {
  const { b, counts } = await holdingBackend(600);
  const p = await spawnProxy({
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address, maxConnections: 2 }], timeouts: { queue: '5s' } }],
  });
  try {
    const running = sessions(p.listeners.get('t')!.port, 4);
    await waitFor(() => counts.now === 2, 5_000, 'two sessions at the server');
    const during = await queueStats(p);
    assert.equal(during.queued, 2, `two sessions wait in the queue: ${JSON.stringify(during)}`);
    const results = await running;
    console.log(results.map((r, i) => `  session ${i}: ${r.how} "${r.data}" after ${r.ms} ms`).join('\n'));
    assert.equal(counts.max, 2, 'never more than maxConnections at the server');
    assert.equal(b.accepted, 4, 'every session reached the server');
    for (const [i, r] of results.entries()) {
      assert.equal(r.how, 'end', `session ${i} ended with a FIN`);
      assert.equal(r.data, `served hello ${i}`, `session ${i}: its bytes sent while queued reached the server`);
    }
    const waited = results.filter((r) => r.ms >= 1_100).length;
    assert.equal(waited, 2, 'two were served one hold (600 ms) later, after the first two');
    const after = await queueStats(p);
    assert.deepEqual(after, { queued: 0, queuedTotal: 2, timeouts: 0, overflows: 0 });
  } finally {
    p.child.kill('SIGKILL');
    await b.close();
  }
});

test('maxConnections 2, queue 300ms: the 2 excess sessions are closed with a FIN after about 300 ms, counted', async () => {
  const { b } = await holdingBackend(1_500);
  const p = await spawnProxy({
    admin: { listen: '127.0.0.1:0' },
    logging: { access: true },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address, maxConnections: 2 }], timeouts: { queue: '300ms' } }],
  });
  try {
    const results = await sessions(p.listeners.get('t')!.port, 4);
    console.log(results.map((r, i) => `  session ${i}: ${r.how} "${r.data}" after ${r.ms} ms`).join('\n'));
    const served = results.filter((r) => r.data.startsWith('served'));
    const closed = results.filter((r) => !r.data.startsWith('served'));
    assert.equal(served.length, 2, 'two served');
    assert.equal(closed.length, 2, 'two closed from the queue');
    for (const r of closed) {
      assert.equal(r.how, 'end', 'closed with a FIN (HAProxy closes after timeout queue), not a reset, though it had sent bytes');
      assert.equal(r.data, '');
      assert.ok(r.ms >= 250 && r.ms < 1_400, `closed after ${r.ms} ms (timeouts.queue 300 ms)`);
    }
    for (const r of served) assert.ok(r.ms >= 1_400, `served after the hold: ${r.ms} ms`);
    assert.equal(b.accepted, 2, 'the excess never reached the server');
    const s = await queueStats(p);
    assert.equal(s.timeouts, 2);
    assert.equal(s.queued, 0);
    await waitFor(() => p.lines.some((l) => l['reason'] === 'queue-timeout'), 2_000, 'an access line with reason queue-timeout');
  } finally {
    p.child.kill('SIGKILL');
    await b.close();
  }
});

test('no server up at all: closed at once, not queued', async () => {
  const { b } = await holdingBackend(100);
  await b.close(); // the port refuses now
  const p = await spawnProxy({
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address, maxConnections: 1 }], healthCheck: { type: 'tcp', interval: '100ms', fall: 1 }, timeouts: { queue: '5s' } }],
  });
  try {
    await waitFor(() => p.lines.some((l) => l['msg'] === 'server down'), 5_000, 'the server marked down');
    const [r] = await sessions(p.listeners.get('t')!.port, 1);
    assert.ok(r!.ms < 1_000, `closed after ${r!.ms} ms`);
    assert.equal((await queueStats(p)).queuedTotal, 0);
  } finally {
    p.child.kill('SIGKILL');
  }
});

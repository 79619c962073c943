// onExhausted "queue" when the kernel refuses ports our accounting thought free (issue 17 §4). In
// a network namespace whose ephemeral range is the pool's 20 source ports, 4 of them taken by other
// sockets, 40 concurrent sessions/requests: before the fix the refused ones failed at once (18 ×
// 200 and 22 × 503 within 30 ms, `queued: 0`). Now a refused connection waits in the queue like
// any other: it is served when a port frees up, or refused after about queueTimeout. The refused
// ports are held out of the accounting for a while (`blocked`), so they are not retried in a spin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netnsUnavailable, runInNetns } from './netns.ts';

const skip = netnsUnavailable();
const RANGE = { 'net.ipv4.ip_local_port_range': '40000 40019' };
const USABLE = 20 - 4;
const QUEUE_MS = 1_000;

for (const mode of ['tcp', 'http'] as const) {
  test(`${mode}: 40 sessions held 1.5 s, 16 usable of 20 ports → 16 served, the rest refused only after queueTimeout`, { skip: skip ?? false }, (t) => {
    const r = runInNetns(`queue-refused-${mode}-1500`, RANGE);
    t.diagnostic(JSON.stringify(r));
    assert.deepEqual(r['skipCodes'], ['EADDRINUSE'], 'the kernel refused ports (foreign sockets on them)');
    const served = r['served'] as number;
    // On a loaded machine a late client may miss a port freed at 1.5 s; never more than the usable ports.
    assert.ok(served <= USABLE && served >= USABLE - 4, `${served} served`);
    assert.equal(served + (r['failed'] as number), 40);
    const [first] = r['failedMs'] as [number, number];
    assert.ok(first >= QUEUE_MS - 50, `the first refusal came after ${first} ms: refused ones must wait queueTimeout, not fail at once`);
    if (mode === 'tcp') assert.ok((r['maxQueued'] as number) > 20, `${String(r['maxQueued'])} queued at most`);
    assert.equal(r['connectErrors'], 0, 'not the server\'s fault');
  });

  test(`${mode}: 40 sessions held 150 ms, 16 usable of 20 ports → all 40 served as ports free up`, { skip: skip ?? false }, (t) => {
    const r = runInNetns(`queue-refused-${mode}-150`, RANGE);
    t.diagnostic(JSON.stringify(r));
    assert.deepEqual(r['skipCodes'], ['EADDRINUSE']);
    assert.equal(r['served'], 40, JSON.stringify(r));
    assert.equal(r['connectErrors'], 0);
    const sp = r['sourcePorts'] as { exhausted: number; queued: number };
    assert.equal(sp.exhausted, 0);
    assert.equal(sp.queued, 0);
  });
}

// The pool's queue of tcp sessions (src/pool/queue.ts): FIFO, no overtaking, a bound, one timer
// for the deadlines, leavers forgotten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PoolQueue, QUEUE_LENGTH, type QueueWaiter } from '../../../src/pool/queue.ts';

class Waiter implements QueueWaiter {
  readonly name: string;
  readonly log: string[];
  /** Whether a retry finds a server. */
  served = false;
  constructor(name: string, log: string[]) {
    this.name = name;
    this.log = log;
  }
  retry(): boolean {
    this.log.push(`retry ${this.name}`);
    return this.served;
  }
  queueTimeout(): void {
    this.log.push(`timeout ${this.name}`);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

test('wake serves the oldest first and stops at the first that still finds no server', async () => {
  const log: string[] = [];
  const q = new PoolQueue(5_000);
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Waiter(n, log)) as [Waiter, Waiter, Waiter];
  for (const w of [a, b, c]) assert.ok(q.enqueue(w));
  assert.equal(q.length, 3);
  a.served = true;
  q.wake();
  q.wake(); // a burst of wakes: one pass
  assert.deepEqual(log, [], 'not inside the caller (a release in the middle of its own teardown)');
  await tick();
  assert.deepEqual(log, ['retry a', 'retry b'], 'a served, b still waits, c not asked (no overtaking)');
  assert.equal(q.length, 2);
  b.served = c.served = true;
  q.wake();
  await tick();
  assert.equal(q.length, 0);
  assert.equal(q.queuedTotal, 3);
  assert.equal(q.timeouts, 0);
});

test('after timeouts.queue the waiters give up, counted; a waiter that left is forgotten', async () => {
  const log: string[] = [];
  const q = new PoolQueue(100);
  const [a, b, c] = ['a', 'b', 'c'].map((n) => new Waiter(n, log)) as [Waiter, Waiter, Waiter];
  q.enqueue(a);
  q.enqueue(b);
  q.enqueue(c);
  q.remove(b);
  const start = Date.now();
  while (q.length > 0 && Date.now() - start < 2_000) await new Promise((r) => setTimeout(r, 10));
  const took = Date.now() - start;
  assert.deepEqual(log, ['timeout a', 'timeout c']);
  assert.ok(took >= 90 && took < 1_000, `after ${took} ms`);
  assert.equal(q.timeouts, 2);
  // A reload's new timeouts.queue applies to those that queue from then on.
  q.configure(50);
  q.enqueue(a);
  const t2 = Date.now();
  while (q.length > 0 && Date.now() - t2 < 2_000) await new Promise((r) => setTimeout(r, 10));
  assert.ok(Date.now() - t2 < 500);
});

test(`at most ${QUEUE_LENGTH} wait; one more is refused and counted`, () => {
  const log: string[] = [];
  const q = new PoolQueue(60_000);
  const w = new Waiter('w', log);
  for (let i = 0; i < QUEUE_LENGTH; i++) assert.ok(q.enqueue(w));
  assert.equal(q.enqueue(w), false);
  assert.equal(q.overflows, 1);
  // Served all at once, the timer goes away with them.
  w.served = true;
  q.wake();
  return tick().then(() => assert.equal(q.length, 0));
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler, type Scheduler } from '../../../src/scheduler/scheduler.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers, ONE_CONTEXT, tally } from './fake-server.ts';

runConformance('wrr');

/** `n` picks as letters: server 0 → a, 1 → b, …; null → '-'. */
const sequence = (s: Scheduler<FakeServer>, n: number): string =>
  Array.from({ length: n }, () => 'abcdefg'[s.pick(ONE_CONTEXT)?.index ?? -1] ?? '-').join('');

test('wrr: 3:1 gives 75% ± 2% of 10k picks', () => {
  const s = createScheduler<FakeServer>('wrr');
  const [a, b] = makeServers([3, 1]);
  s.update([a!, b!]);
  const counts = tally(s, 10_000);
  const share = (counts.get(a!) ?? 0) / 10_000;
  assert.ok(Math.abs(share - 0.75) <= 0.02, `a got ${share}`);
  assert.equal((counts.get(a!) ?? 0) + (counts.get(b!) ?? 0), 10_000);
});

test('wrr: smooth — 3:1 runs a a b a, so every 4 consecutive picks hold exactly one b', () => {
  const s = createScheduler<FakeServer>('wrr');
  s.update(makeServers([3, 1]));
  const seq = sequence(s, 400);
  assert.equal(seq.slice(0, 4), 'aaba');
  for (let i = 0; i + 4 <= seq.length; i++) {
    assert.equal(seq.slice(i, i + 4).split('b').length - 1, 1, `window ${i}: ${seq.slice(i, i + 4)}`);
  }
});

test("wrr: 5:1:1 gives nginx's sequence a a b a c a a", () => {
  const s = createScheduler<FakeServer>('wrr');
  s.update(makeServers([5, 1, 1]));
  assert.equal(sequence(s, 14), 'aabacaa'.repeat(2));
});

test('wrr: a server without capacity sits out and the others keep their ratio', () => {
  const s = createScheduler<FakeServer>('wrr');
  const [a, b, c] = makeServers([3, 1, 4]);
  s.update([a!, b!, c!]);
  c!.capacity = false;
  const counts = tally(s, 8000);
  assert.equal(counts.get(c!), undefined);
  assert.equal(counts.get(a!), 6000);
  assert.equal(counts.get(b!), 2000);
});

test('wrr: fractional weights (slow start) keep their ratio', () => {
  const s = createScheduler<FakeServer>('wrr');
  const [a, b] = makeServers([0.25, 0.75]);
  s.update([a!, b!]);
  const counts = tally(s, 10_000);
  assert.ok(Math.abs((counts.get(b!) ?? 0) - 7500) <= 2, String(counts.get(b!)));
});

test('wrr: frequent update() calls (health flaps, slow start) do not skew the ratio', () => {
  const s = createScheduler<FakeServer>('wrr');
  const servers = makeServers([3, 1]);
  s.update(servers);
  let onB = 0;
  for (let i = 0; i < 8000; i++) {
    if (s.pick(ONE_CONTEXT) === servers[1]) onB++;
    if (i % 3 === 0) s.update([...servers]); // same members, new array
  }
  assert.equal(onB, 2000);
});

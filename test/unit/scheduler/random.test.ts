import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { RandomScheduler } from '../../../src/scheduler/random.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers, ONE_CONTEXT, tally } from './fake-server.ts';

runConformance('random');

test('random: 3:1 gives 75% ± 3% of 20k picks', () => {
  // Binomial sd = √(20000 · 0.75 · 0.25) ≈ 61 picks = 0.3%: the bound is 10 sd wide.
  const s = createScheduler<FakeServer>('random');
  const [a, b] = makeServers([3, 1]);
  s.update([a!, b!]);
  const share = (tally(s, 20_000).get(a!) ?? 0) / 20_000;
  assert.ok(Math.abs(share - 0.75) <= 0.03, `a got ${share}`);
});

test('random: the draw lands on the first cumulative weight above it', () => {
  let next = 0;
  const s = new RandomScheduler<FakeServer>(() => next);
  const servers = makeServers([3, 1, 2]); // cumulative 3 4 6
  s.update(servers);
  const at = (point: number): number | undefined => {
    next = point / 6;
    return s.pick(ONE_CONTEXT)?.index;
  };
  assert.deepEqual([at(0), at(2.9), at(3), at(3.7), at(4), at(5.99)], [0, 0, 1, 1, 2, 2]);
});

test('random: a full server is redrawn, keeping the others at their ratio', () => {
  const s = createScheduler<FakeServer>('random');
  const [a, b, c] = makeServers([3, 1, 4]);
  s.update([a!, b!, c!]);
  c!.capacity = false;
  const counts = tally(s, 20_000);
  assert.equal(counts.get(c!), undefined);
  const share = (counts.get(a!) ?? 0) / 20_000;
  assert.ok(Math.abs(share - 0.75) <= 0.03, `a got ${share}`);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers, ONE_CONTEXT } from './fake-server.ts';

runConformance('wlc');

test('wlc: picks the least (active + 1) per unit of weight', () => {
  const s = createScheduler<FakeServer>('wlc');
  const [a, b, c] = makeServers([1, 3, 2]);
  s.update([a!, b!, c!]);
  a!.active = 2; // 3 per weight
  b!.active = 5; // 2
  c!.active = 4; // 2.5
  assert.equal(s.pick(ONE_CONTEXT), b);
  b!.active = 8; // 3, and c 5 more → 3: now all equal, ties rotate
  c!.active = 5;
  const picks = new Set(Array.from({ length: 3 }, () => s.pick(ONE_CONTEXT)));
  assert.equal(picks.size, 3);
});

test('wlc: sessions that stay open spread in proportion to weight', () => {
  const s = createScheduler<FakeServer>('wlc');
  const servers = makeServers([3, 1, 2]);
  s.update(servers);
  for (let i = 0; i < 600; i++) s.pick(ONE_CONTEXT)!.active++;
  assert.deepEqual(servers.map((x) => x.active), [300, 100, 200]);
});

test('wlc: a server without capacity is skipped even when least loaded', () => {
  const s = createScheduler<FakeServer>('wlc');
  const [a, b] = makeServers([10, 1]);
  s.update([a!, b!]);
  b!.active = 50;
  a!.capacity = false;
  assert.equal(s.pick(ONE_CONTEXT), b);
});

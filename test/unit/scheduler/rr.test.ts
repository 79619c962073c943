import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers, ONE_CONTEXT, tally } from './fake-server.ts';

runConformance('rr');

test('rr: picks in configured order, an exactly equal share, weights ignored', () => {
  const s = createScheduler<FakeServer>('rr');
  const servers = makeServers([1, 5, 1, 2]);
  s.update(servers);
  assert.deepEqual(
    Array.from({ length: 8 }, () => s.pick(ONE_CONTEXT)?.index),
    [0, 1, 2, 3, 0, 1, 2, 3],
  );
  const counts = tally(s, 10_000);
  for (const srv of servers) assert.equal(counts.get(srv), 2500);
});

test('rr: a server without capacity is passed over and the rotation goes on', () => {
  const s = createScheduler<FakeServer>('rr');
  const servers = makeServers(3);
  s.update(servers);
  servers[1]!.capacity = false;
  assert.deepEqual(
    Array.from({ length: 4 }, () => s.pick(ONE_CONTEXT)?.index),
    [0, 2, 0, 2],
  );
});

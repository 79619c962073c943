import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers, ONE_CONTEXT } from './fake-server.ts';

runConformance('lc');

test('lc: picks the server with the fewest active sessions', () => {
  const s = createScheduler<FakeServer>('lc');
  const servers = makeServers(4);
  s.update(servers);
  servers.forEach((srv, i) => (srv.active = [5, 2, 7, 3][i]!));
  for (let i = 0; i < 10; i++) assert.equal(s.pick(ONE_CONTEXT), servers[1]);
  servers[1]!.capacity = false;
  assert.equal(s.pick(ONE_CONTEXT), servers[3], 'the least loaded with capacity');
});

test('lc: sessions that stay open even out the load, whatever the weights', () => {
  const s = createScheduler<FakeServer>('lc');
  const servers = makeServers([1, 10, 1]);
  s.update(servers);
  servers[0]!.active = 40;
  for (let i = 0; i < 200; i++) s.pick(ONE_CONTEXT)!.active++;
  // 240 sessions over 3: 80 each; the first already had 40 and got 40 more.
  assert.deepEqual(servers.map((x) => x.active), [80, 80, 80]);
});

test('lc: ties rotate instead of always taking the first', () => {
  const s = createScheduler<FakeServer>('lc');
  s.update(makeServers(4));
  const picks = Array.from({ length: 8 }, () => s.pick(ONE_CONTEXT)?.index);
  assert.deepEqual(picks, [0, 1, 2, 3, 0, 1, 2, 3]);
});

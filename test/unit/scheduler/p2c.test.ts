import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { PowerOfTwoChoicesScheduler } from '../../../src/scheduler/p2c.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers, ONE_CONTEXT, seededRandom, tally } from './fake-server.ts';

runConformance('p2c');

test('p2c: of the two drawn, the less loaded wins (two servers: always the idle one)', () => {
  const s = createScheduler<FakeServer>('p2c');
  const [a, b] = makeServers(2);
  s.update([a!, b!]);
  a!.active = 5;
  b!.active = 1;
  assert.deepEqual([...tally(s, 1000).keys()], [b]);
  b!.weight = 0.1; // 1 / 0.1 = 10 per weight > 5
  assert.deepEqual([...tally(s, 1000).keys()], [a], 'load is active / weight');
});

test('p2c: an idle server among busy ones gets every pick it is drawn for (≈ 50% of 4)', () => {
  // P(idle one drawn) = 1 − (3/4 · 2/3) = 1/2; sd over 20k ≈ 0.35%, bound 3%.
  const s = createScheduler<FakeServer>('p2c');
  const servers = makeServers(4);
  s.update(servers);
  for (const srv of servers.slice(1)) srv.active = 100;
  const share = (tally(s, 20_000).get(servers[0]!) ?? 0) / 20_000;
  assert.ok(Math.abs(share - 0.5) <= 0.03, `idle got ${share}`);
});

test('p2c: sessions that stay open end up evenly spread (max − min small)', () => {
  const s = new PowerOfTwoChoicesScheduler<FakeServer>(seededRandom(42));
  const servers = makeServers(10);
  s.update(servers);
  for (let i = 0; i < 10_000; i++) s.pick(ONE_CONTEXT)!.active++;
  const loads = servers.map((x) => x.active);
  // One random choice would leave a spread of ~±3 sd ≈ 60; two choices keep it to a few.
  assert.ok(Math.max(...loads) - Math.min(...loads) <= 10, String(loads));
});

test('p2c: when both drawn servers are full, the least loaded with capacity is taken', () => {
  const s = createScheduler<FakeServer>('p2c');
  const servers = makeServers(5);
  s.update(servers);
  servers.forEach((srv, i) => {
    srv.capacity = i === 4;
    srv.active = 9;
  });
  assert.deepEqual([...tally(s, 1000).keys()], [servers[4]]);
});

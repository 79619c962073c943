import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeContexts, makeServers } from './fake-server.ts';

runConformance('dh');

const DESTINATIONS = makeContexts(1000);

test('dh: a destination always reaches the same server, whatever the client', () => {
  const s = createScheduler<FakeServer>('dh');
  const servers = makeServers(5);
  s.update(servers);
  const first = DESTINATIONS.map((ctx) => s.pick(ctx));
  for (let round = 0; round < 3; round++) {
    DESTINATIONS.forEach((ctx, i) => {
      assert.equal(s.pick({ clientAddress: `203.0.113.${round}`, destination: ctx.destination }), first[i]);
    });
  }
  const other = createScheduler<FakeServer>('dh');
  other.update(servers);
  DESTINATIONS.forEach((ctx, i) => assert.equal(other.pick(ctx), first[i]));
});

test('dh: 1000 destinations spread over the servers', () => {
  const s = createScheduler<FakeServer>('dh');
  const servers = makeServers(4);
  s.update(servers);
  const counts = new Map<FakeServer | null, number>();
  for (const ctx of DESTINATIONS) {
    const p = s.pick(ctx);
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  for (const srv of servers) {
    const got = counts.get(srv) ?? 0;
    assert.ok(got > 180 && got < 320, `${srv.address}: ${got} of 1000 destinations`);
  }
});

test('dh: when the hashed server is full the destination goes to another, and comes back after', () => {
  const s = createScheduler<FakeServer>('dh');
  const servers = makeServers(3);
  s.update(servers);
  const ctx = DESTINATIONS[7]!;
  const home = s.pick(ctx)!;
  home.capacity = false;
  const away = s.pick(ctx);
  assert.ok(away !== null && away !== home);
  assert.equal(s.pick(ctx), away, 'the fallback is stable too');
  home.capacity = true;
  assert.equal(s.pick(ctx), home);
});

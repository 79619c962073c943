import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeContexts, makeServers } from './fake-server.ts';

runConformance('sh');

const CLIENTS = makeContexts(1000);

test('sh: a client address always reaches the same server, whatever the destination', () => {
  const s = createScheduler<FakeServer>('sh');
  const servers = makeServers(5);
  s.update(servers);
  const first = CLIENTS.map((ctx) => s.pick(ctx));
  for (let round = 0; round < 3; round++) {
    CLIENTS.forEach((ctx, i) => {
      assert.equal(s.pick({ clientAddress: ctx.clientAddress, destination: `other-${round}` }), first[i]);
    });
  }
  // Another balancer with the same servers agrees without sharing anything.
  const other = createScheduler<FakeServer>('sh');
  other.update(servers);
  CLIENTS.forEach((ctx, i) => assert.equal(other.pick(ctx), first[i]));
});

test('sh: 1000 client addresses spread over the servers', () => {
  const s = createScheduler<FakeServer>('sh');
  const servers = makeServers(4);
  s.update(servers);
  const counts = new Map<FakeServer | null, number>();
  for (const ctx of CLIENTS) {
    const p = s.pick(ctx);
    counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  for (const srv of servers) {
    const got = counts.get(srv) ?? 0;
    assert.ok(got > 180 && got < 320, `${srv.address}: ${got} of 1000 clients`);
  }
});

test('sh: weights set the share of clients (3:1 → 75% ± 5% of 4000 addresses)', () => {
  const s = createScheduler<FakeServer>('sh');
  const [a, b] = makeServers([3, 1]);
  s.update([a!, b!]);
  let onA = 0;
  for (const ctx of makeContexts(4000)) if (s.pick(ctx) === a) onA++;
  assert.ok(Math.abs(onA / 4000 - 0.75) <= 0.05, `a got ${onA} of 4000`);
});

test('sh: when the hashed server is full the client goes elsewhere, and comes back after', () => {
  const s = createScheduler<FakeServer>('sh');
  const servers = makeServers(4);
  s.update(servers);
  const home = CLIENTS.map((ctx) => s.pick(ctx)!);
  servers[2]!.capacity = false;
  const moved = new Set<FakeServer>();
  CLIENTS.forEach((ctx, i) => {
    const p = s.pick(ctx)!;
    if (home[i] === servers[2]) {
      assert.notEqual(p, servers[2]);
      moved.add(p);
    } else {
      assert.equal(p, home[i], 'clients of other servers stay');
    }
  });
  assert.equal(moved.size, 3, "a full server's clients spread over all the others");
  servers[2]!.capacity = true;
  CLIENTS.forEach((ctx, i) => assert.equal(s.pick(ctx), home[i]));
});

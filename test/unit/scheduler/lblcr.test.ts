import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { ReplicatedLocalityLeastConnectionScheduler } from '../../../src/scheduler/lblcr.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers } from './fake-server.ts';

runConformance('lblcr');

const site = (destination: string) => ({ clientAddress: '198.51.100.1', destination });

test('lblcr: a destination sticks to its server while it is not overloaded', () => {
  const s = createScheduler<FakeServer>('lblcr');
  const servers = makeServers([2, 2, 2]);
  s.update(servers);
  const home = s.pick(site('a.example'))!;
  home.active = 2;
  for (let i = 0; i < 100; i++) assert.equal(s.pick(site('a.example')), home);
});

test('lblcr: overload adds a server to the set; the least loaded member then serves', () => {
  const s = createScheduler<FakeServer>('lblcr');
  const [a, b, c] = makeServers([2, 2, 2]);
  s.update([a!, b!, c!]);
  assert.equal(s.pick(site('hot.example')), a);
  a!.active = 3; // > weight 2, and b, c are idle
  b!.active = 0;
  c!.active = 1; // b is the least loaded overall
  assert.equal(s.pick(site('hot.example')), b, 'b joins the set');
  b!.active = 2;
  a!.active = 1;
  assert.equal(s.pick(site('hot.example')), a, 'set {a, b}: a is now the least loaded member');
  a!.active = 2;
  b!.active = 1;
  assert.equal(s.pick(site('hot.example')), b, 'and back to b; c never served this destination');
});

test('lblcr: a set unchanged for the expiration drops its most loaded member', () => {
  let now = 0;
  const s = new ReplicatedLocalityLeastConnectionScheduler<FakeServer>({ expirationMs: 1000, now: () => now });
  const [a, b] = makeServers([2, 2]);
  s.update([a!, b!]);
  assert.equal(s.pick(site('d')), a);
  a!.active = 3;
  assert.equal(s.pick(site('d')), b, 'set {a, b}');
  a!.active = 1;
  b!.active = 0;
  now = 500;
  assert.equal(s.pick(site('d')), b);
  now = 1001; // expired: a, the more loaded per weight, leaves the set
  a!.active = 2;
  b!.active = 1;
  assert.equal(s.pick(site('d')), b);
  a!.active = 0;
  assert.equal(s.pick(site('d')), b, 'a was dropped: b serves although a is idle');
  now = 5000;
  assert.equal(s.pick(site('d')), b, 'a set of one never shrinks');
});

test('lblcr: members that left the pool are forgotten, and usable again when back', () => {
  const s = createScheduler<FakeServer>('lblcr');
  const [a, b, c] = makeServers(3);
  s.update([a!, b!, c!]);
  assert.equal(s.pick(site('d')), a);
  s.update([b!, c!]);
  const next = s.pick(site('d'));
  assert.ok(next === b || next === c);
  s.update([a!, b!, c!]);
  assert.equal(s.pick(site('d')), next, 'the set is now {next}');
});

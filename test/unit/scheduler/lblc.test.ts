import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { LocalityLeastConnectionScheduler } from '../../../src/scheduler/lblc.ts';
import { runConformance } from './conformance.ts';
import { FakeServer, makeServers } from './fake-server.ts';

runConformance('lblc');

const site = (destination: string, clientAddress = '198.51.100.1') => ({ clientAddress, destination });

test('lblc: a destination sticks to its server, for every client, while it is not overloaded', () => {
  const s = createScheduler<FakeServer>('lblc');
  const servers = makeServers([2, 2, 2]);
  s.update(servers);
  const home = s.pick(site('a.example'))!;
  for (let i = 0; i < 100; i++) assert.equal(s.pick(site('a.example', `198.51.100.${i}`)), home);
  home.active = 2; // = weight: not yet overloaded
  for (const other of servers) if (other !== home) other.active = 0;
  assert.equal(s.pick(site('a.example')), home);
});

test('lblc: overloaded (active > weight while another is under half its weight) → moves, and stays moved', () => {
  const s = createScheduler<FakeServer>('lblc');
  const servers = makeServers([2, 2, 2]);
  s.update(servers);
  const home = s.pick(site('a.example'))!;
  home.active = 3;
  for (const other of servers) if (other !== home) other.active = 1; // 1·2 < 2 is false: nobody under half
  assert.equal(s.pick(site('a.example')), home, 'IPVS keeps it: no server is less than half loaded');
  const idle = servers.find((x) => x !== home)!;
  idle.active = 0;
  const moved = s.pick(site('a.example'));
  assert.equal(moved, idle, 'moved to the weighted least loaded');
  home.active = 0;
  assert.equal(s.pick(site('a.example')), idle, 'the destination now lives on its new server');
});

test('lblc: a mapped server without capacity hands the destination over', () => {
  const s = createScheduler<FakeServer>('lblc');
  const servers = makeServers(3);
  s.update(servers);
  const home = s.pick(site('b.example'))!;
  home.capacity = false;
  const next = s.pick(site('b.example'));
  assert.ok(next !== null && next !== home);
  home.capacity = true;
  assert.equal(s.pick(site('b.example')), next);
});

test('lblc: new destinations go to the least loaded server, idle ones in turn', () => {
  const s = createScheduler<FakeServer>('lblc');
  const servers = makeServers(3);
  s.update(servers);
  servers[0]!.active = 5;
  const picks = ['x', 'y', 'z', 'w'].map((d) => s.pick(site(d))?.index);
  assert.deepEqual(picks, [1, 2, 1, 2]);
});

test('lblc: the destination table is bounded, least recently used forgotten first', () => {
  const s = new LocalityLeastConnectionScheduler<FakeServer>({ maxDestinations: 2 });
  const [a, b] = makeServers(2);
  s.update([a!, b!]);
  assert.equal(s.pick(site('d1')), a);
  assert.equal(s.pick(site('d2')), b);
  assert.equal(s.pick(site('d1')), a, 'remembered (and now most recent)');
  assert.equal(s.pick(site('d3')), a); // evicts d2
  assert.equal(s.pick(site('d1')), a, 'd1 still remembered');
  assert.equal(s.pick(site('d2')), b, 'd2 forgotten: rescheduled by rotation (b)');
  assert.equal(s.pick(site('d3')), a, 'd3 survived; d1 evicted by d2');
  assert.equal(s.pick(site('d1')), b, 'd1 forgotten: rescheduled by rotation');
});

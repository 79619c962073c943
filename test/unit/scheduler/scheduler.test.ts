// The registry: one factory per SPEC scheduler name, each call a fresh scheduler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SCHEDULER_NAMES } from '../../../src/config/schema.ts';
import { createScheduler, SCHEDULERS } from '../../../src/scheduler/scheduler.ts';
import { FakeServer, makeServers, ONE_CONTEXT } from './fake-server.ts';

test('SCHEDULERS has exactly the SPEC scheduler names', () => {
  assert.deepEqual(Object.keys(SCHEDULERS).sort(), [...SCHEDULER_NAMES].sort());
});

test('createScheduler returns a new, independent scheduler per call', () => {
  for (const name of SCHEDULER_NAMES) {
    const a = createScheduler<FakeServer>(name);
    const b = createScheduler<FakeServer>(name);
    assert.notEqual(a, b, name);
    a.update(makeServers(3));
    assert.equal(b.pick(ONE_CONTEXT), null, `${name}: b has no servers yet`);
  }
});

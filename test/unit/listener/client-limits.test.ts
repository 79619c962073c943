// src/listener/client-limits.ts: a listener without `newPerSecond` carries no token-bucket table.
// lru-cache preallocates its index arrays for `max` entries (~1.4 MB for 65,536), and every
// listener has a ClientLimits: made eagerly, two listeners cost ~2.8 MB of idle RSS (issue 18 §11).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BUCKETS, ClientLimits } from '../../../src/listener/client-limits.ts';

const arrayBufferBytes = (): number => process.memoryUsage().arrayBuffers;

test('connection counting alone allocates no bucket table; the first rate check makes it, once', () => {
  const before = arrayBufferBytes();
  const held: ClientLimits[] = [];
  for (let i = 0; i < 8; i++) {
    const limits = new ClientLimits();
    assert.equal(limits.admit('10.0.0.1', { maxConnections: 2 }, 0), null);
    assert.equal(limits.admit('10.0.0.1', { maxConnections: 2 }, 0), null);
    assert.equal(limits.admit('10.0.0.1', { maxConnections: 2 }, 0), 'per-client-connections');
    limits.release('10.0.0.1');
    held.push(limits);
  }
  // Eight eager tables would hold 8 x (3 Uint16Arrays of 65,536) = 3 MiB of ArrayBuffers.
  assert.ok(arrayBufferBytes() - before < 512 * 1024, `ArrayBuffers grew by ${arrayBufferBytes() - before} bytes without a rate limit`);
  assert.deepEqual(held[0]!.sizes, { open: 1, buckets: 0 });

  const rated = held[0]!;
  const beforeRate = arrayBufferBytes();
  assert.equal(rated.admit('10.0.0.2', { newPerSecond: 1 }, 0), null);
  assert.equal(rated.admit('10.0.0.2', { newPerSecond: 1 }, 0), 'per-client-rate');
  assert.ok(arrayBufferBytes() - beforeRate >= BUCKETS * 2, 'the table exists once a rate is checked');
  assert.equal(rated.sizes.buckets, 1);
  assert.equal(rated.admit('10.0.0.2', { newPerSecond: 1 }, 1_000), null, 'a second later the bucket has refilled');
});

// src/util/iso-time.ts: the log timestamp is what Date#toISOString writes, for any millisecond,
// in any order (its per-second cache must never hand out the prefix of another second).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isoTimestamp } from '../../../src/util/iso-time.ts';

const MAX = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

test('the same string as toISOString, for any millisecond from 1970 to 9999, called in any order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: MAX }), { minLength: 1, maxLength: 50 }), (times) => {
      for (const ms of times) assert.equal(isoTimestamp(ms), new Date(ms).toISOString());
    }),
    { numRuns: 2_000 },
  );
});

test('the edges: the epoch, each millisecond padding, second, day, leap day and year boundaries, years below 1000', () => {
  const cases = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 60_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2000, 0, 1), MAX, Date.now()];
  for (const ms of cases) {
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
    if (ms < MAX) assert.equal(isoTimestamp(ms + 1), new Date(ms + 1).toISOString(), String(ms + 1)); // the next one, from the cache or not
  }
  const early = new Date(0);
  early.setUTCFullYear(812, 5, 7);
  assert.equal(isoTimestamp(early.getTime() - (early.getTime() % 1000) + 5), new Date(early.getTime() - (early.getTime() % 1000) + 5).toISOString());
});

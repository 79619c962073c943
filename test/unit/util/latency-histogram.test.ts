// The latency histogram's buckets follow Prometheus `le`: a value equal to a bound is in that
// bucket, one just above it in the next, above the last bound in +Inf.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketOf, LATENCY_BUCKETS, LatencyHistogram } from '../../../src/util/latency-histogram.ts';
import { recordRequest, RequestStats, statusClass } from '../../../src/http/request-stats.ts';

test('bucketOf: le semantics at every bound, 0 and +Inf', () => {
  assert.equal(bucketOf(0), 0);
  LATENCY_BUCKETS.forEach((le, i) => {
    assert.equal(bucketOf(le * 1000), i, `${le} s is in le=${le}`);
    assert.equal(bucketOf(le * 1000 + 0.001), i + 1, `just above ${le} s is in the next bucket`);
  });
  assert.equal(bucketOf(1e9), LATENCY_BUCKETS.length, '+Inf');
});

test('LatencyHistogram: counts, sum in seconds, count', () => {
  const h = new LatencyHistogram();
  for (const ms of [0.2, 3, 3, 70_000]) h.add(bucketOf(ms), ms);
  assert.equal(h.count, 4);
  assert.equal(h.counts[0], 1);
  assert.equal(h.counts[bucketOf(3)], 2);
  assert.equal(h.counts[LATENCY_BUCKETS.length], 1);
  assert.ok(Math.abs(h.sum - 70.0062) < 1e-9);
});

test('statusClass and recordRequest: listener and server, TTFB only with a response head', () => {
  assert.deepEqual([0, 99, 100, 101, 204, 302, 404, 503, 599, 600].map(statusClass), [0, 0, 1, 1, 2, 3, 4, 5, 5, 0]);
  const l = new RequestStats();
  const s = new RequestStats();
  recordRequest(l, s, 200, 5, 4);
  recordRequest(l, null, 503, 1, -1);
  recordRequest(l, s, 0, 2, -1);
  assert.deepEqual(l.byClass, [1, 0, 1, 0, 0, 1]);
  assert.deepEqual(s.byClass, [1, 0, 1, 0, 0, 0]);
  assert.equal(l.total.count, 3);
  assert.equal(l.firstByte.count, 1);
  assert.equal(s.total.count, 2);
  assert.equal(s.firstByte.count, 1);
});

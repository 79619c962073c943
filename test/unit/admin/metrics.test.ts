// The text writer of src/admin/metrics.ts on a stand-in of the running proxy: label values escaped
// (a certificate subject may hold quotes and backslashes), histograms cumulated with +Inf, _sum and
// _count, every metric announced with HELP and TYPE once, even without samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createMetricsRegistry, METRICS } from '../../../src/admin/metrics.ts';
import type { AdminView } from '../../../src/admin/view.ts';
import { ListenerCounters } from '../../../src/listener/counters.ts';
import { SessionTable } from '../../../src/session/session-table.ts';
import { bucketOf } from '../../../src/util/latency-histogram.ts';

/** What the metrics read of the running proxy (the rest of AdminView is the admin API's). */
function view(): AdminView {
  const counters = new ListenerCounters();
  for (const ms of [0.1, 0.1, 7, 120_000]) counters.requestStats.total.add(bucketOf(ms), ms);
  counters.requestStats.byClass[2] = 3;
  const certificate = { file: '/etc/c"e\\rt.pem', subject: 'CN=a "quoted"\nname', notAfter: Date.UTC(2030, 0, 1) };
  return {
    log: null as never,
    startedAt: Date.now(),
    draining: false,
    sessions: new SessionTable(10),
    generation: 1,
    lastReload: null,
    reloadFailures: 0,
    listenerViews: () => [{ name: 'web', protocol: 'http', counters, certificates: [certificate] as never }],
    poolList: () => [],
    findPool: () => undefined,
    upstreamOf: () => undefined,
    sourcePortsOf: () => ({ inUse: 0, free: 0, exhausted: 0 }) as never,
    eventLoopLagMs: () => 0,
  } as Partial<AdminView> as AdminView;
}

test('every metric has one HELP and one TYPE line, samples or not', async () => {
  const text = await createMetricsRegistry(view()).metrics();
  for (const m of METRICS) {
    assert.equal(text.split('\n').filter((l) => l === `# TYPE ${m.name} ${m.type}`).length, 1, m.name);
    assert.equal(text.split('\n').filter((l) => l.startsWith(`# HELP ${m.name} `)).length, 1, m.name);
  }
  assert.ok(text.endsWith('\n'));
});

test('label values are escaped: backslash, double quote, line feed', async () => {
  const text = await createMetricsRegistry(view()).metrics();
  const line = text.split('\n').find((l) => l.startsWith('fullproxy_listener_tls_certificate_expiry_seconds{'));
  assert.equal(line, `fullproxy_listener_tls_certificate_expiry_seconds{listener="web",certificate="/etc/c\\"e\\\\rt.pem",subject="CN=a \\"quoted\\"\\nname"} ${Date.UTC(2030, 0, 1) / 1000}`);
});

test('histograms are cumulative, end in +Inf equal to _count, and carry _sum in seconds', async () => {
  const lines = (await createMetricsRegistry(view()).metrics()).split('\n');
  const buckets = lines.filter((l) => l.startsWith('fullproxy_listener_rq_duration_seconds_bucket{listener="web"'));
  assert.equal(buckets[0], 'fullproxy_listener_rq_duration_seconds_bucket{listener="web",le="0.0005"} 2');
  assert.ok(buckets.includes('fullproxy_listener_rq_duration_seconds_bucket{listener="web",le="0.01"} 3'));
  assert.equal(buckets.at(-2), 'fullproxy_listener_rq_duration_seconds_bucket{listener="web",le="60"} 3');
  assert.equal(buckets.at(-1), 'fullproxy_listener_rq_duration_seconds_bucket{listener="web",le="+Inf"} 4');
  assert.ok(lines.includes('fullproxy_listener_rq_duration_seconds_count{listener="web"} 4'));
  const sum = Number(lines.find((l) => l.startsWith('fullproxy_listener_rq_duration_seconds_sum{listener="web"}'))!.split(' ')[1]);
  assert.ok(Math.abs(sum - 120.0072) < 1e-9, String(sum));
  assert.ok(lines.includes('fullproxy_listener_rq_total{listener="web",code="2xx"} 3'));
});

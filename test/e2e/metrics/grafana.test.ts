// deploy/grafana/fullproxy.json (issue 18 §4): every metric the dashboard queries is one that
// docs/metrics.md lists (which a live scrape is checked against: metrics.test.ts), it shows what
// an operator looks at first, and every query is valid PromQL (promtool check rules).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../helpers/fullproxy.ts';
import { promtool } from './scrape.ts';

const dashboard = JSON.parse(readFileSync(join(ROOT, 'deploy/grafana/fullproxy.json'), 'utf8')) as { panels: Array<{ id: number; type: string; title: string; targets?: Array<{ expr: string }> }> };

/** Every PromQL string of the dashboard: panel targets, variable queries, annotations. */
function queries(): string[] {
  const out: string[] = [];
  const walk = (v: unknown, key: string): void => {
    if (typeof v === 'string' && (key === 'expr' || key === 'definition')) out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(dashboard, '');
  return out;
}

function documented(): Map<string, string> {
  const docs = new Map<string, string>();
  for (const line of readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8').split('\n')) {
    const m = /^\| `(fullproxy_[a-z0-9_]+)` \| (counter|gauge|histogram) \|/.exec(line);
    if (m !== null) docs.set(m[1]!, m[2]!);
  }
  return docs;
}

test('every metric the dashboard queries is documented in docs/metrics.md', () => {
  const docs = documented();
  const used = new Set<string>();
  for (const q of queries()) for (const m of q.matchAll(/\bfullproxy_[a-z0-9_]+/g)) used.add(m[0]);
  assert.ok(used.size >= 20, `the dashboard queries ${used.size} metrics`);
  for (const name of used) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (base !== name) assert.equal(docs.get(base), 'histogram', `${name}: ${base} is a documented histogram`);
    else assert.ok(docs.has(name), `${name} is queried by the dashboard but not in docs/metrics.md`);
  }
});

test('it shows the rates, latencies, errors, health, sessions, source ports and the client:server ratio', () => {
  const all = queries().join('\n');
  const wanted: Array<[string, RegExp]> = [
    ['request rate by status class', /sum by \(code\) \(rate\(fullproxy_listener_rq_total/],
    ['p50 latency', /histogram_quantile\(0\.5, [^\n]*fullproxy_listener_rq_duration_seconds_bucket/],
    ['p99 latency', /histogram_quantile\(0\.99, [^\n]*fullproxy_listener_rq_duration_seconds_bucket/],
    ['server time to first byte', /histogram_quantile\([^\n]*fullproxy_server_rq_ttfb_seconds_bucket/],
    ['connect errors by reason', /by \(server, reason\) \(rate\(fullproxy_server_connect_errors_total/],
    ['5xx', /code="5xx"/],
    ['health', /fullproxy_server_up/],
    ['sessions', /fullproxy_listener_cx_active/],
    ['source ports', /fullproxy_server_source_ports_in_use/],
    ['client:server ratio', /fullproxy_pool_client_server_cx_ratio/],
    ['retries', /fullproxy_server_retries_total/],
    ['queue', /fullproxy_server_rq_queued/],
  ];
  for (const [what, re] of wanted) assert.match(all, re, what);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of dashboard.panels) if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${p.title} has a query`);
});

test('every query is valid PromQL (promtool check rules)', (t) => {
  const bin = promtool();
  if (bin === null) return t.skip('promtool is not installed (Debian package "prometheus"; .ci/run installs it)');
  // Grafana's variables, as Grafana would substitute them.
  const exprs = queries()
    .filter((q) => !q.startsWith('label_values('))
    .map((q) => q.replaceAll('$__rate_interval', '1m').replaceAll('$listener', '.*').replaceAll('$pool', '.*'));
  const rules = ['groups:', '  - name: dashboard', '    rules:', ...exprs.flatMap((e, i) => [`      - record: dashboard:query${i}`, `        expr: ${JSON.stringify(e)}`])].join('\n');
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-grafana-'));
  try {
    writeFileSync(join(dir, 'rules.yml'), rules + '\n');
    const r = spawnSync(bin, ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// A server stopped while traffic flows (tcp and http listeners on one pool with active checks): the
// checks take it out after `fall` failures, no client sees an error after that (requests go to the
// other server), and `rise` passes bring it back once it listens again on the same port. Each
// change is logged once, at info, with its reason.
//
// Timings (issue 16, Proof "Active checks"): marked down within `fall × interval` + one interval of
// the stop, back within `rise × interval` of the restart. Checks start on the shared 250 ms clock
// tick and intervals have ±5 % jitter, so both bounds get SLACK_MS on top (the tick, the jitter and a
// loaded machine); the figures measured are reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

/** On top of the bounds: one 250 ms clock tick, ±5 % jitter, and a busy machine's scheduling delays. */
const SLACK_MS = 500;

/** Polls `cond` every 5 ms; resolves with the ms from `t0` to the first time it held. */
async function timeUntil(cond: () => boolean, t0: number, timeoutMs: number, what: string): Promise<number> {
  await waitFor(cond, timeoutMs, what);
  return performance.now() - t0;
}

test('a stopped server is taken out by the checks and brought back when it returns (tcp and http listeners)', async (t) => {
  const INTERVAL = 500;
  const FALL = 2;
  const RISE = 2;
  const a = await restartable('a');
  const b = await restartable('b');
  const p = await startProxy({
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' },
      { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' },
    ],
    pools: [{ name: 'app', servers: [{ address: a.address }, { address: b.address }], healthCheck: { type: 'http', path: '/healthz', interval: INTERVAL, timeout: 500, rise: RISE, fall: FALL }, retries: 1 }],
  });
  const server = (addr: string) => p.proxy.pools.get('app')!.find(addr)!;
  const web = p.addr('web').port;
  const raw = p.addr('raw').port;
  // Traffic on both listeners all along: tcp sessions are new connections; http ones too (agent: false).
  let stopping = false;
  const errors: string[] = [];
  const served = { a: 0, b: 0 };
  const loop = async (port: number, label: string): Promise<void> => {
    while (!stopping) {
      try {
        const r = await get(port, { path: '/', timeoutMs: 5_000 });
        if (r.status !== 200) errors.push(`${label}: status ${r.status}`);
        else served[String(r.headers['x-served-by']) as 'a' | 'b']++;
      } catch (e) {
        errors.push(`${label}: ${(e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const loops = [loop(web, 'http'), loop(raw, 'tcp')];
  try {
    await waitFor(() => (b.seen.get('/healthz') ?? 0) >= 2 && served.b > 2, 5_000, 'checks and traffic reaching b');
    assert.equal(server(b.address).health, 'up');
    const stoppedAt = performance.now();
    await b.stop();
    const downMs = await timeUntil(() => server(b.address).health === 'down', stoppedAt, 10_000, 'b marked down');
    // From here on, no client error: b gets nothing, a serves everything. The proxy does not even
    // try b (a try would be a connect error, retried on a unseen by the client).
    errors.length = 0;
    const aBefore = served.a;
    const bBefore = served.b;
    const sb = server(b.address);
    const tried = (): number => sb.sessionsTotal + sb.requestsTotal + sb.connectErrors;
    const triedBefore = tried();
    await waitFor(() => served.a >= aBefore + 20, 10_000, 'traffic served by a while b is down');
    assert.deepEqual(errors, [], 'no client error once b is down');
    assert.equal(served.b, bBefore, 'no request reached b while down');
    assert.equal(sb.health, 'down');
    assert.equal(tried(), triedBefore, 'no session, request or connect attempt toward b while down');
    // b comes back on the same port: rise passes bring it up, and traffic reaches it again.
    await b.start();
    const restartedAt = performance.now();
    const upMs = await timeUntil(() => server(b.address).health === 'up', restartedAt, 10_000, 'b marked up');
    t.diagnostic(`interval ${INTERVAL} ms, fall ${FALL}, rise ${RISE}: down ${downMs.toFixed(0)} ms after the stop (bound ${FALL * INTERVAL + INTERVAL} ms), up ${upMs.toFixed(0)} ms after the restart (bound ${RISE * INTERVAL} ms)`);
    assert.ok(downMs <= FALL * INTERVAL + INTERVAL + SLACK_MS, `down after ${downMs.toFixed(0)} ms`);
    assert.ok(upMs <= RISE * INTERVAL + SLACK_MS, `up after ${upMs.toFixed(0)} ms`);
    const back = served.b;
    await waitFor(() => served.b > back + 2, 5_000, 'traffic reaching b again');
    stopping = true;
    await Promise.all(loops);
    assert.deepEqual(errors, [], 'no client error while b came back');
    const lines = p.logs.lines.filter((l) => l['server'] === b.address && (l['msg'] === 'server down' || l['msg'] === 'server up'));
    assert.deepEqual(lines.map((l) => l['msg']), ['server down', 'server up'], 'one line each way');
    for (const l of lines) assert.equal(l['level'], 30, 'logged at info');
    assert.match(String(lines[0]!['reason']), /refused|passive/, 'the down line says why');
    assert.match(String(lines[1]!['reason']), /2 checks in a row passed: status 200/);
    const last = server(b.address).lastCheck!;
    assert.equal(last.result, 'pass');
    assert.equal(last.reason, 'status 200');
    assert.ok(last.latencyMs >= 0 && last.latencyMs < 500, `latency ${last.latencyMs}`);
  } finally {
    stopping = true;
    await Promise.all(loops);
    await p.stop();
    await a.stop();
    await b.stop();
  }
});

test('without traffic, `fall` failed checks take a stopped server down with the reason "refused", within the bounds', async (t) => {
  const INTERVAL = 500;
  const FALL = 3;
  const RISE = 2;
  const a = await restartable('a');
  const b = await restartable('b');
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: a.address }, { address: b.address }], healthCheck: { type: 'tcp', interval: INTERVAL, timeout: 500, rise: RISE, fall: FALL } }],
  });
  const s = p.proxy.pools.get('app')!.find(b.address)!;
  try {
    await waitFor(() => s.lastCheck !== null, 5_000, 'first check');
    const stoppedAt = performance.now();
    await b.stop();
    const downMs = await timeUntil(() => s.health === 'down', stoppedAt, 10_000, 'b down');
    assert.equal(s.checksFailed, 3, 'exactly fall failures took it down');
    assert.equal(s.healthReason, '3 checks in a row failed, last: refused');
    assert.equal(s.lastCheck?.result, 'fail');
    await b.start();
    const restartedAt = performance.now();
    const upMs = await timeUntil(() => s.health === 'up', restartedAt, 10_000, 'b up');
    assert.equal(s.healthReason, '2 checks in a row passed: connected');
    t.diagnostic(`interval ${INTERVAL} ms, fall ${FALL}, rise ${RISE}: down ${downMs.toFixed(0)} ms after the stop (bound ${FALL * INTERVAL + INTERVAL} ms), up ${upMs.toFixed(0)} ms after the restart (bound ${RISE * INTERVAL} ms)`);
    assert.ok(downMs <= FALL * INTERVAL + INTERVAL + SLACK_MS, `down after ${downMs.toFixed(0)} ms`);
    // Not sooner than the checks can: fall - 1 intervals (less the jitter) between the first and the last failure.
    assert.ok(downMs >= (FALL - 1) * INTERVAL * 0.95 - 50, `down after ${downMs.toFixed(0)} ms: faster than fall checks allow`);
    assert.ok(upMs <= RISE * INTERVAL + SLACK_MS, `up after ${upMs.toFixed(0)} ms`);
    assert.ok(upMs >= (RISE - 1) * INTERVAL * 0.95 - 50, `up after ${upMs.toFixed(0)} ms: faster than rise checks allow`);
    assert.equal(p.logs.find('server down').length, 1);
    assert.equal(p.logs.find('server up').length, 1);
  } finally {
    await p.stop();
    await a.stop();
    await b.stop();
  }
});

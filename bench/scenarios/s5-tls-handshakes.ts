// S5: TLS handshakes — a new TLS 1.3 connection per request, with an ECDSA P-256 and an RSA 2048
// certificate: full handshakes, then resumed ones (session tickets), per core of the proxy.
import { tlsClientSample, type TlsLoad } from '../lib/measure.ts';
import { col, errorsCol, fmt, naReason, okMedian, ratioCheck, ratioCol } from '../lib/report.ts';
import { TLS_TARGET_NAMES, type TargetName } from '../lib/targets.ts';
import type { Check, Column, Sample, ScenarioResults, Scenario } from './scenario.ts';

/** Concurrent connection loops of the client: enough to keep one core of the proxy busy. */
const CONCURRENCY = 32;
const FULL: TlsLoad = { concurrency: CONCURRENCY, resume: false };
const RESUMED: TlsLoad = { concurrency: CONCURRENCY, resume: true };

const pct = (header: string, metric: 'cpuBusy' | 'resumedShare'): Column => ({ header, cell: (m) => (m[metric] === undefined ? '—' : `${fmt(m[metric] * 100, 0)}%`) });

function resumeCheck(r: ScenarioResults, target: TargetName, goal: string): Check {
  const m = okMedian(r, target);
  if (m?.resumeGain === undefined) return { goal, status: 'n/a', measured: `${target}: ${naReason(r[target])}` };
  return {
    goal,
    status: m.resumeGain >= 2 ? 'pass' : 'fail',
    measured: `${fmt(m.resumeGain, 2)}× (${fmt(m.resumedPerCoreS, 0)} resumed vs ${fmt(m.perCoreS, 0)} full handshakes per CPU-second; measured ${fmt(m.resumedRps, 0)} vs ${fmt(m.rps, 0)} conn/s; ${fmt((m.resumedShare ?? 0) * 100, 0)}% of the connections resumed)`,
  };
}

export const s5: Scenario = {
  id: 'S5',
  title: 'TLS handshakes: a new TLS 1.3 connection per request',
  method:
    `the Node client bench/lib/tls-client.ts on the load cpu: ${CONCURRENCY} loops of tls.connect (TLS 1.3 only; key exchange X25519 for every server: Node 24's OpenSSL 3.5 would otherwise make fullproxy alone do the hybrid X25519MLKEM768, which Debian's OpenSSL 3.0 in HAProxy and nginx lacks; SNI bench.test, no certificate check), GET / with "Connection: close", read to the close, reconnect; the proxies keep their server connections alive. Each repetition runs full handshakes (no session offered), then resumed ones (each loop offers the ticket of its previous connection), one window each. ` +
    'CPU µs/conn is the proxy\'s CPU time ÷ connections; "per CPU-s" = 1e6 ÷ that: the handshakes one core of the proxy can do per second, which is what the goals compare. The load side cannot keep the proxy\'s core busy: a client handshake costs more CPU than a server one (~1 ms here, "client CPU µs/conn"; openssl s_time measured the same per connection), and the client shares its cpu with the servers, so "proxy cpu busy" stays well below 100% and measured conn/s are the client\'s rate as much as the proxy\'s.',
  unavailable: null,
  targets: TLS_TARGET_NAMES,
  windowFactor: 2,
  restartPerRepetition: false,
  warmup: async (ctx, t) => {
    if (ctx.settings.warmupS > 0) await tlsClientSample(ctx, t, FULL, ctx.settings.warmupS);
  },
  measure: async (ctx, t) => {
    const full = await tlsClientSample(ctx, t, FULL, ctx.settings.durationS);
    const res = await tlsClientSample(ctx, t, RESUMED, ctx.settings.durationS);
    const f = full.sample;
    const r = res.sample;
    const s: Sample = { ...f, errors: (f.errors ?? 0) + (r.errors ?? 0), resumedRps: r.rps ?? 0, resumedShare: res.result.requests > 0 ? res.result.resumed / res.result.requests : 0 };
    if (f.cpuUsPerReq !== undefined && f.cpuUsPerReq > 0) {
      s.perCoreS = 1e6 / f.cpuUsPerReq;
      s.cpuBusy = (f.cpuUsPerReq * (f.rps ?? 0)) / 1e6;
    }
    if (r.cpuUsPerReq !== undefined && r.cpuUsPerReq > 0) {
      s.resumedCpuUsPerReq = r.cpuUsPerReq;
      s.resumedPerCoreS = 1e6 / r.cpuUsPerReq;
      if (s.perCoreS !== undefined) s.resumeGain = s.resumedPerCoreS / s.perCoreS;
    }
    if (full.result.protocol !== 'TLSv1.3' || full.result.resumed > 0 || full.result.group !== 'X25519') {
      throw new Error(`full handshakes expected over TLS 1.3 with X25519, got ${full.result.protocol}, ${full.result.group}, ${full.result.resumed} resumed`);
    }
    return s;
  },
  columns: [
    col('full conn/s', 'rps', 0),
    col('CPU µs/conn', 'cpuUsPerReq', 1),
    col('full per CPU-s', 'perCoreS', 0),
    ratioCol('per CPU-s vs HAProxy', 'perCoreS'),
    ratioCol('conn/s vs HAProxy', 'rps'),
    pct('proxy cpu busy', 'cpuBusy'),
    col('client CPU µs/conn', 'clientCpuUsPerReq', 0),
    col('resumed conn/s', 'resumedRps', 0),
    col('CPU µs/resumed', 'resumedCpuUsPerReq', 1),
    col('resumed per CPU-s', 'resumedPerCoreS', 0),
    { header: 'resumed ÷ full per CPU-s', cell: (m) => (m.resumeGain === undefined ? '—' : `${fmt(m.resumeGain, 2)}×`) },
    pct('resumed', 'resumedShare'),
    errorsCol,
  ],
  checks: (r) => [
    ratioCheck(r, { goal: 'S5 ECDSA P-256: full handshakes per core-second ≥ 0.8× HAProxy', target: 'fullproxy-https', reference: 'haproxy-https', metric: 'perCoreS', unit: 'handshakes/CPU-s', min: 0.8 }),
    ratioCheck(r, { goal: 'S5 RSA 2048: full handshakes per core-second ≥ 0.8× HAProxy', target: 'fullproxy-https-rsa', reference: 'haproxy-https-rsa', metric: 'perCoreS', unit: 'handshakes/CPU-s', min: 0.8 }),
    resumeCheck(r, 'fullproxy-https', 'S5 ECDSA P-256: resumed handshakes per core-second ≥ 2× our full ones'),
    resumeCheck(r, 'fullproxy-https-rsa', 'S5 RSA 2048: resumed handshakes per core-second ≥ 2× our full ones'),
  ],
};

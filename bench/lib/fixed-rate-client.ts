// Open-loop HTTP/1.1 load at a fixed request rate, for S7 (Debian's wrk has no -R like wrk2).
// usage: node fixed-rate-client.ts --host H --port P --path / --rate R --duration S --warmup S --connections C
//
// Request i is due at t0 + i/R. A 1 ms timer moves due requests into a FIFO queue; each idle
// keep-alive connection takes the oldest one and writes it. Latency is taken with hrtime twice:
//   - from the write to the end of the response ("service" latency: what the path adds), and
//   - from the due time ("schedule" latency, wrk2's coordinated-omission-corrected view, which
//     also contains the client's own timer lag of up to ~1 ms and any queueing when all
//     connections are busy).
// Only requests due after the warm-up are recorded. Prints one JSON line on stdout.
import { createConnection, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    path: { type: 'string', default: '/' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
  },
});
const host = values.host;
const port = Number(values.port);
const rate = Number(values.rate);
const durationS = Number(values.duration);
const warmupS = Number(values.warmup);
const nConn = Number(values.connections);
if (!(port > 0) || !(rate > 0) || !(durationS > 0) || !(nConn > 0)) {
  process.stderr.write('usage: fixed-rate-client.ts --port P --rate R [--duration S] [--warmup S] [--connections C] [--host H] [--path /]\n');
  process.exit(2);
}

const REQUEST = Buffer.from(`GET ${values.path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`, 'latin1');
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const now = (): number => Number(process.hrtime.bigint());

const intervalNs = 1e9 / rate;
const total = Math.floor(rate * (warmupS + durationS));
const firstMeasured = Math.floor(rate * warmupS);
const service: number[] = [];
const schedule: number[] = [];
let errors = 0;
let completed = 0;
let completedMeasured = 0;
let maxQueue = 0;

// FIFO of due indices: a plain array with a head index (indices are consecutive integers).
let issued = 0;
let qHead = 0;
const idle: Conn[] = [];
let t0 = 0;
let busy = 0;

class Conn {
  socket: Socket;
  index = -1;
  sentAt = 0;
  head: Buffer | null = null;
  bodyLeft = -1;
  alive = false;

  constructor() {
    this.socket = this.#open();
  }

  #open(): Socket {
    const s = createConnection({ host, port });
    s.setNoDelay(true);
    s.on('connect', () => {
      this.alive = true;
      idle.push(this);
      dispatch();
    });
    s.on('data', (chunk: Buffer) => this.onData(chunk));
    s.on('error', () => {});
    s.on('close', () => this.onClose());
    return s;
  }

  send(index: number): void {
    this.index = index;
    this.head = null;
    this.bodyLeft = -1;
    busy++;
    this.sentAt = now();
    this.socket.write(REQUEST);
  }

  onData(chunk: Buffer): void {
    if (this.index < 0) return; // unsolicited
    if (this.bodyLeft < 0) {
      const buf = this.head === null ? chunk : Buffer.concat([this.head, chunk]);
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        this.head = buf;
        return;
      }
      const headText = buf.toString('latin1', 0, end);
      const status = Number(headText.slice(9, 12));
      const m = /\r\ncontent-length:\s*([0-9]+)/i.exec(headText);
      if (status !== 200 || m?.[1] === undefined) {
        errors++;
      }
      this.bodyLeft = Number(m?.[1] ?? 0) - (buf.length - end - 4);
    } else {
      this.bodyLeft -= chunk.length;
    }
    if (this.bodyLeft <= 0) this.#complete();
  }

  #complete(): void {
    const t = now();
    if (this.index >= firstMeasured) {
      service.push(t - this.sentAt);
      schedule.push(t - (t0 + this.index * intervalNs));
      completedMeasured++;
    }
    completed++;
    busy--;
    this.index = -1;
    idle.push(this);
    dispatch();
  }

  onClose(): void {
    const wasIdle = idle.indexOf(this);
    if (wasIdle >= 0) idle.splice(wasIdle, 1);
    if (this.index >= 0) {
      errors++;
      busy--;
      this.index = -1;
    }
    this.alive = false;
    if (!finished) this.socket = this.#open();
  }
}

function dispatch(): void {
  while (qHead < issued && idle.length > 0) {
    const c = idle.pop() as Conn;
    c.send(qHead++);
  }
}

let finished = false;
const conns: Conn[] = [];

function tick(): void {
  const t = now();
  const due = Math.min(total, Math.floor((t - t0) / intervalNs) + 1);
  if (due > issued) issued = due;
  if (issued - qHead > maxQueue) maxQueue = issued - qHead;
  dispatch();
  if (issued < total) {
    setTimeout(tick, 1);
  } else {
    drainOrFinish(t + 5e9);
  }
}

function drainOrFinish(deadline: number): void {
  dispatch();
  if ((qHead >= issued && busy === 0) || now() > deadline) finish();
  else setTimeout(() => drainOrFinish(deadline), 5);
}

function percentile(sorted: Float64Array, q: number): number | null {
  if (sorted.length === 0) return null;
  return (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0) / 1e6;
}

function finish(): void {
  if (finished) return;
  finished = true;
  const lost = issued - completed;
  const s = Float64Array.from(service).sort();
  const d = Float64Array.from(schedule).sort();
  const out = {
    rateTarget: rate,
    rateAchieved: completedMeasured / durationS,
    requests: completed,
    requestsMeasured: completedMeasured,
    seconds: durationS,
    p50Ms: percentile(s, 0.5),
    p99Ms: percentile(s, 0.99),
    p999Ms: percentile(s, 0.999),
    p50ScheduleMs: percentile(d, 0.5),
    p99ScheduleMs: percentile(d, 0.99),
    errors: errors + Math.max(0, lost),
    maxQueue,
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
  for (const c of conns) c.socket.destroy();
  process.exitCode = 0;
  setTimeout(() => process.exit(0), 100).unref();
}

for (let i = 0; i < nConn; i++) conns.push(new Conn());
// Give the connections a moment to open, then start the clock.
setTimeout(() => {
  t0 = now();
  tick();
}, 200);

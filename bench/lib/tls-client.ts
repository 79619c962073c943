// S5's load client: a new TLS 1.3 connection per request. `--concurrency` loops, each: tls.connect,
// "GET / HTTP/1.1" with "Connection: close", read the response to the server's close, count it,
// connect again. `--resume` offers the session ticket the previous connection of the same loop got
// (TLS 1.3 PSK resumption, still with a fresh ECDHE: psk_dhe_ke); without it every handshake is a
// full one. wrk cannot do this: it resumes nothing on reconnect and cannot be told to.
// Started pinned to the load cpu (bench/lib/measure.ts); prints one JSON line when done:
// {"requests","errors","seconds","resumed","protocol","cipher","group","clientCpuS"}.
import { connect, type TLSSocket } from 'node:tls';
import { parseArgs } from 'node:util';

const { values: v } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    servername: { type: 'string', default: 'bench.test' },
    concurrency: { type: 'string', default: '32' },
    duration: { type: 'string', default: '5' },
    resume: { type: 'boolean', default: false },
    path: { type: 'string', default: '/' },
    // Key-exchange groups offered. Node 24's OpenSSL 3.5 offers (and, as a server, prefers) the
    // hybrid X25519MLKEM768 by default; HAProxy and nginx on Debian's OpenSSL 3.0 cannot, so a
    // default client makes fullproxy alone do ML-KEM: the bench offers classical groups only.
    groups: { type: 'string', default: 'X25519:P-256' },
  },
});
const port = Number(v.port);
const concurrency = Number(v.concurrency);
const durationMs = Number(v.duration) * 1000;
const request = Buffer.from(`GET ${v.path} HTTP/1.1\r\nHost: ${v.servername}\r\nConnection: close\r\n\r\n`);
const STATUS_OK = Buffer.from('HTTP/1.1 200 ');

let requests = 0;
let errors = 0;
let resumed = 0;
let protocol = '';
let cipher = '';
let group = '';
let running = true;
let loops = concurrency;
const started = performance.now();
const cpu0 = process.cpuUsage();

function loop(session: Buffer | undefined): void {
  if (!running) {
    if (--loops === 0) done();
    return;
  }
  let ticket: Buffer | undefined = session;
  let ok = false;
  let seen = 0;
  let failed = false;
  const s: TLSSocket = connect({
    host: v.host,
    port,
    servername: v.servername,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
    ...(v.groups === 'default' ? {} : { ecdhCurve: v.groups }),
    ...(v.resume && session !== undefined ? { session } : {}),
  });
  s.setNoDelay(true);
  s.on('secureConnect', () => {
    if (s.isSessionReused()) resumed++;
    if (protocol === '') {
      protocol = s.getProtocol() ?? '?';
      cipher = s.getCipher().name;
      group = (s.getEphemeralKeyInfo() as { name?: string } | null)?.name ?? '?';
    }
    s.write(request);
  });
  if (v.resume) s.on('session', (t: Buffer) => (ticket = t));
  s.on('data', (chunk: Buffer) => {
    // the status line is in the first bytes of the first record
    if (seen < STATUS_OK.length) {
      const n = Math.min(STATUS_OK.length - seen, chunk.length);
      if (chunk.subarray(0, n).equals(STATUS_OK.subarray(seen, seen + n))) seen += n;
      else failed = true;
      if (seen === STATUS_OK.length && !failed) ok = true;
    }
  });
  s.on('error', () => {
    failed = true;
  });
  s.on('close', () => {
    if (ok && !failed) requests++;
    else errors++;
    loop(ticket);
  });
}

function done(): void {
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // the client's own CPU time: with the servers on the same cpu, is the load side the bottleneck?
  const clientCpuS = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`${JSON.stringify({ requests, errors, seconds, resumed, protocol, cipher, group, clientCpuS })}\n`);
  process.exit(0);
}

setTimeout(() => {
  running = false;
}, durationMs);
for (let i = 0; i < concurrency; i++) loop(undefined);

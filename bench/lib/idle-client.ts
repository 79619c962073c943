// Opens N client connections to a proxy and keeps them idle, for S6 (memory per idle client
// connection). tcp: connected, nothing sent. http: one GET / answered, then kept alive.
// usage: node idle-client.ts --port P --count N --mode tcp|http [--host H] [--concurrency C]
// Prints {"ready":n,"failed":f,"ms":t} on stdout once every connection is up (or failed), then
// holds them until SIGTERM; prints {"closedLater":k} on exit if the proxy closed some meanwhile.
import { createConnection, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    count: { type: 'string' },
    mode: { type: 'string', default: 'tcp' },
    concurrency: { type: 'string', default: '200' },
  },
});
const host = values.host;
const port = Number(values.port);
const count = Number(values.count);
const http = values.mode === 'http';
const concurrency = Number(values.concurrency);
if (!(port > 0) || !(count > 0) || !(concurrency > 0)) {
  process.stderr.write('usage: idle-client.ts --port P --count N --mode tcp|http\n');
  process.exit(2);
}

const REQUEST = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`, 'latin1');
const sockets: Socket[] = [];
const started = Date.now();
let opening = 0;
let launched = 0;
let ready = 0;
let failed = 0;
let closedLater = 0;
let reported = false;

function openOne(): void {
  launched++;
  opening++;
  let done = false;
  let received = '';
  const s = createConnection({ host, port });
  sockets.push(s);
  const settle = (ok: boolean): void => {
    if (done) return;
    done = true;
    opening--;
    if (ok) ready++;
    else failed++;
    pump();
  };
  s.on('connect', () => {
    if (http) s.write(REQUEST);
    else settle(true);
  });
  s.on('data', (chunk: Buffer) => {
    if (done) return;
    received += chunk.toString('latin1');
    const end = received.indexOf('\r\n\r\n');
    if (end < 0) return;
    const m = /\r\ncontent-length:\s*([0-9]+)/i.exec(received.slice(0, end));
    const want = Number(m?.[1] ?? 0);
    if (received.length - end - 4 >= want) {
      settle(received.startsWith('HTTP/1.1 200'));
      received = '';
    }
  });
  s.on('error', () => {});
  s.on('close', () => {
    if (done) closedLater++;
    else settle(false);
  });
}

function pump(): void {
  while (opening < concurrency && launched < count) openOne();
  if (!reported && ready + failed === count) {
    reported = true;
    process.stdout.write(`${JSON.stringify({ ready, failed, ms: Date.now() - started })}\n`);
  }
}

process.on('SIGTERM', () => {
  process.stdout.write(`${JSON.stringify({ closedLater })}\n`);
  for (const s of sockets) s.destroy();
  process.exit(0);
});
// Bounded: report whatever is up after 60 s and stay until told to stop (at most 10 minutes).
setTimeout(() => {
  if (!reported) {
    reported = true;
    process.stdout.write(`${JSON.stringify({ ready, failed: count - ready, ms: Date.now() - started })}\n`);
  }
}, 60_000).unref();
setTimeout(() => process.exit(0), 600_000);
pump();

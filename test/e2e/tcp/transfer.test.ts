// tcp full proxy: byte-identical transfers both ways, server-speaks-first, half-close.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { echoBackend, tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, hashUntilEnd, patternBuffer, sha256 } from '../../helpers/clients.ts';

let echo: Backend;
let sink: Backend;
let source: Backend;
let banner: Backend;
let proxy: RunningProxy;
const sinkHashes: Promise<{ hash: string; bytes: number }>[] = [];
const BIG = 100 * 1024 * 1024;
const BIG_DATA = patternBuffer(BIG, 7);

before(async () => {
  echo = await echoBackend();
  // sink: hashes what it receives, answers the hash after the client's FIN (half-close)
  sink = await tcpBackend((s) => {
    const p = hashUntilEnd(s);
    sinkHashes.push(p);
    void p.then((r) => s.end(`${r.hash} ${r.bytes}`));
  });
  // source: streams 100 MiB at once, then FIN; the client never writes (server speaks first)
  source = await tcpBackend((s) => s.end(BIG_DATA));
  banner = await tcpBackend((s) => {
    s.write('220 banner\r\n');
    s.on('data', (d) => s.end(`got ${d.toString()}`));
  });
  const pool = (name: string, b: Backend) => ({ name, servers: [{ address: b.address }] });
  const listener = (name: string) => ({ name, listen: '127.0.0.1:0', protocol: 'tcp', pool: name });
  proxy = await startProxy({
    logging: { level: 'warn' },
    listeners: ['echo', 'sink', 'source', 'banner'].map(listener),
    pools: [pool('echo', echo), pool('sink', sink), pool('source', source), pool('banner', banner)],
  });
});

after(async () => {
  await proxy.stop();
  await Promise.all([echo, sink, source, banner].map((b) => b.close()));
});

test('1 MiB echoed through the proxy arrives byte-identical', async () => {
  const data = patternBuffer(1024 * 1024, 3);
  const s = await dial(proxy.addr('echo').port);
  const got = hashUntilEnd(s);
  s.end(data);
  const r = await got;
  assert.equal(r.bytes, data.length);
  assert.equal(r.hash, sha256(data));
});

test('100 MiB client → server arrives byte-identical, and the reply comes back after half-close', async () => {
  const s = await dial(proxy.addr('sink').port);
  const reply: Buffer[] = [];
  s.on('data', (d: Buffer) => reply.push(d));
  const ended = new Promise((r) => s.once('end', r));
  s.end(BIG_DATA); // FIN after the data: the server side must see it and still answer
  await ended;
  assert.equal(Buffer.concat(reply).toString(), `${sha256(BIG_DATA)} ${BIG}`);
});

test('100 MiB server → client (server speaks first) arrives byte-identical', async () => {
  const s = await dial(proxy.addr('source').port);
  const r = await hashUntilEnd(s);
  assert.equal(r.bytes, BIG);
  assert.equal(r.hash, createHash('sha256').update(BIG_DATA).digest('hex'));
});

test('a server that speaks first: its banner reaches the client before the client writes', async () => {
  const s: Socket = await dial(proxy.addr('banner').port);
  const first = await new Promise<string>((r) => s.once('data', (d: Buffer) => r(d.toString())));
  assert.equal(first, '220 banner\r\n');
  const rest = hashUntilEndText(s);
  s.write('hello');
  assert.equal(await rest, 'got hello');
});

test('half-close server → client: the server FINs first, the client can still send', async () => {
  // the echo backend ends only after the client ends; use the sink in reverse: the client FINs first
  // and keeps reading (covered above). Here: the server FINs first while the client still writes.
  const received: Promise<number>[] = [];
  const halfServer = await tcpBackend((s) => {
    s.end('bye\n'); // FIN first
    received.push(
      new Promise((resolve) => {
        let n = 0;
        s.on('data', (d: Buffer) => (n += d.length));
        s.on('end', () => resolve(n));
      }),
    );
  });
  const p = await startProxy({ logging: { level: 'warn' }, listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'h' }], pools: [{ name: 'h', servers: [{ address: halfServer.address }] }] });
  try {
    const s = await dial(p.addr('h').port);
    const text = await hashUntilEndText(s); // we got the server's FIN
    assert.equal(text, 'bye\n');
    s.end('12345'); // our direction is still open
    assert.equal(await received[0], 5);
  } finally {
    await p.stop();
    await halfServer.close();
  }
});

function hashUntilEndText(s: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('end', () => resolve(Buffer.concat(chunks).toString()));
    s.once('error', reject);
  });
}

// direct-writes.ts on real loopback sockets: bytes written to the handle arrive in order with
// bytes written through the stream (corked, queued), bytesWritten counts them, a write that has
// to wait reports false, isFlushed() stays false until libuv is done and 'drain' follows, end()
// sends its FIN after waiting bytes, and a write to a reset peer destroys the socket with the
// error instead of throwing. TLS and pipe sockets always go through the stream. Under
// FULLPROXY_FAST_PATHS=off (fast-paths.ts) the same behaviour holds through the stream fallback;
// only the assertions about libuv internals are left out then.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { directWritesMode, isFlushed, send } from '../../../src/net/direct-writes.ts';
import { FAST_PATHS_OFF } from '../../../src/net/fast-paths.ts';
import { patternBuffer as pattern, socketPair } from '../../helpers/clients.ts';
import { waitEvent, waitFor } from '../../helpers/wait.ts';

const FORCED_OFF = FAST_PATHS_OFF ? 'FULLPROXY_FAST_PATHS=off forces the stream fallback' : false;

/**
 * A connected pair (`local` writes, `peer` reads); closed when the test ends, pass or fail. With
 * `writerAccepted` the writer is the accepted side and never starts reading (pauseOnConnect).
 */
async function pair(t: TestContext, writerAccepted = false): Promise<{ local: Socket; peer: Socket }> {
  const { accepted, client } = await socketPair(t, writerAccepted);
  return writerAccepted ? { local: accepted, peer: client } : { local: client, peer: accepted };
}

/** Everything `peer` receives until its FIN. */
async function readAll(peer: Socket): Promise<Buffer> {
  const got: Buffer[] = [];
  peer.on('data', (c: Buffer) => got.push(c));
  await once(peer, 'end');
  return Buffer.concat(got);
}

test('this Node lets writes skip the stream (a Node upgrade that loses it must be noticed)', { skip: FORCED_OFF }, () => {
  assert.equal(directWritesMode(), 'handle');
});

test('FULLPROXY_FAST_PATHS=off: every write goes through the stream', { skip: !FAST_PATHS_OFF && 'FULLPROXY_FAST_PATHS is not off' }, () => {
  assert.equal(directWritesMode(), 'stream');
});

/** Counts the socket.write() calls send() makes on `s` (the stream fallback). */
function countStreamWrites(s: Socket): { calls: number } {
  const count = { calls: 0 };
  const write = s.write;
  s.write = function (this: Socket, ...args: Parameters<Socket['write']>) {
    count.calls++;
    return write.apply(this, args);
  } as Socket['write'];
  return count;
}

test('a plain TCP socket skips the stream: send() never calls socket.write()', { skip: FORCED_OFF }, async (t) => {
  const { local, peer } = await pair(t);
  const received = readAll(peer);
  const writes = countStreamWrites(local);
  assert.equal(send(local, 'head'), true);
  assert.equal(send(local, Buffer.from('body')), true);
  assert.equal(writes.calls, 0);
  local.end();
  assert.equal((await received).toString(), 'headbody');
});

test('a pipe socket always goes through the stream, and its bytes arrive', async (t) => {
  const { accepted: peer, client: local } = await socketPair(t, false, join(tmpdir(), `fullproxy-direct-writes-${process.pid}.sock`));
  const received = readAll(peer);
  const writes = countStreamWrites(local);
  const big = pattern(300_000, 5);
  send(local, 'pipe:');
  send(local, big);
  assert.equal(writes.calls, 2, 'a pipe handle was written to directly');
  local.end();
  assert.deepEqual(await received, Buffer.concat([Buffer.from('pipe:'), big]));
});

test('a TLS socket always goes through the TLSSocket (its handle is a TLSWrap, never written to directly)', async (t) => {
  const { local } = await pair(t);
  // Client side of a TLS session over the plain pair: no certificate needed to start one.
  const secure = new TLSSocket(local);
  secure.on('error', () => {});
  t.after(() => secure.destroy());
  const writes = countStreamWrites(secure);
  send(secure, 'GET / HTTP/1.1\r\n\r\n');
  send(secure, Buffer.from('x'));
  assert.equal(writes.calls, 2, 'the TLS handle was written to directly');
});

test('buffers and latin1 strings arrive in order, bytesWritten counts them, small writes return true', async (t) => {
  const { local, peer } = await pair(t);
  const received = readAll(peer);
  const text = 'GET / HTTP/1.1\r\nx: \u00e9\u00ff\r\n\r\n'; // latin1: one byte per char, 0x80-0xff included
  const sent: Buffer[] = [];
  for (let i = 0; i < 50; i++) {
    const b = pattern(1 + i * 37, i);
    assert.equal(send(local, b), true);
    assert.equal(send(local, text), true);
    sent.push(b, Buffer.from(text, 'latin1'));
  }
  const all = Buffer.concat(sent);
  assert.equal(local.bytesWritten, all.length);
  assert.equal(isFlushed(local), true);
  local.end();
  assert.deepEqual(await received, all);
});

test('a write that has to wait returns false; isFlushed() stays false until libuv is done, then drain', async (t) => {
  const { local, peer } = await pair(t);
  peer.pause(); // the peer's receive buffer and ours fill up
  const sent: Buffer[] = [];
  let ok = true;
  for (let i = 0; ok && i < 1000; i++) {
    const b = pattern(64 * 1024, i);
    sent.push(b);
    ok = send(local, b);
  }
  assert.equal(ok, false, 'the socket never pushed back');
  if (!FAST_PATHS_OFF) assert.equal(local.writableLength, 0, 'the bytes wait in libuv, not in the stream');
  assert.equal(isFlushed(local), false);
  let drains = 0;
  local.on('drain', () => drains++);
  const received = readAll(peer);
  peer.resume();
  await waitEvent(local, 'drain', 2000); // a missing 'drain' must fail, not hang the suite
  assert.equal(isFlushed(local), true);
  // After the wait the socket takes direct writes again.
  const tail = pattern(10, 99);
  assert.equal(send(local, tail), true);
  sent.push(tail);
  local.end();
  const all = Buffer.concat(sent);
  assert.deepEqual(await received, all);
  assert.equal(drains, 1);
  assert.equal(local.bytesWritten, all.length);
});

test('bytes held by the stream (corked, or queued behind a full socket) are never overtaken', async (t) => {
  const { local, peer } = await pair(t);
  const received = readAll(peer);
  local.cork();
  local.write('A');
  assert.equal(send(local, 'B'), true); // corked: goes through the stream, after A
  local.uncork();
  // Fill the kernel buffers through the stream so that it queues, then send() must queue behind it.
  peer.pause();
  const big = pattern(4 * 1024 * 1024, 7);
  local.write(big); // handed to libuv, which queues most of it
  local.write('X'); // held by the stream itself until the write before it completes
  assert.ok(local.writableLength > big.length, 'the stream did not queue');
  send(local, 'C');
  send(local, Buffer.from('D'));
  peer.resume();
  local.end();
  assert.deepEqual(await received, Buffer.concat([Buffer.from('AB'), big, Buffer.from('XCD')]));
});

test("end() after writes that wait: the peer gets every byte, then the FIN", async (t) => {
  const { local, peer } = await pair(t);
  peer.pause();
  const sent: Buffer[] = [];
  let ok = true;
  for (let i = 0; ok && i < 1000; i++) {
    const b = pattern(32 * 1024, i);
    sent.push(b);
    ok = send(local, b);
  }
  assert.equal(isFlushed(local), false, 'nothing waited');
  local.end();
  const received = readAll(peer);
  peer.resume();
  assert.deepEqual(await received, Buffer.concat(sent));
});

test('writing to a peer that reset: the socket is destroyed with the error, nothing throws', async (t) => {
  // The writer never started reading, so the write (not a read) is what meets the reset.
  const { local, peer } = await pair(t, true);
  const errors: string[] = [];
  local.on('error', (e: NodeJS.ErrnoException) => errors.push(`${e.syscall} ${e.code}`));
  let closed = false;
  local.on('close', () => (closed = true));
  peer.resetAndDestroy();
  await new Promise((r) => setTimeout(r, 50)); // the RST has arrived
  let writes = 0;
  for (; writes < 10 && !local.destroyed; writes++) send(local, pattern(1000, writes));
  await waitFor(() => closed, 2000, "'close'");
  assert.ok(writes >= 1);
  assert.ok(errors.length === 1 && /^write (EPIPE|ECONNRESET)$/.test(errors[0]!), `errors: ${errors.join(',')}`);
});

test('destroying a socket while its writes wait: no drain, no throw, and the next socket writes normally', async (t) => {
  const a = await pair(t);
  a.peer.pause();
  let ok = true;
  for (let i = 0; ok && i < 1000; i++) ok = send(a.local, pattern(64 * 1024, i));
  assert.equal(ok, false);
  let drained = false;
  a.local.on('drain', () => (drained = true));
  a.local.destroy();
  await once(a.local, 'close');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(drained, false);
  const b = await pair(t);
  const received = readAll(b.peer);
  assert.equal(send(b.local, 'after'), true);
  b.local.end();
  assert.equal((await received).toString(), 'after');
});

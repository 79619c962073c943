// client-reads.ts on real loopback sockets: accepted sockets switched to the user-buffer mode
// deliver every byte in order, as chunks the handler may keep; pause/resume, FIN ('end') and
// bytesRead behave as with 'data' events; null hands the reads back to the stream (pipe); bytes
// already in the stream (put back by a PROXY header reader) come first, through 'data'. TLS and
// pipe sockets stay on 'data' events. Under FULLPROXY_FAST_PATHS=off (fast-paths.ts) every socket
// does, and the same behaviour holds.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { clientReadsMode, deliverReads } from '../../../src/net/client-reads.ts';
import { FAST_PATHS_OFF } from '../../../src/net/fast-paths.ts';
import { patternBuffer as pattern, socketPair } from '../../helpers/clients.ts';

/** A paused accepted socket and the client connected to it. */
const pair = (t: TestContext) => socketPair(t, true);

const FORCED_OFF = FAST_PATHS_OFF ? 'FULLPROXY_FAST_PATHS=off forces the data-events fallback' : false;

test('this Node has the user-buffer mode (a Node upgrade that loses it must be noticed)', { skip: FORCED_OFF }, () => {
  assert.equal(clientReadsMode(), 'user-buffer');
});

test('FULLPROXY_FAST_PATHS=off: every socket reads through data events', { skip: !FAST_PATHS_OFF && 'FULLPROXY_FAST_PATHS is not off' }, () => {
  assert.equal(clientReadsMode(), 'data-events');
});

// In the user-buffer mode the reads bypass 'data' entirely; the fallback is one 'data' listener.
test('an accepted TCP socket leaves data events', { skip: FORCED_OFF }, async (t) => {
  const { accepted } = await pair(t);
  deliverReads(accepted, () => {});
  assert.equal(accepted.listenerCount('data'), 0);
});

test('an accepted pipe socket stays on data events, and every byte arrives', async (t) => {
  const { accepted: sock, client } = await socketPair(t, true, join(tmpdir(), `fullproxy-client-reads-${process.pid}.sock`));
  const got: Buffer[] = [];
  deliverReads(sock, (chunk) => got.push(chunk));
  assert.equal(sock.listenerCount('data'), 1, 'a pipe handle was switched to user buffers');
  sock.resume();
  const big = pattern(300_000, 11);
  client.end(big);
  await once(sock, 'end');
  assert.deepEqual(Buffer.concat(got), big);
});

test('a TLS socket stays on data events (its handle is a TLSWrap)', async (t) => {
  const { client } = await pair(t);
  const secure = new TLSSocket(client);
  secure.on('error', () => {});
  t.after(() => secure.destroy());
  deliverReads(secure, () => {});
  assert.equal(secure.listenerCount('data'), 1, 'a TLS handle was switched to user buffers');
});

test('every byte arrives in order; chunks kept by the handler never change afterwards', async (t) => {
  const { accepted, client } = await pair(t);
  const kept: Array<[Buffer, string]> = [];
  deliverReads(accepted, function (chunk) {
    assert.equal(this, accepted);
    kept.push([chunk, chunk.toString('hex')]);
  });
  accepted.resume();
  const sent: Buffer[] = [];
  for (const size of [1, 100, 4000, 70_000, 3, 200_000, 17]) {
    const b = pattern(size, size);
    sent.push(b);
    client.write(b);
    await new Promise((r) => setTimeout(r, 5)); // separate reads, so later ones reuse the scratch buffer
  }
  client.end();
  await once(accepted, 'end');
  const all = Buffer.concat(sent);
  assert.ok(kept.length >= 7, `reads: ${kept.length}`);
  assert.deepEqual(Buffer.concat(kept.map(([c]) => c)), all);
  for (const [chunk, hex] of kept) assert.equal(chunk.toString('hex'), hex, 'a chunk changed after a later read');
  assert.equal(accepted.bytesRead, all.length);
});

test('pause() in the handler stops delivery until resume(); nothing is lost', async (t) => {
  const { accepted, client } = await pair(t);
  const got: Buffer[] = [];
  let whilePaused = 0;
  let paused = false;
  deliverReads(accepted, function (chunk) {
    if (paused) whilePaused++;
    got.push(chunk);
    if (got.length === 1) {
      paused = true;
      this.pause();
    }
  });
  accepted.resume();
  client.write('first');
  await new Promise((r) => setTimeout(r, 20));
  client.write('second');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(got.length, 1, 'no read while paused');
  paused = false;
  accepted.resume();
  client.end('third');
  await once(accepted, 'end');
  assert.equal(whilePaused, 0);
  assert.equal(Buffer.concat(got).toString(), 'firstsecondthird');
});

test('null hands the reads back to the stream: pipe gets everything that follows', async (t) => {
  const { accepted, client } = await pair(t);
  const before: Buffer[] = [];
  deliverReads(accepted, (chunk) => before.push(chunk));
  accepted.resume();
  client.write('handled');
  while (before.length === 0) await new Promise((r) => setTimeout(r, 5));
  deliverReads(accepted, null);
  const piped: Buffer[] = [];
  accepted.on('data', (c: Buffer) => piped.push(c));
  const big = pattern(300_000, 7);
  client.end(big);
  await once(accepted, 'end');
  assert.equal(Buffer.concat(before).toString(), 'handled');
  assert.deepEqual(Buffer.concat(piped), big);
});

test('null, then a pipe into a slow destination: backpressure stops and restarts reads, nothing is lost', async (t) => {
  const { accepted, client } = await pair(t);
  deliverReads(accepted, null);
  const got: Buffer[] = [];
  const slow = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, done) {
      got.push(chunk);
      setTimeout(done, 1);
    },
  });
  accepted.pipe(slow);
  const big = pattern(2 * 1024 * 1024, 3);
  client.end(big);
  await once(slow, 'finish');
  assert.deepEqual(Buffer.concat(got), big);
});

test('bytes put back into the stream come first: such a socket stays on data events', async (t) => {
  const { accepted, client } = await pair(t);
  accepted.unshift(Buffer.from('put-back:'));
  const got: Buffer[] = [];
  deliverReads(accepted, (chunk) => got.push(chunk));
  accepted.resume();
  client.end('rest');
  await once(accepted, 'end');
  assert.equal(Buffer.concat(got).toString(), 'put-back:rest');
});

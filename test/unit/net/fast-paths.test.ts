// The FULLPROXY_FAST_PATHS switch (src/net/fast-paths.ts) is read once when the modules load, so
// each case runs in a child Node with its own environment: there both fast paths report their
// fallback, and bytes still flow both ways over a loopback pair (reads through deliverReads(),
// writes through send(), buffers and latin1 strings), taking the fallback for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const SRC = resolve(import.meta.dirname, '../../../src/net');
const CLIENT_READS = pathToFileURL(resolve(SRC, 'client-reads.ts')).href;
const DIRECT_WRITES = pathToFileURL(resolve(SRC, 'direct-writes.ts')).href;

/** What the child reports: the modes, which paths it saw used, and whether the bytes came through intact. */
interface ChildReport {
  clientReads: string;
  directWrites: string;
  dataListeners: number;
  streamWrites: number;
  upIntact: boolean;
  downIntact: boolean;
}

// Plain JavaScript (the child imports the .ts modules; no types to strip in -e code).
const CHILD = `
import { createServer, connect } from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { clientReadsMode, deliverReads } from ${JSON.stringify(CLIENT_READS)};
import { directWritesMode, send } from ${JSON.stringify(DIRECT_WRITES)};

const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const accepting = once(server, 'connection');
const client = connect(server.address().port, '127.0.0.1');
await once(client, 'connect');
const [accepted] = await accepting;

// Client → accepted: reads through deliverReads().
const up = randomBytes(300000);
const got = [];
let gotBytes = 0;
const { promise: allUp, resolve: upDone } = Promise.withResolvers();
deliverReads(accepted, (chunk) => {
  got.push(chunk);
  if ((gotBytes += chunk.length) >= up.length) upDone();
});
const dataListeners = accepted.listenerCount('data');
accepted.resume();
client.write(up);
await allUp; // bounded by the parent's timeout

// Accepted → client: writes through send(), counting the ones that took socket.write().
let streamWrites = 0;
const write = accepted.write;
accepted.write = function (...args) { streamWrites++; return write.apply(this, args); };
const down = [];
client.on('data', (c) => down.push(c));
const ended = once(client, 'end');
const head = 'HTTP/1.1 200 OK\\r\\nx: \\u00e9\\u00ff\\r\\n\\r\\n';
const body = randomBytes(500000);
send(accepted, head);
send(accepted, body);
accepted.end();
await ended;
const expected = Buffer.concat([Buffer.from(head, 'latin1'), body]);
process.stdout.write(JSON.stringify({
  clientReads: clientReadsMode(),
  directWrites: directWritesMode(),
  dataListeners,
  streamWrites,
  upIntact: Buffer.concat(got).equals(up),
  downIntact: Buffer.concat(down).equals(expected),
}));
client.destroy();
server.close();
`;

/** Runs the child with FULLPROXY_FAST_PATHS set to `value` (undefined: unset). */
function runChild(value: string | undefined): Promise<ChildReport> {
  const env = { ...process.env };
  delete env['FULLPROXY_FAST_PATHS'];
  if (value !== undefined) env['FULLPROXY_FAST_PATHS'] = value;
  return new Promise((resolvePromise, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', CHILD], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err !== null) return reject(new Error(`child failed: ${err.message}\n${stderr}`));
      resolvePromise(JSON.parse(stdout) as ChildReport);
    });
  });
}

for (const value of ['off', 'OFF']) {
  test(`FULLPROXY_FAST_PATHS=${value}: both fast paths report their fallback, and bytes flow both ways through it`, async () => {
    const r = await runChild(value);
    assert.equal(r.clientReads, 'data-events');
    assert.equal(r.directWrites, 'stream');
    assert.equal(r.dataListeners, 1, 'reads did not come through a data listener');
    assert.equal(r.streamWrites, 2, 'send() did not go through socket.write()');
    assert.equal(r.upIntact, true, 'client → accepted bytes differ');
    assert.equal(r.downIntact, true, 'accepted → client bytes differ');
  });
}

test('FULLPROXY_FAST_PATHS unset: the fast paths are used (on this Node), and bytes flow both ways', async () => {
  const r = await runChild(undefined);
  assert.equal(r.clientReads, 'user-buffer');
  assert.equal(r.directWrites, 'handle');
  assert.equal(r.dataListeners, 0);
  assert.equal(r.streamWrites, 0);
  assert.equal(r.upIntact, true, 'client → accepted bytes differ');
  assert.equal(r.downIntact, true, 'accepted → client bytes differ');
});

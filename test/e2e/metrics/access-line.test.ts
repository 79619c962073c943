// The http access line (issue 18 §9): connect time (-1 when a kept-alive server connection was
// reused), the server's time to first byte, the total, and the request's bytes in and out — the
// same timings the latency histograms get (docs/metrics.md#access-log).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend, refusedPort, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

const SLOW_MS = 150;
const BODY = 10_000;

let b: Backend;
let p: RunningProxy;
let dead = '';

before(async () => {
  b = await httpBackend('b', (req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.end('x'.repeat(BODY)), req.url === '/slow' ? SLOW_MS : 0));
  });
  dead = `127.0.0.1:${await refusedPort()}`;
  p = await startProxy({
    logging: { level: 'info', access: true },
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' },
      { name: 'dead', listen: '127.0.0.1:0', protocol: 'http', pool: 'refused' },
    ],
    pools: [
      { name: 'app', servers: [{ address: b.address }] },
      { name: 'refused', retries: 0, servers: [{ address: dead }] },
    ],
  });
});

after(async () => {
  await p.stop();
  await b.close();
});

test('two requests on one connection: timings, reuse and exact bytes in their access lines', async () => {
  const c = await RawClient.open(p.addr('web').port);
  const first = 'GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n';
  const second = 'POST /fast HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello';
  c.write(first);
  const r1 = await c.response();
  const out1 = c.socket.bytesRead;
  c.write(second);
  const r2 = await c.response();
  const out2 = c.socket.bytesRead - out1;
  assert.equal(r1.status, 200);
  assert.equal(r2.status, 200);
  await waitFor(() => p.logs.find('request').length === 2, 5_000, 'two access lines');
  const [l1, l2] = p.logs.find('request') as Array<Record<string, number | string | null>>;

  // A new server connection for the first request, the kept-alive one for the second.
  assert.equal(typeof l1!['connectMs'], 'number');
  assert.ok((l1!['connectMs'] as number) >= 0, `connectMs ${l1!['connectMs']}`);
  assert.equal(l2!['connectMs'], -1, 'reused: no connect');

  const ttfb1 = l1!['firstByteMs'] as number;
  const total1 = l1!['durationMs'] as number;
  assert.ok(ttfb1 >= SLOW_MS - 5, `firstByteMs ${ttfb1}: the server waited ${SLOW_MS} ms`);
  assert.ok(total1 >= ttfb1, `durationMs ${total1} ≥ firstByteMs ${ttfb1}`);
  assert.ok((l2!['firstByteMs'] as number) < SLOW_MS, 'the second one was fast');

  // Bytes of each request as the client socket moved them: its exact request, its whole response.
  assert.equal(l1!['bytesIn'], first.length);
  assert.equal(l2!['bytesIn'], second.length);
  assert.equal(l1!['bytesOut'], out1);
  assert.equal(l2!['bytesOut'], out2);
  assert.ok((l1!['bytesOut'] as number) > BODY);
  c.destroy();
});

test('no server connection (refused, 502): connectMs and firstByteMs are null, durationMs is there', async () => {
  const c = await RawClient.open(p.addr('dead').port);
  c.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  const r = await c.response();
  assert.equal(r.status, 502);
  c.destroy();
  await waitFor(() => p.logs.find('request').some((l) => l['server'] === dead), 5_000, 'the 502 access line');
  const l = p.logs.find('request').find((x) => x['server'] === dead)!;
  assert.equal(l['status'], 502);
  assert.equal(l['connectMs'], null);
  assert.equal(l['firstByteMs'], null);
  assert.equal(typeof l['durationMs'], 'number');
});

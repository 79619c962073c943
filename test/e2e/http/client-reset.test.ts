// How an http session ends when the client goes (docs/errors.md): a reset (RST, ECONNRESET on
// our side) is `client-reset`, as in tcp mode; a FIN is `client-close`. Between requests, in the
// middle of a head, with a request in flight (its server connection is given up), and in an
// Upgrade tunnel (the server is reset too).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { httpBackend, tcpBackend, type Backend } from '../../helpers/backends.ts';
import { outcome } from '../../helpers/clients.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

let web: Backend;
/** Takes requests and never answers them; says how each of its connections ended. */
let holding: Backend;
const heldEnds: Array<Promise<{ how: string }>> = [];
/** Answers an Upgrade request with a matching 101, then echoes; says how each connection ended. */
let upgrading: Backend;
const tunnelEnds: Array<Promise<{ how: string }>> = [];
let p: RunningProxy;

before(async () => {
  web = await httpBackend('web');
  holding = await tcpBackend((s: Socket) => {
    heldEnds.push(outcome(s));
    s.resume();
  });
  upgrading = await tcpBackend((s: Socket) => {
    tunnelEnds.push(outcome(s));
    s.once('data', () => {
      s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
      s.on('data', (d: Buffer) => s.write(d));
    });
  });
  p = await startProxy({
    logging: { level: 'info', access: true },
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'web' },
      { name: 'held', listen: '127.0.0.1:0', protocol: 'http', pool: 'held' },
      { name: 'ws', listen: '127.0.0.1:0', protocol: 'http', pool: 'ws' },
    ],
    pools: [
      { name: 'web', servers: [{ address: web.address }] },
      { name: 'held', timeouts: { response: '30s' }, servers: [{ address: holding.address }] },
      { name: 'ws', servers: [{ address: upgrading.address }] },
    ],
  });
});

after(async () => {
  await p.stop();
  await web.close();
  await holding.close();
  await upgrading.close();
});

/** The `session end` line of the session whose client port is `port`. */
async function endOf(port: number): Promise<Record<string, unknown>> {
  const mine = (): Record<string, unknown> | undefined => p.logs.find('session end').find((l) => l['client'] === `127.0.0.1:${port}`);
  await waitFor(() => mine() !== undefined, 3_000, `the session end line of client port ${port}`);
  return mine()!;
}

async function servedOnce(listener: string): Promise<RawClient> {
  const c = await RawClient.open(p.addr(listener).port);
  c.write('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n');
  assert.equal((await c.response()).status, 200);
  return c;
}

test('a kept-alive connection the client resets between requests ends client-reset', async () => {
  const c = await servedOnce('web');
  const port = c.socket.localPort!;
  c.socket.resetAndDestroy();
  const end = await endOf(port);
  assert.equal(end['reason'], 'client-reset');
  assert.equal(end['requests'], 1);
});

test('a kept-alive connection the client closes (FIN) ends client-close', async () => {
  const c = await servedOnce('web');
  const port = c.socket.localPort!;
  c.socket.end();
  await c.waitClosed();
  assert.equal((await endOf(port))['reason'], 'client-close');
});

test('a client that resets in the middle of a request head ends client-reset (no answer, no request)', async () => {
  const c = await RawClient.open(p.addr('web').port);
  const port = c.socket.localPort!;
  const lines = p.logs.find('request').length;
  c.write('GET / HTTP/1.1\r\nHost: a.te');
  await new Promise((r) => setTimeout(r, 50));
  c.socket.resetAndDestroy();
  const end = await endOf(port);
  assert.equal(end['reason'], 'client-reset');
  assert.equal(end['requests'], 0);
  assert.equal(p.logs.find('request').length, lines, 'a head the client abandoned is no request');
});

test('a client that resets with a request in flight ends client-reset; the server connection is given up', async () => {
  const c = await RawClient.open(p.addr('held').port);
  const port = c.socket.localPort!;
  const n = heldEnds.length;
  c.write('GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n');
  await waitFor(() => heldEnds.length === n + 1, 3_000, 'the request at the server');
  c.socket.resetAndDestroy();
  assert.equal((await endOf(port))['reason'], 'client-reset');
  const server = await heldEnds[n]!;
  assert.ok(server.how === 'end' || server.how === 'reset', `the server connection ended (${server.how})`);
});

test('a client that resets an Upgrade tunnel ends client-reset, and the server is reset too', async () => {
  const c = await RawClient.open(p.addr('ws').port);
  const port = c.socket.localPort!;
  const n = tunnelEnds.length;
  c.write('GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal((await c.response()).status, 101);
  c.socket.resetAndDestroy();
  assert.equal((await endOf(port))['reason'], 'client-reset');
  assert.equal((await tunnelEnds[n]!).how, 'reset');
});

test('a tunnel the client closes with a FIN ends client-close', async () => {
  const c = await RawClient.open(p.addr('ws').port);
  const port = c.socket.localPort!;
  c.write('GET /ws HTTP/1.1\r\nHost: a.test\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal((await c.response()).status, 101);
  c.socket.end();
  await c.waitClosed();
  assert.equal((await endOf(port))['reason'], 'client-close');
});

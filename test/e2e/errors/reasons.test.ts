// Every http failure reason of src/errors.ts (docs/errors.md), produced through a real proxy by
// what causes it in the field: the client gets its status and `x-fullproxy-reason`, and the
// `request` access line says the same (and, for a head refused as it arrived, the `session end`
// line ends the session as the client's error). The last test fails when a reason has no test here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { httpBackend, refusedPort, tcpBackend } from '../../helpers/backends.ts';
import { blackholePort } from '../../helpers/blackhole.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient, rawRequest, type HttpResponse } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { HTTP_FAILURES, type Failure } from '../../../src/errors.ts';

/** The statuses docs/errors.md promises, written out: the test pins the contract, not the table. */
const STATUS: Record<Failure, number> = {
  'bad-request': 400,
  'header-too-large': 431,
  'request-timeout': 408,
  'no-server': 503,
  'queue-timeout': 503,
  'source-exhausted': 503,
  'connect-failed': 502,
  'server-reset': 502,
  'bad-response': 502,
  'connect-timeout': 504,
  'response-timeout': 504,
};

/** Reasons produced and checked so far (added only once every check of a test passed). */
const covered = new Set<string>();

const GET = 'GET /x HTTP/1.1\r\nHost: f.test\r\n\r\n';

function proxy(pool: Record<string, unknown>, listener: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Promise<RunningProxy> {
  return startProxy({
    logging: { level: 'info', access: true },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', ...listener }],
    pools: [{ name: 'p', ...pool }],
    ...top,
  });
}

/** The client got the failure's status, header and body; the access line says the same. */
async function expectFailure(p: RunningProxy, r: HttpResponse, reason: Failure, logged: 'request' | 'session end' = 'request'): Promise<void> {
  assert.equal(r.status, STATUS[reason], `status for ${reason}: ${r.status} ${r.body.toString()}`);
  assert.equal(r.header('x-fullproxy-reason'), reason);
  assert.match(r.body.toString(), new RegExp(`^${STATUS[reason]} .*: ${reason}\\n$`));
  await waitFor(() => p.logs.find('request').length > 0, 3_000, 'a request access line');
  const line = p.logs.find('request').at(-1)!;
  assert.equal(line['status'], STATUS[reason]);
  assert.equal(line['reason'], reason);
  if (logged === 'session end') {
    // Refused as it arrived: a request line with nothing of its bytes, and the session ends as
    // the client's error.
    assert.equal(line['method'], null);
    assert.equal(line['url'], null);
    await waitFor(() => p.logs.find('session end').length > 0, 3_000, 'a session end line');
    assert.equal(p.logs.find('session end').at(-1)!['reason'], 'client-error');
  }
  covered.add(reason);
}

/** A server that takes each connection and answers nothing until released. */
async function holdingServer(): Promise<{ address: string; held: () => number; close: () => Promise<void> }> {
  const b = await tcpBackend((s) => s.resume());
  return { address: b.address, held: () => b.sockets.size, close: () => b.close() };
}

test('bad-request: a malformed request line → 400', async () => {
  const b = await httpBackend('a');
  const p = await proxy({ servers: [{ address: b.address }] });
  try {
    await expectFailure(p, await rawRequest(p.addr('h').port, 'NOT A REQUEST\r\n\r\n'), 'bad-request', 'session end');
    assert.equal(b.accepted, 0, 'nothing reached the server');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('header-too-large: a head over limits.maxHeaderBytes → 431', async () => {
  const b = await httpBackend('a');
  const p = await proxy({ servers: [{ address: b.address }] }, { limits: { maxHeaderBytes: 1024 } });
  try {
    const r = await rawRequest(p.addr('h').port, `GET / HTTP/1.1\r\nHost: f.test\r\nx-big: ${'a'.repeat(2000)}\r\n\r\n`);
    await expectFailure(p, r, 'header-too-large', 'session end');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('request-timeout: a request body that stalls past timeouts.requestBody → 408', async () => {
  // The server answers only once it has the whole body, which never comes.
  const b = await httpBackend('a', (req, res) => {
    req.resume();
    req.on('end', () => res.end('got it\n'));
  });
  const p = await proxy({ servers: [{ address: b.address }] }, { timeouts: { requestBody: '300ms' } });
  try {
    const c = await RawClient.open(p.addr('h').port);
    try {
      c.write('POST /upload HTTP/1.1\r\nHost: f.test\r\nContent-Length: 100\r\n\r\n0123456789');
      await expectFailure(p, await c.response({ timeoutMs: 5_000 }), 'request-timeout');
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

test('no-server: every server of the pool drained → 503', async () => {
  const b = await httpBackend('a');
  const p = await proxy({ servers: [{ address: b.address }] });
  try {
    const pool = p.proxy.pools.get('p')!;
    pool.setAdmin(pool.servers[0]!, 'drain');
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'no-server');
    assert.equal(b.accepted, 0);
  } finally {
    await p.stop();
    await b.close();
  }
});

test('queue-timeout: the server at maxConnections 1 past timeouts.queue → 503', async () => {
  const s = await holdingServer();
  const p = await proxy({ servers: [{ address: s.address, maxConnections: 1 }], timeouts: { queue: '300ms', response: '10s' } });
  const first = await RawClient.open(p.addr('h').port);
  try {
    first.write(GET); // takes the only connection, and the server never answers it
    await waitFor(() => s.held() === 1, 3_000, 'the first request at the server');
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'queue-timeout');
    assert.equal(s.held(), 1, 'the second request never reached the server');
  } finally {
    first.destroy();
    await p.stop();
    await s.close();
  }
});

test('source-exhausted: a pool with one source port, already in use → 503', async () => {
  const s = await holdingServer();
  const port = 20_000 + Math.floor(Math.random() * 10_000); // below the kernel's ephemeral range
  const p = await proxy({ servers: [{ address: s.address }], timeouts: { response: '10s' }, source: { addresses: ['127.0.0.2'], portRange: [port, port], onExhausted: 'reject' } });
  const first = await RawClient.open(p.addr('h').port);
  try {
    first.write(GET); // holds the one source port: its server connection stays busy
    await waitFor(() => s.held() === 1, 3_000, 'the first request at the server');
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'source-exhausted');
  } finally {
    first.destroy();
    await p.stop();
    await s.close();
  }
});

test('connect-failed: the only server refuses → 502', async () => {
  const dead = await refusedPort();
  const p = await proxy({ retries: 0, servers: [{ address: `127.0.0.1:${dead}` }] });
  try {
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'connect-failed');
  } finally {
    await p.stop();
  }
});

test('server-reset: the server closes the connection before answering → 502', async () => {
  const b = await tcpBackend((sock: Socket) => sock.once('data', () => sock.destroy()));
  const p = await proxy({ retries: 0, servers: [{ address: b.address }] });
  try {
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'server-reset');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('bad-response: the server answers garbage → 502', async () => {
  const b = await tcpBackend((sock: Socket) => sock.once('data', () => sock.write('this is not HTTP\r\n\r\n')));
  const p = await proxy({ servers: [{ address: b.address }] });
  try {
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'bad-response');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('connect-timeout: the server never accepts (blackhole) within timeouts.connect → 504', async () => {
  const hole = await blackholePort();
  const p = await proxy({ retries: 0, timeouts: { connect: '300ms' }, servers: [{ address: `127.0.0.1:${hole.port}` }] });
  try {
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'connect-timeout');
  } finally {
    await p.stop();
    await hole.close();
  }
});

test('response-timeout: the server takes the request and never answers → 504', async () => {
  const s = await holdingServer();
  const p = await proxy({ timeouts: { response: '300ms' }, servers: [{ address: s.address }] });
  try {
    await expectFailure(p, await rawRequest(p.addr('h').port, GET), 'response-timeout');
  } finally {
    await p.stop();
    await s.close();
  }
});

test('every http failure reason of src/errors.ts was produced above', () => {
  assert.deepEqual([...covered].sort(), [...HTTP_FAILURES].sort());
});

// Every session end reason of src/errors.ts (docs/errors.md), produced by a tcp session through a
// real proxy: the `session end` access line carries the reason, and the client sees the close the
// docs promise (FIN: 'end', RST: 'reset'). The last test fails when a reason has no test here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { echoBackend, refusedPort, tcpBackend, type Backend } from '../../helpers/backends.ts';
import { blackholePort } from '../../helpers/blackhole.ts';
import { makePki } from '../../helpers/certs.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { waitFor } from '../../helpers/wait.ts';
import { END_REASONS, type EndReason } from '../../../src/errors.ts';

/** Reasons produced and checked so far (added only once every check of a test passed). */
const covered = new Set<string>();

function proxy(pool: Record<string, unknown>, listener: Record<string, unknown> = {}, top: Record<string, unknown> = {}): Promise<RunningProxy> {
  return startProxy({
    logging: { level: 'info', access: true },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', ...listener }],
    pools: [{ name: 'p', ...pool }],
    ...top,
  });
}

/** The client's connection ended as `how`, and one session ended with `reason` in its access line. */
async function expectEnd(p: RunningProxy, client: Promise<{ how: string }>, reason: EndReason, how: 'end' | 'reset'): Promise<void> {
  const seen = await client;
  await waitFor(() => p.logs.find('session end').some((l) => l['reason'] === reason), 3_000, `a session end line with reason ${reason}; got ${JSON.stringify(p.logs.find('session end').map((l) => l['reason']))}`);
  assert.equal(seen.how, how, `${reason}: the client saw ${seen.how}`);
  covered.add(reason);
}

/** How a new connection to the proxy ends: 'reset' too when the RST beat our connect() (ECONNRESET from dial). */
async function endOf(port: number): Promise<{ how: string }> {
  try {
    return await outcome(await dial(port));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') return { how: 'reset' };
    throw err;
  }
}

/** A session through the proxy, established: one byte went to the echo server and back. */
async function established(port: number): Promise<{ s: Socket; o: Promise<{ how: string; data: Buffer }> }> {
  const s = await dial(port);
  const first = new Promise((r) => s.once('data', r));
  const o = outcome(s);
  s.write('x');
  await first;
  return { s, o };
}

async function withEcho(run: (b: Backend) => Promise<void>): Promise<void> {
  const b = await echoBackend();
  try {
    await run(b);
  } finally {
    await b.close();
  }
}

test('client-close: the client ends first (FIN forwarded, the server ends too)', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] });
    try {
      const { s, o } = await established(p.addr('t').port);
      s.end();
      await expectEnd(p, o, 'client-close', 'end');
    } finally {
      await p.stop();
    }
  }));

test('server-close: the server ends first', async () => {
  const b = await tcpBackend((s) => s.end('bye'));
  const p = await proxy({ servers: [{ address: b.address }] });
  try {
    const s = await dial(p.addr('t').port);
    const o = outcome(s);
    await expectEnd(p, o, 'server-close', 'end');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('client-reset: the client resets its connection → the server connection is reset too', async () => {
  // An echo server that says how its connection ended.
  const ends: Array<Promise<{ how: string }>> = [];
  const b = await tcpBackend((sock) => {
    ends.push(outcome(sock));
    sock.on('data', (d: Buffer) => sock.write(d));
  });
  const p = await proxy({ servers: [{ address: b.address }] });
  try {
    const { s } = await established(p.addr('t').port);
    s.resetAndDestroy();
    await expectEnd(p, ends[0]!, 'client-reset', 'reset'); // here: what the server saw
  } finally {
    await p.stop();
    await b.close();
  }
});

test('server-reset: the server resets the connection → the client is reset', async () => {
  const b = await tcpBackend((s) => s.once('data', () => s.resetAndDestroy()));
  const p = await proxy({ servers: [{ address: b.address }] });
  try {
    const s = await dial(p.addr('t').port);
    const o = outcome(s);
    s.write('x');
    await expectEnd(p, o, 'server-reset', 'reset');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('client-error: with SNI routes, no ClientHello within timeouts.requestHeaders', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] }, { routes: [{ sni: 'a.test', pool: 'p' }], timeouts: { requestHeaders: '300ms' } });
    try {
      const s = await dial(p.addr('t').port);
      await expectEnd(p, outcome(s), 'client-error', 'end');
      assert.equal(b.accepted, 0, 'no server connection was made');
    } finally {
      await p.stop();
    }
  }));

test('server-error: a broken TLS record on a re-encrypted server connection (pools[].tls) → the client is reset', async () => {
  // A TLS server behind a relay that, once the proxy's first bytes arrived through TLS, writes
  // bytes that are no TLS record into the stream toward the proxy.
  const pki = makePki();
  const leaf = pki.leaf('server', ['127.0.0.1']);
  let relayed: Socket | null = null;
  const tlsServer = createTlsServer({ key: readFileSync(leaf.key), cert: readFileSync(leaf.cert) }, (t: TLSSocket) => {
    t.on('error', () => {});
    t.once('data', () => relayed?.write(Buffer.from('this is not a TLS record, not at all\r\n')));
  });
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r()));
  const relay = await tcpBackend((s) => {
    relayed = s;
    const up = connect((tlsServer.address() as { port: number }).port, '127.0.0.1');
    up.on('error', () => {});
    s.pipe(up).pipe(s);
    s.on('close', () => up.destroy());
  }, '127.0.0.1', false);
  const p = await proxy({ tls: { verify: false }, servers: [{ address: relay.address }] });
  try {
    const s = await dial(p.addr('t').port);
    const o = outcome(s);
    s.write('hello');
    await expectEnd(p, o, 'server-error', 'reset');
  } finally {
    await p.stop();
    await relay.close();
    await new Promise<void>((r) => tlsServer.close(() => r()));
  }
});

test('idle-reset: no byte for timeouts.clientIdle, idleReset on (tcp default) → RST', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] }, { timeouts: { clientIdle: '300ms' } });
    try {
      const { o } = await established(p.addr('t').port);
      await expectEnd(p, o, 'idle-reset', 'reset');
    } finally {
      await p.stop();
    }
  }));

test('idle-close: no byte for timeouts.clientIdle, idleReset off → FIN', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] }, { timeouts: { clientIdle: '300ms' }, idleReset: false });
    try {
      const { o } = await established(p.addr('t').port);
      await expectEnd(p, o, 'idle-close', 'end');
    } finally {
      await p.stop();
    }
  }));

test('connect-failed: the only server refuses → FIN', async () => {
  const dead = await refusedPort();
  const p = await proxy({ retries: 0, servers: [{ address: `127.0.0.1:${dead}` }] });
  try {
    await expectEnd(p, outcome(await dial(p.addr('t').port)), 'connect-failed', 'end');
  } finally {
    await p.stop();
  }
});

test('connect-timeout: the server never accepts (blackhole) within timeouts.connect → FIN', async () => {
  const hole = await blackholePort();
  const p = await proxy({ retries: 0, timeouts: { connect: '300ms' }, servers: [{ address: `127.0.0.1:${hole.port}` }] });
  try {
    await expectEnd(p, outcome(await dial(p.addr('t').port)), 'connect-timeout', 'end');
  } finally {
    await p.stop();
    await hole.close();
  }
});

test('no-server: every server drained → FIN', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] });
    try {
      const pool = p.proxy.pools.get('p')!;
      pool.setAdmin(pool.servers[0]!, 'drain');
      await expectEnd(p, outcome(await dial(p.addr('t').port)), 'no-server', 'end');
      assert.equal(b.accepted, 0);
    } finally {
      await p.stop();
    }
  }));

test('queue-timeout: the server at maxConnections 1 past timeouts.queue → FIN', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address, maxConnections: 1 }], timeouts: { queue: '300ms' } });
    try {
      const first = await established(p.addr('t').port);
      await expectEnd(p, outcome(await dial(p.addr('t').port)), 'queue-timeout', 'end');
      first.s.destroy();
    } finally {
      await p.stop();
    }
  }));

test('source-exhausted: a pool with one source port, already in use → RST at once', () =>
  withEcho(async (b) => {
    const port = 20_000 + Math.floor(Math.random() * 10_000); // below the kernel's ephemeral range
    const p = await proxy({ servers: [{ address: b.address }], source: { addresses: ['127.0.0.2'], portRange: [port, port], onExhausted: 'reject' } });
    try {
      const first = await established(p.addr('t').port);
      await expectEnd(p, endOf(p.addr('t').port), 'source-exhausted', 'reset');
      first.s.destroy();
    } finally {
      await p.stop();
    }
  }));

test('drain: a session still open when the drain timeout passes → RST', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] });
    try {
      const { o } = await established(p.addr('t').port);
      const drained = await p.proxy.drain(200);
      assert.equal(drained.reset, 1);
      await expectEnd(p, o, 'drain', 'reset');
    } finally {
      await p.stop();
    }
  }));

test('rejected: limits.maxSessions reached with onFull reset-oldest-idle → the oldest idle session is reset', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] }, {}, { limits: { maxSessions: 1, onFull: 'reset-oldest-idle' } });
    try {
      const old = await established(p.addr('t').port);
      const fresh = await established(p.addr('t').port);
      await expectEnd(p, old.o, 'rejected', 'reset');
      fresh.s.destroy();
    } finally {
      await p.stop();
    }
  }));

test('killed: DELETE /api/v1/sessions/:id → RST', () =>
  withEcho(async (b) => {
    const p = await proxy({ servers: [{ address: b.address }] }, {}, { admin: { listen: '127.0.0.1:0' } });
    try {
      const { o } = await established(p.addr('t').port);
      const ad = p.proxy.adminAddress!;
      const base = `http://${ad.host}:${ad.port}`;
      const list = (await (await fetch(`${base}/api/v1/sessions`)).json()) as { sessions: Array<{ id: number }> };
      assert.equal(list.sessions.length, 1);
      const res = await fetch(`${base}/api/v1/sessions/${list.sessions[0]!.id}`, { method: 'DELETE' });
      assert.equal(res.status, 200, await res.text());
      await expectEnd(p, o, 'killed', 'reset');
    } finally {
      await p.stop();
    }
  }));

test('every session end reason of src/errors.ts was produced above', () => {
  assert.deepEqual([...covered].sort(), [...END_REASONS].sort());
});

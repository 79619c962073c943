// Ports the kernel refused (issue 17 §4): held out of use for BLOCK_MS, then given back like a
// release (which serves the oldest waiter); a connection sent back to the queue by a refusal keeps
// its place and deadline (`since`), and reject mode refuses it as 'ports-busy'.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BLOCK_MS, SourcePortPool, type Lease, type SourceSettings } from '../../../src/pool/source-ports.ts';
import { Server } from '../../../src/pool/server.ts';
import { createLogger } from '../../../src/log.ts';
import { LogCapture } from '../../helpers/fullproxy.ts';

function server(): Server {
  return new Server(0, { address: '127.0.0.1:8080', weight: 1, maxConnections: 0, backup: false });
}

function make(over: Partial<SourceSettings> = {}): { ports: SourcePortPool; logs: LogCapture } {
  const logs = new LogCapture();
  const settings: SourceSettings = { addresses: ['127.0.0.2'], portRange: { low: 40000, high: 40003 }, onExhausted: 'queue', queueTimeout: 5_000, queueLength: 1024, ...over };
  return { ports: new SourcePortPool('p', settings, createLogger({ level: 'debug' }, logs)), logs };
}

function lease(ports: SourcePortPool, s: Server): Lease {
  const l = ports.tryLease(s);
  assert.ok(l !== null);
  return l;
}

test('a refused port is blocked: held (in use, not free), not given back by its socket\'s close, free again after BLOCK_MS', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { ports } = make();
  const s = server();
  const a = lease(ports, s);
  ports.skip(s, a, 'EADDRINUSE', 'bind');
  a.release(); // the socket's close: the port stays blocked
  let st = ports.stats(s);
  assert.deepEqual([st.inUse, st.blocked, st.free, st.skipped], [1, 1, 3, 1]);
  // the other three ports are handed out; the blocked one is not
  const others = [lease(ports, s), lease(ports, s), lease(ports, s)];
  assert.ok(others.every((l) => l.port !== a.port));
  assert.equal(ports.tryLease(s), null);
  assert.equal(ports.hasFree(s), false);
  t.mock.timers.tick(BLOCK_MS - 1);
  assert.equal(ports.stats(s).blocked, 1);
  t.mock.timers.tick(1);
  st = ports.stats(s);
  assert.deepEqual([st.inUse, st.blocked, st.free], [3, 0, 1]);
  assert.deepEqual(st.addresses?.['127.0.0.2'], { inUse: 3, free: 1, peak: 4, exhausted: 0, skipped: 1 });
  assert.equal(lease(ports, s).port, a.port);
});

test('the end of a block serves the oldest waiter', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { ports } = make();
  const s = server();
  const all = [lease(ports, s), lease(ports, s), lease(ports, s), lease(ports, s)];
  ports.skip(s, all[0]!, 'EADDRNOTAVAIL', 'connect');
  all[0]!.release();
  const got: Array<number | null> = [];
  ports.wait(s, (l) => got.push(l === null ? null : l.port));
  ports.wait(s, (l) => got.push(l === null ? null : l.port));
  t.mock.timers.tick(BLOCK_MS);
  assert.deepEqual(got, [all[0]!.port], 'one port freed: one waiter served');
  assert.equal(ports.stats(s).queued, 1);
});

test('a foreign source address (EADDRNOTAVAIL from bind) is not a busy port: not blocked', () => {
  const { ports, logs } = make();
  const s = server();
  const a = lease(ports, s);
  ports.skip(s, a, 'EADDRNOTAVAIL', 'bind');
  a.release();
  assert.equal(ports.stats(s).blocked, 0);
  assert.equal(ports.stats(s).free, 4);
  assert.equal(logs.find('source address is not an address of this host').length, 1);
});

test('wait(since): a connection back from a refusal goes before later waiters and keeps its deadline', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const { ports, logs } = make({ queueTimeout: 1_000 });
  const s = server();
  const held = [lease(ports, s), lease(ports, s), lease(ports, s), lease(ports, s)];
  const order: string[] = [];
  const since = Date.now();
  t.mock.timers.tick(400);
  ports.wait(s, (l) => order.push(`late ${l === null ? 'null' : 'port'}`));
  ports.wait(s, (l) => order.push(`back ${l === null ? 'null' : 'port'}`), since);
  held[0]!.release();
  assert.deepEqual(order, ['back port'], 'the one waiting since earlier is served first');
  held[1]!.release();
  assert.deepEqual(order, ['back port', 'late port']);
  // deadline = since + queueTimeout, not now + queueTimeout
  const since2 = Date.now();
  t.mock.timers.tick(700);
  ports.wait(s, (l) => order.push(`back2 ${l === null ? 'null' : 'port'}`), since2);
  t.mock.timers.tick(299);
  assert.equal(order.length, 2);
  t.mock.timers.tick(1);
  assert.deepEqual(order.slice(2), ['back2 null']);
  assert.equal(logs.find('source ports exhausted')[0]?.['reason'], 'queue-timeout');
  // already past its deadline: refused at once (on a later tick), as queue-timeout
  ports.wait(s, (l) => order.push(`old ${l === null ? 'null' : 'port'}`), since2 - 5_000);
  assert.equal(ports.stats(s).queued, 0);
});

test('reject mode: a connection back from a refusal is refused as ports-busy', async () => {
  const { ports, logs } = make({ onExhausted: 'reject' });
  const s = server();
  for (let i = 0; i < 4; i++) lease(ports, s);
  const got = await new Promise<Lease | null>((r) => ports.wait(s, r, Date.now()));
  assert.equal(got, null);
  assert.equal(logs.find('source ports exhausted')[0]?.['reason'], 'ports-busy');
  assert.equal(ports.stats(s).exhausted, 1);
});

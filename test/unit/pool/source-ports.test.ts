// The source-port allocator on its own: leases, release exactly once, spread over addresses,
// next-fit reuse, queue FIFO / timeout / bound, reject, 80 % / 70 % hysteresis, the estimate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelSourcePorts, SourcePortPool, workerSlice, type Lease, type SourceSettings } from '../../../src/pool/source-ports.ts';
import { Server } from '../../../src/pool/server.ts';
import { createLogger } from '../../../src/log.ts';
import { LogCapture } from '../../helpers/fullproxy.ts';

function server(address = '127.0.0.1:8080'): Server {
  return new Server(0, { address, weight: 1, maxConnections: 0, backup: false });
}

function settings(over: Partial<SourceSettings> = {}): SourceSettings {
  return { addresses: ['127.0.0.2'], portRange: { low: 40000, high: 40009 }, onExhausted: 'reject', queueTimeout: 1000, queueLength: 1024, ...over };
}

function make(over: Partial<SourceSettings> = {}, now: () => number = Date.now): { ports: SourcePortPool; logs: LogCapture } {
  const logs = new LogCapture();
  return { ports: new SourcePortPool('p', settings(over), createLogger({ level: 'debug' }, logs), now), logs };
}

function takeAll(ports: SourcePortPool, s: Server, n: number): Lease[] {
  const out: Lease[] = [];
  for (let i = 0; i < n; i++) {
    const l = ports.tryLease(s);
    assert.ok(l !== null, `lease ${i + 1} of ${n}`);
    out.push(l);
  }
  return out;
}

test('10 ports: 10 distinct leases from the range, then none; figures follow', () => {
  const { ports } = make();
  const s = server();
  const leases = takeAll(ports, s, 10);
  assert.deepEqual(leases.map((l) => l.port).sort(), [40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007, 40008, 40009]);
  assert.ok(leases.every((l) => l.address === '127.0.0.2'));
  assert.equal(ports.tryLease(s), null);
  assert.equal(ports.hasFree(s), false);
  const st = ports.stats(s);
  assert.equal(st.inUse, 10);
  assert.equal(st.free, 0);
  assert.equal(st.peak, 10);
  assert.deepEqual(st.addresses?.['127.0.0.2'], { inUse: 10, free: 0, peak: 10, exhausted: 0, skipped: 0 });
});

test('release counts exactly once, however often it is called', () => {
  const { ports } = make();
  const s = server();
  const [a, b] = takeAll(ports, s, 2) as [Lease, Lease];
  a.release();
  a.release();
  a.release();
  assert.equal(ports.stats(s).inUse, 1);
  b.release();
  assert.equal(ports.stats(s).inUse, 0);
  assert.equal(ports.stats(s).peak, 2);
  // a double release must not free a port someone else holds now
  const again = takeAll(ports, s, 10);
  a.release();
  assert.equal(ports.stats(s).inUse, 10);
  for (const l of again) l.release();
  assert.equal(ports.stats(s).inUse, 0);
});

test('next-fit: a freed port is used again only after the rest of the range (time to leave TIME_WAIT)', () => {
  const { ports } = make();
  const s = server();
  const first = ports.tryLease(s)!;
  assert.equal(first.port, 40000);
  first.release();
  const seen: number[] = [];
  for (let i = 0; i < 10; i++) {
    const l = ports.tryLease(s)!;
    seen.push(l.port);
    l.release();
  }
  assert.deepEqual(seen, [40001, 40002, 40003, 40004, 40005, 40006, 40007, 40008, 40009, 40000]);
});

test('ports are counted per server: the same port serves two servers (different 4-tuples)', () => {
  const { ports } = make();
  const s1 = server('127.0.0.1:8080');
  const s2 = server('127.0.0.1:8081');
  takeAll(ports, s1, 10);
  const l = ports.tryLease(s2);
  assert.equal(l?.port, 40000);
  assert.equal(ports.stats(s1).inUse, 10);
  assert.equal(ports.stats(s2).inUse, 1);
});

test('two source addresses: least used first, so leases alternate and both fill', () => {
  const { ports } = make({ addresses: ['127.0.0.2', '127.0.0.3'] });
  const s = server();
  const leases = takeAll(ports, s, 20);
  assert.deepEqual(
    leases.slice(0, 4).map((l) => l.address),
    ['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3'],
  );
  const st = ports.stats(s);
  assert.equal(st.inUse, 20);
  assert.equal(st.addresses?.['127.0.0.2']?.inUse, 10);
  assert.equal(st.addresses?.['127.0.0.3']?.inUse, 10);
  assert.equal(ports.tryLease(s), null);
  // a port freed on one address is the next lease, whichever address it is on
  leases[5]!.release();
  assert.equal(ports.tryLease(s)?.address, leases[5]!.address);
});

test('only addresses of the server\'s family are used', () => {
  const { ports, logs } = make({ addresses: ['::1', '127.0.0.2'] });
  const v4 = server('127.0.0.1:8080');
  assert.equal(ports.tryLease(v4)?.address, '127.0.0.2');
  assert.equal(ports.stats(v4).free, 9);
  const { ports: v6only, logs: l6 } = make({ addresses: ['::1'] });
  assert.equal(v6only.tryLease(v4), null);
  assert.equal(l6.lines.filter((l) => l['level'] === 50).length, 1, 'one error line: no address of the family');
  assert.equal(logs.lines.filter((l) => l['level'] === 50).length, 0);
});

test('reject: the waiter gets null on a later tick, counted and logged', async () => {
  const { ports, logs } = make({ onExhausted: 'reject' });
  const s = server();
  takeAll(ports, s, 10);
  let got: Lease | null | undefined;
  const done = new Promise<void>((r) =>
    ports.wait(s, (l) => {
      got = l;
      r();
    }),
  );
  assert.equal(got, undefined, 'never called back synchronously');
  await done;
  assert.equal(got, null);
  assert.equal(ports.stats(s).exhausted, 1);
  assert.equal(ports.stats(s).addresses?.['127.0.0.2']?.exhausted, 1);
  const line = logs.find('source ports exhausted')[0];
  assert.equal(line?.['reason'], 'reject');
  assert.equal(line?.['inUse'], 10);
  assert.equal(line?.['server'], '127.0.0.1:8080');
});

test('queue: waiters are served FIFO as leases are released', async () => {
  const { ports } = make({ onExhausted: 'queue', queueTimeout: 5_000 });
  const s = server();
  const held = takeAll(ports, s, 10);
  const order: number[] = [];
  const got: Promise<Lease | null>[] = [];
  for (let i = 0; i < 3; i++) {
    got.push(
      new Promise((r) =>
        ports.wait(s, (l) => {
          order.push(i);
          r(l);
        }),
      ),
    );
  }
  assert.equal(ports.stats(s).queued, 3);
  held[4]!.release();
  held[7]!.release();
  held[1]!.release();
  const leases = await Promise.all(got);
  assert.deepEqual(order, [0, 1, 2]);
  assert.ok(leases.every((l) => l !== null));
  assert.equal(ports.stats(s).inUse, 10);
  assert.equal(ports.stats(s).queued, 0);
  assert.equal(ports.stats(s).exhausted, 0);
});

test('queue: a waiter fails at queueTimeout (not before), counted; later waiters keep waiting', async () => {
  const { ports, logs } = make({ onExhausted: 'queue', queueTimeout: 80 });
  const s = server();
  const held = takeAll(ports, s, 10);
  const t0 = Date.now();
  const first = new Promise<{ l: Lease | null; t: number }>((r) => ports.wait(s, (l) => r({ l, t: Date.now() - t0 })));
  const r1 = await first;
  assert.equal(r1.l, null);
  assert.ok(r1.t >= 75, `failed after ${r1.t} ms`);
  assert.ok(r1.t < 1000, `failed after ${r1.t} ms`);
  assert.equal(ports.stats(s).exhausted, 1);
  assert.equal(logs.find('source ports exhausted')[0]?.['reason'], 'queue-timeout');
  // a waiter that gets a port in time is not counted
  const second = new Promise<Lease | null>((r) => ports.wait(s, r));
  held[0]!.release();
  assert.notEqual(await second, null);
  assert.equal(ports.stats(s).exhausted, 1);
});

test('queue: bounded by queueLength over the whole pool; beyond it refused at once', async () => {
  const { ports, logs } = make({ onExhausted: 'queue', queueTimeout: 5_000, queueLength: 2 });
  const s1 = server('127.0.0.1:8080');
  const s2 = server('127.0.0.1:8081');
  takeAll(ports, s1, 10);
  takeAll(ports, s2, 10);
  const waiting: (Lease | null | undefined)[] = [undefined, undefined];
  ports.wait(s1, (l) => (waiting[0] = l));
  ports.wait(s2, (l) => (waiting[1] = l));
  const third = await new Promise<Lease | null>((r) => ports.wait(s1, r));
  assert.equal(third, null);
  assert.equal(logs.find('source ports exhausted')[0]?.['reason'], 'queue-full');
  assert.deepEqual(waiting, [undefined, undefined], 'the queued two still wait');
  ports.close();
  assert.deepEqual(waiting, [null, null], 'close() fails the waiters');
  assert.equal(ports.stats(s1).queued, 0);
});

test('80 % warning once, recovery below 70 % once, then a new warning after a new climb', () => {
  const { ports, logs } = make();
  const s = server();
  const warn = (): number => logs.find('source ports above 80% toward server').length;
  const ok = (): number => logs.find('source ports back below 70% toward server').length;
  const held = takeAll(ports, s, 7);
  assert.equal(warn(), 0);
  held.push(ports.tryLease(s)!); // 8 of 10
  assert.equal(warn(), 1);
  const line = logs.find('source ports above 80% toward server')[0]!;
  assert.equal(line['inUse'], 8);
  assert.equal(line['free'], 2);
  assert.equal(line['capacity'], 10);
  assert.equal(line['percent'], 80);
  assert.deepEqual(line['addresses'], { '127.0.0.2': 8 });
  held.push(...takeAll(ports, s, 2));
  assert.equal(warn(), 1, 'not repeated while high');
  held.pop()!.release();
  held.pop()!.release();
  held.pop()!.release(); // 7: not below 70 %
  assert.equal(ok(), 0);
  held.pop()!.release(); // 6
  assert.equal(ok(), 1);
  held.pop()!.release();
  assert.equal(ok(), 1);
  held.push(...takeAll(ports, s, 3)); // 8 again
  assert.equal(warn(), 2);
});

test('secondsToExhaustion from the recent net growth of ports in use', () => {
  let now = 0;
  const { ports } = make({ portRange: { low: 40000, high: 40099 } }, () => now);
  const s = server();
  assert.equal(ports.stats(s).secondsToExhaustion, null);
  now = 500;
  takeAll(ports, s, 10); // +10 ports in the first second, 90 free
  assert.equal(ports.stats(s).secondsToExhaustion, null, 'rates are measured over whole seconds');
  now = 1000;
  assert.equal(ports.stats(s).secondsToExhaustion, 9);
  now = 2000;
  assert.equal(ports.stats(s).secondsToExhaustion, 18, 'a second without growth halves the rate');
  now = 3000;
  assert.equal(ports.stats(s).secondsToExhaustion, 36);
  now = 4000;
  for (const l of takeAll(ports, s, 30)) l.release(); // 30 new connections, all closed again: churn, no growth
  now = 5000;
  assert.equal(ports.stats(s).secondsToExhaustion, 144, 'new connections that close again are not growth');
});

test('skip() counts kernel-refused ports per address', () => {
  const { ports, logs } = make();
  const s = server();
  const l = ports.tryLease(s)!;
  ports.skip(s, l, 'EADDRNOTAVAIL', 'connect');
  assert.equal(ports.stats(s).skipped, 1);
  assert.equal(ports.stats(s).addresses?.['127.0.0.2']?.skipped, 1);
  assert.equal(logs.find('source port busy in the kernel, trying another').length, 1);
});

test('kernel ports (no source): leases bind nothing; refusals counted', () => {
  const logs = new LogCapture();
  const k = new KernelSourcePorts('p', createLogger({ level: 'info' }, logs));
  const s = server();
  const l = k.tryLease();
  assert.equal(l.port, 0);
  assert.equal(l.address, '');
  k.refuse(s, 'kernel');
  k.refuse(s, 'kernel');
  assert.equal(k.stats(s).exhausted, 2);
  assert.equal(logs.find('source ports exhausted').length, 1, 'one line per second');
});

test('workerSlice: disjoint slices that cover the range', () => {
  const range = { low: 1024, high: 65535 };
  const slices = [0, 1, 2].map((i) => workerSlice(range, i, 3));
  assert.equal(slices[0]!.low, 1024);
  assert.equal(slices[2]!.high, 65535);
  for (let i = 1; i < 3; i++) assert.equal(slices[i]!.low, slices[i - 1]!.high + 1);
  assert.deepEqual(workerSlice(range, 0, 1), range);
});

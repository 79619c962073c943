// Two source addresses with 10 ports each: 20 concurrent sessions all succeed, 10 from each
// address (the server sees both), and the 21st is refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { echoBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { establish, portBase, refusedHow, statsSourcePorts, tcpConfig } from './setup.ts';

test('2 addresses × 10 ports: 20 concurrent sessions, spread over both', async () => {
  const b = await echoBackend();
  const base = portBase();
  const p = await startProxy(tcpConfig(b.address, { addresses: ['127.0.0.2', '127.0.0.3'], portRange: [base, base + 9], onExhausted: 'reject' }));
  let clients: Socket[] = [];
  try {
    const port = p.addr('t').port;
    clients = await Promise.all(Array.from({ length: 20 }, () => establish(port)));
    const bySource = new Map<string, Set<number>>();
    for (const s of b.sockets) {
      const set = bySource.get(s.remoteAddress!) ?? new Set<number>();
      set.add(s.remotePort!);
      bySource.set(s.remoteAddress!, set);
    }
    assert.deepEqual([...bySource.keys()].sort(), ['127.0.0.2', '127.0.0.3']);
    assert.equal(bySource.get('127.0.0.2')!.size, 10);
    assert.equal(bySource.get('127.0.0.3')!.size, 10);

    const sp = await statsSourcePorts(p, 'p', b.address);
    assert.equal(sp['inUse'], 20);
    assert.equal(sp['free'], 0);
    const perAddress = sp['addresses'] as Record<string, { inUse: number; free: number }>;
    assert.equal(perAddress['127.0.0.2']?.inUse, 10);
    assert.equal(perAddress['127.0.0.3']?.inUse, 10);

    assert.equal(await refusedHow(port), 'reset', 'the 21st is refused');
    assert.equal((await statsSourcePorts(p, 'p', b.address))['exhausted'], 1);
  } finally {
    for (const s of clients) s.destroy();
    await p.stop();
    await b.close();
  }
});

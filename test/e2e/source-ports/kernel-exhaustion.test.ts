// No `source` configured: in a network namespace whose ephemeral port range has 6 ports, the
// kernel runs out (EADDRNOTAVAIL from connect) and the proxy turns that into the same clean
// outcome as a configured range: the client is reset at once, `sourcePorts.exhausted` counts it,
// a warning is logged, the server is not blamed, and a session works again once a port frees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { netnsUnavailable, runInNetns } from './netns.ts';

const skip = netnsUnavailable();

test('kernel ephemeral ports exhausted → source-exhausted outcome and counter', { skip: skip ?? false }, () => {
  // An even-sized range: Linux's connect() port search walks an even number of ports, so with an
  // odd range one port may never be reached (measured on 6.x: 4 or 5 of "40000 40004").
  const r = runInNetns('kernel', { 'net.ipv4.ip_local_port_range': '40000 40005' });
  const established = r['established'] as number;
  assert.ok(established >= 1 && established <= 6, `${established} sessions before the first refusal`);
  assert.equal(r['refused'], 'reset', 'the refused client gets RST');
  assert.ok((r['refusedAfterMs'] as number) < 500, `refused after ${String(r['refusedAfterMs'])} ms`);
  const sp = r['sourcePorts'] as { inUse: number; free: number; exhausted: number };
  assert.equal(sp.exhausted, 1);
  assert.equal(sp.inUse, established);
  assert.equal(sp.free, 6 - established, 'free counts the namespace\'s ephemeral range');
  assert.equal(r['connectErrors'], 0, 'not the server\'s fault');
  assert.equal(r['health'], 'up');
  const line = r['exhaustedLog'] as Record<string, unknown>;
  assert.equal(line['reason'], 'kernel');
  assert.equal(line['ephemeralPorts'], 6);
  assert.equal(r['after'], 'ok');
});

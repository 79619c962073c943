// How a check connection ends. A tcp check without a PROXY header closes with a RST, as HAProxy
// closes its checks: no FIN exchange and no TIME_WAIT left on the proxy's side per check (the
// server may not even see the connection: a reset before its accept drops it). With a PROXY header
// the check ends with a FIN after the header, so the server reads a complete LOCAL header and a
// clean end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { tcpBackend } from '../../helpers/backends.ts';
import { waitFor } from '../../helpers/wait.ts';

async function ends(sendProxyProtocol: 'off' | 'v2'): Promise<{ fin: number; reset: number; bytes: number[] }> {
  const seen = { fin: 0, reset: 0, bytes: [] as number[] };
  const b = await tcpBackend((s) => {
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    s.on('end', () => {
      seen.fin++;
      seen.bytes.push(n);
      s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNRESET') seen.reset++;
    });
  });
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: b.address }], sendProxyProtocol, healthCheck: { type: 'tcp', interval: 100, rise: 1, fall: 1 } }],
  });
  try {
    const s = p.proxy.pools.get('app')!.find(b.address)!;
    await waitFor(() => s.checksPassed >= 4, 5_000, 'checks passing');
    // The last check's close reaches the server (or not) within a few ms.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.health, 'up');
    return seen;
  } finally {
    await p.stop();
    await b.close();
  }
}

test('a tcp check without a PROXY header ends with a RST, never a FIN', async () => {
  const seen = await ends('off');
  assert.equal(seen.fin, 0, `no check ended with a FIN (${JSON.stringify(seen)})`);
});

test('a tcp check with a PROXY v2 header ends with a FIN after the 16-byte LOCAL header', async () => {
  const seen = await ends('v2');
  assert.ok(seen.fin >= 3, `checks ended with a FIN (${JSON.stringify(seen)})`);
  assert.equal(seen.reset, 0);
  for (const n of seen.bytes) assert.equal(n, 16, 'the whole v2 LOCAL header, nothing else');
});

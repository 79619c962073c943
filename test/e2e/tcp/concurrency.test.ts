// 1000 concurrent sessions through one tcp listener all complete with their own bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { echoBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

test('1000 concurrent sessions through one listener all complete', async () => {
  const a = await echoBackend();
  const b = await echoBackend();
  const p = await startProxy({
    logging: { level: 'warn' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: a.address }, { address: b.address }] }],
  });
  try {
    const port = p.addr('t').port;
    const sockets = await Promise.all(Array.from({ length: 1000 }, () => dial(port)));
    // all 1000 are open at once before any is finished
    await waitFor(() => p.proxy.sessions.size === 1000, 10_000, '1000 sessions in the table');
    const results = await Promise.all(
      sockets.map(
        (s, i) =>
          new Promise<string>((resolve, reject) => {
            const chunks: Buffer[] = [];
            s.on('data', (d: Buffer) => chunks.push(d));
            s.once('end', () => resolve(Buffer.concat(chunks).toString()));
            s.once('error', reject);
            s.end(`session ${i}`);
          }),
      ),
    );
    results.forEach((r, i) => assert.equal(r, `session ${i}`));
    assert.equal(a.accepted + b.accepted, 1000);
    assert.equal(a.accepted, 500, 'round robin splits evenly');
    await waitFor(() => p.proxy.sessions.size === 0, 5_000, 'session table empty');
  } finally {
    await p.stop();
    await a.close();
    await b.close();
  }
});

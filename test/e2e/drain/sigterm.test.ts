// SIGTERM: the listener stops accepting at once (new connects refused), a live session finishes
// within drainTimeout, the process exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { echoBackend } from '../../helpers/backends.ts';
import { spawnProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

test('SIGTERM with a live session: it finishes, new connects are refused, exit code 0', async () => {
  const server = await echoBackend();
  const proxy = await spawnProxy({
    drainTimeout: '5s',
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server.address }] }],
  });
  try {
    const port = proxy.listeners.get('t')!.port;
    const live = await dial(port);
    const done = outcome(live);
    live.write('before ');
    await waitFor(() => server.accepted === 1, 5_000, 'the session to reach the server');
    proxy.child.kill('SIGTERM');
    await waitFor(() => proxy.lines.some((l) => l['msg'] === 'draining'), 5_000, 'drain to start');
    await assert.rejects(dial(port), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    live.end('after');
    const r = await done;
    assert.equal(r.data.toString(), 'before after', 'the live session finished normally');
    assert.equal(await proxy.exited, 0);
    assert.ok(proxy.lines.some((l) => l['msg'] === 'drained, exiting' && l['finished'] === 1 && l['reset'] === 0));
  } finally {
    proxy.child.kill('SIGKILL');
    await server.close();
  }
});

test('SIGTERM: a session still open at drainTimeout is reset and the process exits 0', async () => {
  const server = await echoBackend();
  const proxy = await spawnProxy({
    drainTimeout: '500ms',
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server.address }] }],
  });
  try {
    const live = await dial(proxy.listeners.get('t')!.port);
    const done = outcome(live);
    live.write('x');
    await waitFor(() => server.accepted === 1, 5_000, 'the session to reach the server');
    const t0 = Date.now();
    proxy.child.kill('SIGTERM');
    const r = await done;
    assert.equal(r.how, 'reset');
    assert.ok(Date.now() - t0 < 2000);
    assert.equal(await proxy.exited, 0);
  } finally {
    proxy.child.kill('SIGKILL');
    await server.close();
  }
});

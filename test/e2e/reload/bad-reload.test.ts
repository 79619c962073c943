// A reload that fails before the swap changes nothing (issue 14): invalid JSON, a half-written
// file, an unknown pool reference, a port held by another process. Each is answered 400 with its
// errors, logged with its JSON path, counted, reported in lastReload, and traffic goes on; a good
// reload afterwards applies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { echoBackend, httpBackend } from '../../helpers/backends.ts';
import { spawnProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { get } from '../../helpers/http.ts';
import { freePorts } from '../../helpers/judges.ts';
import { keepAliveLoad, postReload, sighup, stats } from '../../helpers/reload.ts';
import { waitFor } from '../../helpers/wait.ts';

test('bad reloads change nothing, are reported and logged, and leave traffic alone; a good one then applies', async () => {
  const echoServer = await echoBackend();
  const a = await httpBackend('a');
  const b = await httpBackend('b');
  const [tcpPort] = await freePorts(1);
  const base = {
    admin: { listen: '127.0.0.1:0' },
    listeners: [
      { name: 't', listen: `127.0.0.1:${tcpPort}`, protocol: 'tcp', pool: 'echo' },
      { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'a' },
    ],
    pools: [
      { name: 'echo', servers: [{ address: echoServer.address }] },
      { name: 'a', servers: [{ address: a.address }] },
    ],
  };
  const p = await spawnProxy(base);
  // A port another process holds, for the bind case.
  const squatter = createServer();
  squatter.listen(0, '127.0.0.1');
  await once(squatter, 'listening');
  const heldPort = (squatter.address() as { port: number }).port;
  const hPort = p.listeners.get('h')!.port;
  const load = keepAliveLoad(hPort, 4);
  const session = await dial(tcpPort!);
  let echoed = '';
  session.on('data', (d: Buffer) => (echoed += d.toString()));
  try {
    const cases: Array<{ what: string; write: () => void; expect: RegExp }> = [
      { what: 'invalid JSON', write: () => writeFileSync(p.file, '{ "listeners": [ oops ] }'), expect: /invalid JSON/ },
      { what: 'a truncated file', write: () => writeFileSync(p.file, JSON.stringify(base).slice(0, 60)), expect: /invalid JSON/ },
      {
        what: 'an unknown pool reference',
        write: () => p.rewrite({ ...base, listeners: [base.listeners[0], { ...base.listeners[1], pool: 'nope' }] }),
        expect: /^listeners\[1\]\.pool: /,
      },
      {
        what: 'a port held by another process',
        write: () => p.rewrite({ ...base, listeners: [...base.listeners, { name: 'x', listen: `127.0.0.1:${heldPort}`, protocol: 'http', pool: 'a' }] }),
        expect: /^listeners\[2\]\.listen: cannot bind 127\.0\.0\.1:\d+: EADDRINUSE/,
      },
    ];
    let failures = 0;
    for (const c of cases) {
      c.write();
      const r = await postReload(p);
      assert.equal(r.status, 400, c.what);
      assert.equal(r.body.ok, false, c.what);
      assert.ok(r.body.errors!.some((e) => c.expect.test(e)), `${c.what}: ${JSON.stringify(r.body.errors)}`);
      const s = await stats(p);
      failures++;
      assert.equal(s.config.generation, 1, `${c.what}: nothing applied`);
      assert.equal(s.config.lastReload?.ok, false, c.what);
      assert.match(s.config.lastReload?.error ?? '', c.expect, c.what);
      assert.equal(s.config.reloadFailures, failures, c.what);
      assert.ok(!('x' in s.listeners), `${c.what}: no listener added`);
      assert.match((await get(hPort)).body.toString(), /^a /, `${c.what}: traffic as before`);
      session.write(`${c.what};`);
    }
    // The same failure through SIGHUP: logged, one line per problem, with the JSON path.
    p.rewrite({ ...base, pools: [base.pools[0], { name: 'a', servers: [{ address: '10.0.0.1' }] }] });
    const s = await sighup(p);
    assert.equal(s.config.generation, 1);
    await waitFor(() => p.lines.some((l) => /^reload failed: pools\[1\]\.servers\[0\]\.address: expected host:port, got "10\.0\.0\.1" \(line \d+, column \d+\)$/.test(String(l['msg']))), 5_000, 'the problem logged with its JSON path');
    assert.equal(await squatterFree(heldPort), false, 'the port of the failed reload is still the other process\'s');

    // A good reload now applies.
    p.rewrite({ ...base, listeners: [base.listeners[0], { ...base.listeners[1], pool: 'b' }], pools: [...base.pools, { name: 'b', servers: [{ address: b.address }] }] });
    const good = await postReload(p);
    assert.deepEqual(good, { status: 200, body: { ok: true, generation: 2 } });
    assert.match((await get(hPort)).body.toString(), /^b /);
    await waitFor(() => echoed.length > 0 && echoed.endsWith('a port held by another process;'), 5_000, 'the tcp session echoed everything');
    session.write('end');
    await waitFor(() => echoed.endsWith('end'), 5_000, 'the tcp session still echoes after the good reload');
  } finally {
    await load.stop();
    session.destroy();
    squatter.close();
    p.child.kill('SIGKILL');
    await Promise.all([echoServer.close(), a.close(), b.close()]);
  }
  assert.deepEqual(load.result.errors, [], 'no socket error while reloads failed and one applied');
  assert.equal(load.result.non2xx, 0);
  assert.ok(load.result.ok > 0);
});

/** True when `port` can be bound here (i.e. nobody holds it). */
async function squatterFree(port: number): Promise<boolean> {
  const s = createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

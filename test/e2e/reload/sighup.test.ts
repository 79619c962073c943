// SIGHUP reloads the config file (issue 14): a reload that adds a pool and points a listener at it
// keeps a tcp session echoing and an http keep-alive client answered, new requests reach the new
// pool, and the generation rises. POST /api/v1/reload runs the same code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { echoBackend, httpBackend } from '../../helpers/backends.ts';
import { spawnProxy, startProxy } from '../../helpers/fullproxy.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dial } from '../../helpers/clients.ts';
import { get } from '../../helpers/http.ts';
import { getOn, postReload, sighup, stats } from '../../helpers/reload.ts';
import { Agent } from 'node:http';
import type { Socket } from 'node:net';

/** Writes `msg` on `s` and resolves with the echo (exactly msg.length bytes). */
function echo(s: Socket, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= msg.length) {
        s.off('data', onData);
        resolve(got);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(msg);
  });
}

test('SIGHUP adds a pool and points a listener at it: tcp session and keep-alive client go on, new requests reach the new pool', async () => {
  const echoServer = await echoBackend();
  const a = await httpBackend('a');
  const b = await httpBackend('b');
  const base = {
    admin: { listen: '127.0.0.1:0' },
    listeners: [
      { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
      { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'a' },
    ],
    pools: [
      { name: 'echo', servers: [{ address: echoServer.address }] },
      { name: 'a', servers: [{ address: a.address }] },
    ],
  };
  const p = await spawnProxy(base);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const tPort = p.listeners.get('t')!.port;
    const hPort = p.listeners.get('h')!.port;
    const session = await dial(tPort);
    assert.equal(await echo(session, 'before'), 'before');
    const first = await getOn(agent, hPort);
    assert.match(first.body, /^a /);
    assert.equal((await stats(p)).config.generation, 1);

    p.rewrite({ ...base, listeners: [base.listeners[0], { ...base.listeners[1], pool: 'b' }], pools: [...base.pools, { name: 'b', servers: [{ address: b.address }] }] });
    const after = await sighup(p);
    assert.equal(after.config.generation, 2);
    assert.equal(after.config.lastReload?.ok, true);
    assert.ok(after.pools['b'], 'the new pool is in the stats');

    assert.equal(await echo(session, 'after'), 'after', 'the tcp session opened before the reload still echoes');
    // The keep-alive connection opened before the reload is still answered, and its new requests
    // take the new routing (they start in the new generation).
    for (let i = 0; i < 3; i++) {
      const r = await getOn(agent, hPort);
      assert.equal(r.status, 200);
      assert.match(r.body, /^b /);
    }
    assert.equal(a.accepted, 1, 'no new connection to the old pool');
    const fresh = await get(hPort);
    assert.match(fresh.body.toString(), /^b /, 'a new connection reaches the new pool');
    assert.equal(p.listeners.get('h')!.port, hPort, 'same listener, same socket');
    session.destroy();
  } finally {
    agent.destroy();
    p.child.kill('SIGKILL');
    await Promise.all([echoServer.close(), a.close(), b.close()]);
  }
});

test('POST /api/v1/reload applies the file like SIGHUP and answers 200 with the generation', async () => {
  const a = await httpBackend('a');
  const b = await httpBackend('b');
  const base = {
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: a.address }] }],
  };
  const p = await spawnProxy(base);
  try {
    const port = p.listeners.get('h')!.port;
    p.rewrite({ ...base, pools: [{ name: 'p', servers: [{ address: b.address }] }] });
    const r = await postReload(p);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { ok: true, generation: 2 });
    assert.match((await get(port)).body.toString(), /^b /);
    const s = await stats(p);
    assert.equal(s.config.generation, 2);
    assert.equal(s.config.lastReload?.ok, true);
    assert.equal(s.config.lastReload?.error, null);
    assert.ok(!Number.isNaN(Date.parse(s.config.lastReload!.at)));
  } finally {
    p.child.kill('SIGKILL');
    await Promise.all([a.close(), b.close()]);
  }
});

test('triggers during a reload cause exactly one more reload after it', async () => {
  const a = await httpBackend('a');
  const config = {
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: a.address }] }],
  };
  const p = await startProxy(config);
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-reload-'));
  p.proxy.configPath = join(dir, 'config.json');
  writeFileSync(p.proxy.configPath, JSON.stringify(config));
  try {
    // Five triggers in one tick: the first runs, the other four share the single one queued after it.
    const results = await Promise.all(Array.from({ length: 5 }, () => p.proxy.reload()));
    assert.deepEqual(results.map((r) => (r.ok ? r.generation : -1)), [2, 3, 3, 3, 3]);
    assert.equal(p.proxy.generation, 3);
    // And once it is over, a trigger runs at once again.
    assert.deepEqual(await p.proxy.reload(), { ok: true, generation: 4 });
    assert.match((await get(p.addr('h').port)).body.toString(), /^a /);
  } finally {
    await p.stop();
    await a.close();
  }
});

// An old generation is released when its last session ends, and not before (issue 14 "Memory"):
// a tcp session and a kept-alive http connection accepted in generation 1 keep it alive across
// reloads (they finish where they started); once both end, the garbage collector takes it. The
// proxy runs in-process so a WeakRef can watch the generation object itself.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Agent } from 'node:http';
import { getOn } from '../../helpers/reload.ts';
import { echoBackend, httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { waitFor } from '../../helpers/wait.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

// Collection is observed with a FinalizationRegistry, not WeakRef.deref(): a deref keeps its
// target alive until the host clears V8's kept objects, which Node does only now and then.
const finalized = new Set<string>();
const registry = new FinalizationRegistry<string>((what) => finalized.add(what));

/** Runs the GC until every name in `what` was finalized; false if one is not within `timeoutMs`. */
async function collected(what: readonly string[], timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
    if (what.every((w) => finalized.has(w))) return true;
  }
  return false;
}

test('a generation lives exactly as long as its sessions', async () => {
  const echoServer = await echoBackend();
  const a = await httpBackend('a');
  const b = await httpBackend('b');
  const config = (server: string): Record<string, unknown> => ({
    logging: { level: 'silent' },
    listeners: [
      { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
      { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'web' },
    ],
    pools: [
      { name: 'echo', servers: [{ address: echoServer.address }] },
      { name: 'web', servers: [{ address: server }] },
    ],
  });
  const p = await startProxy(config(a.address));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const apply = async (c: Record<string, unknown>): Promise<void> => {
    const loaded = loadConfigObject(c, '/');
    assert.ok(loaded.ok);
    assert.equal((await p.proxy.apply(loaded.config)).ok, true);
  };
  try {
    // What generation 1's sessions hold of it: its tcp handler, its http listener context, its pools.
    ((g) => {
      registry.register(g.listeners.get('t')!.handler, 'tcp handler');
      registry.register(g.listeners.get('h')!.handler, 'http context');
      registry.register(g.pools.get('web')!, 'pool web');
      registry.register(g.pools.get('echo')!, 'pool echo');
    })(p.proxy.currentGeneration);
    const gen1 = ['tcp handler', 'http context', 'pool web', 'pool echo'];
    const session = await dial(p.addr('t').port);
    session.on('error', () => {});
    assert.match((await getOn(agent, p.addr('h').port)).body, /^a /);
    // Two reloads: the server of pool "web" changes, so generation 1's pool is nobody's but its sessions'.
    await apply(config(b.address));
    await apply(config(a.address));
    await apply(config(b.address));
    assert.equal(p.proxy.generation, 4);
    assert.match((await getOn(agent, p.addr('h').port)).body, /^b /, 'the kept-alive connection follows the reloads');
    assert.equal(await collected(['tcp handler'], 300), false, "generation 1's tcp handler is alive while its tcp session is");
    assert.equal(await collected(['http context'], 300), false, "generation 1's http context is alive while its connection is");
    // Both sessions end: nothing holds generation 1 any more.
    session.destroy();
    agent.destroy();
    await waitFor(() => p.proxy.sessions.size === 0, 5_000, 'sessions ended');
    // (FinalizationRegistry callbacks come seconds after the collection itself: the bound is generous.)
    assert.equal(await collected(gen1, 15_000), true, `generation 1 released after its last session (finalized: ${[...finalized].join(', ')})`);
  } finally {
    agent.destroy();
    await p.stop();
    await Promise.all([echoServer.close(), a.close(), b.close()]);
  }
});

// Backup servers serve only while no primary is up: none of their traffic while the primary is up;
// with the primary stopped every request is served by the backup (no 502 in between: a retry that
// has tried every primary goes to the backups); when the primary returns, new sessions go to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import { restartable } from './servers.ts';

for (const protocol of ['tcp', 'http'] as const) {
  test(`backup servers (${protocol} listener): only while no primary is up, no failed request in between`, async () => {
    const primary = await restartable('primary');
    const bk1 = await restartable('bk1');
    const bk2 = await restartable('bk2');
    const p = await startProxy({
      listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol, pool: 'app' }],
      pools: [
        {
          name: 'app',
          servers: [{ address: primary.address }, { address: bk1.address, backup: true }, { address: bk2.address, backup: true }],
          healthCheck: { type: 'tcp', interval: 100, rise: 2, fall: 2 },
          retries: 1,
        },
      ],
    });
    const port = p.addr('l').port;
    const by = new Map<string, number>();
    const failures: string[] = [];
    const one = async (): Promise<void> => {
      const r = await get(port, { timeoutMs: 5_000 }).catch((e: Error) => ({ status: 0, headers: { 'x-served-by': e.message } }));
      if (r.status !== 200) failures.push(`${r.status} ${String(r.headers['x-served-by'])}`);
      const who = String(r.headers['x-served-by']);
      by.set(who, (by.get(who) ?? 0) + 1);
    };
    const s = p.proxy.pools.get('app')!.find(primary.address)!;
    try {
      for (let i = 0; i < 20; i++) await one();
      assert.deepEqual([...by.keys()], ['primary'], 'no backup traffic while the primary is up');
      by.clear();
      await primary.stop();
      // Requests all along: before the checks notice, the retry goes to a backup.
      while (s.health === 'up') await one();
      for (let i = 0; i < 20; i++) await one();
      assert.deepEqual(failures, [], 'every request served');
      assert.equal(by.get('primary'), undefined);
      assert.ok((by.get('bk1') ?? 0) > 0 && (by.get('bk2') ?? 0) > 0, `the backups share the load: ${JSON.stringify([...by])}`);
      await primary.start();
      while (s.health === 'down') await one();
      by.clear();
      for (let i = 0; i < 20; i++) await one();
      assert.deepEqual(failures, []);
      assert.equal(by.get('primary'), 20, `new sessions go to the returning primary: ${JSON.stringify([...by])}`);
    } finally {
      await p.stop();
      await primary.stop();
      await bk1.stop();
      await bk2.stop();
    }
  });
}

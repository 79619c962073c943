// The contract every scheduler keeps (src/scheduler/scheduler.ts), run by each <name>.test.ts
// (hono's common.case pattern, DESIGN §2.13). Picks cycle through many distinct client addresses
// and destinations so that hash-based schedulers are exercised over their whole table.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { SchedulerName } from '../../../src/config/schema.ts';
import { createScheduler } from '../../../src/scheduler/scheduler.ts';
import { FakeServer, makeContexts, makeServers, tally } from './fake-server.ts';

const PICKS = 10_000;
const CONTEXTS = makeContexts(1000);

export function runConformance(name: SchedulerName): void {
  describe(`${name}: scheduler conformance`, () => {
    test('an empty set picks null, before and after update([])', () => {
      const s = createScheduler<FakeServer>(name);
      assert.equal(s.pick(CONTEXTS[0]!), null);
      s.update([]);
      for (const ctx of CONTEXTS.slice(0, 100)) assert.equal(s.pick(ctx), null);
    });

    test('a single server is always picked', () => {
      const s = createScheduler<FakeServer>(name);
      const [only] = makeServers(1);
      s.update([only!]);
      const counts = tally(s, PICKS, CONTEXTS);
      assert.deepEqual([...counts.keys()], [only]);
    });

    test('picks only from the set given to update()', () => {
      const s = createScheduler<FakeServer>(name);
      const all = makeServers(6);
      const eligible = [all[1]!, all[3]!, all[4]!];
      s.update(eligible);
      for (const picked of tally(s, PICKS, CONTEXTS).keys()) {
        assert.ok(picked !== null && eligible.includes(picked), `picked ${picked?.address}`);
      }
    });

    test('all servers without capacity → null', () => {
      const s = createScheduler<FakeServer>(name);
      const servers = makeServers(4);
      s.update(servers);
      tally(s, 1000, CONTEXTS); // warm any per-destination state first
      for (const srv of servers) srv.capacity = false;
      assert.deepEqual([...tally(s, 2000, CONTEXTS).keys()], [null]);
    });

    test('servers without capacity are skipped, and picked again once they have it', () => {
      const s = createScheduler<FakeServer>(name);
      const servers = makeServers(5);
      s.update(servers);
      tally(s, 1000, CONTEXTS);
      servers[0]!.capacity = false;
      servers[3]!.capacity = false;
      const counts = tally(s, PICKS, CONTEXTS);
      assert.equal(counts.get(null), undefined, 'servers with capacity remain, so never null');
      assert.equal(counts.get(servers[0]!), undefined);
      assert.equal(counts.get(servers[3]!), undefined);
      assert.equal(counts.size, 3);
      servers[0]!.capacity = true;
      servers[3]!.capacity = true;
      // Sticky schedulers (lblc) may keep destinations where they moved; fresh keys must reach everyone.
      const fresh = makeContexts(3000).slice(1000);
      const after = tally(s, PICKS, fresh);
      for (const srv of servers) assert.ok((after.get(srv) ?? 0) > 0, `${srv.address} picked again`);
    });

    test('update() with a new set forgets removed servers', () => {
      const s = createScheduler<FakeServer>(name);
      const servers = makeServers(6);
      const before = servers.slice(0, 4);
      const after = [servers[3]!, servers[4]!, servers[5]!];
      s.update(before);
      tally(s, PICKS, CONTEXTS);
      s.update(after);
      const counts = tally(s, PICKS, CONTEXTS);
      for (const picked of counts.keys()) {
        assert.ok(picked !== null && after.includes(picked), `picked ${picked?.address} after it left`);
      }
      // And a server taken out then put back is usable again.
      s.update(servers);
      const again = tally(s, PICKS, makeContexts(5000).slice(2000));
      for (const srv of servers) assert.ok((again.get(srv) ?? 0) > 0, `${srv.address} picked after re-adding`);
    });

    test('equal weights and equal load: every server gets a fair share of 10k picks', () => {
      const s = createScheduler<FakeServer>(name);
      const servers = makeServers(5);
      s.update(servers);
      const counts = tally(s, PICKS, CONTEXTS);
      const fair = PICKS / servers.length;
      for (const srv of servers) {
        const got = counts.get(srv) ?? 0;
        // Generous: hash schedulers see 1000 keys, random ones have sd ≈ 40 around 2000.
        assert.ok(got > fair * 0.5 && got < fair * 1.5, `${srv.address} got ${got} of ${PICKS}`);
      }
    });

    test('slow start: a ramping server gets a share that rises with its fraction, and its full share at 1', () => {
      // Sessions stay open for the next 8 picks (so least-connection schedulers see load), and a
      // server ramping up has weight = configured × fraction, as pool/slow-start.ts sets it.
      const equal = 1 / 4;
      const shares: number[] = [];
      for (const f of [0.1, 0.5, 1]) {
        const s = createScheduler<FakeServer>(name);
        const servers = makeServers(4);
        const warm = servers[0]!;
        warm.slowStartFraction = f;
        warm.weight = f;
        s.update(servers);
        const open: FakeServer[] = [];
        let got = 0;
        for (let i = 0; i < PICKS; i++) {
          const picked = s.pick(CONTEXTS[i % CONTEXTS.length]!)!;
          if (picked === warm) got++;
          picked.active++;
          open.push(picked);
          if (open.length > 8) open.shift()!.active--;
        }
        shares.push(got / PICKS);
      }
      const [low, mid, full] = shares as [number, number, number];
      assert.ok(low < equal * 0.5, `at 10 % of its weight: ${(low * 100).toFixed(1)} % of picks (equal share 25 %)`);
      assert.ok(low < mid && mid < full, `the share rises with the fraction: ${shares.map((x) => (x * 100).toFixed(1)).join(' → ')} %`);
      assert.ok(full > equal * 0.7, `at full weight: ${(full * 100).toFixed(1)} % of picks`);
    });

    test('pick() does not throw over 10k picks with changing capacity and load', () => {
      const s = createScheduler<FakeServer>(name);
      const servers = makeServers([1, 2, 3, 5, 8]);
      s.update(servers);
      for (let i = 0; i < PICKS; i++) {
        const srv = servers[i % servers.length]!;
        srv.capacity = i % 7 !== 0;
        srv.active = (i * 31) % 50;
        s.pick(CONTEXTS[i % CONTEXTS.length]!);
        if (i % 2500 === 0) s.update(servers.slice(0, 1 + (i % servers.length)));
      }
    });
  });
}

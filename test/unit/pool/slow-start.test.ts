// Slow start's ramp (src/pool/slow-start.ts) and where the pool starts it (src/pool/pool.ts):
// steps on the shared clock tick, driven here with chosen times (clock.tick(now)); every check
// runs synchronously after its tick, so the real interval cannot interleave.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfigObject } from '../../../src/config/load.ts';
import type { PoolConfig } from '../../../src/config/schema.ts';
import { createLogger } from '../../../src/log.ts';
import { Pool } from '../../../src/pool/pool.ts';
import { isWarming, MIN_FRACTION, slowStartFraction } from '../../../src/pool/slow-start.ts';
import { clock } from '../../../src/util/clock.ts';

const log = createLogger({ level: 'silent' });

function poolConfig(pool: Record<string, unknown>): PoolConfig {
  const loaded = loadConfigObject({ listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }], pools: [{ name: 'p', ...pool }] }, '/');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return loaded.config.pools[0]!;
}

test('slowStartFraction: near zero at first, linear steps of 1 s, full at the end', () => {
  assert.equal(slowStartFraction(0, 10_000), MIN_FRACTION);
  assert.equal(slowStartFraction(999, 10_000), MIN_FRACTION);
  assert.equal(slowStartFraction(1_000, 10_000), 0.1);
  assert.equal(slowStartFraction(5_500, 10_000), 0.5);
  assert.equal(slowStartFraction(9_999, 10_000), 0.9);
  assert.equal(slowStartFraction(10_000, 10_000), 1);
  assert.equal(slowStartFraction(60_000, 10_000), 1);
  // Long ramps: at most 100 steps (a 10 min ramp moves every 6 s).
  assert.equal(slowStartFraction(5_999, 600_000), MIN_FRACTION);
  assert.equal(slowStartFraction(6_000, 600_000), 0.01);
  assert.equal(slowStartFraction(12_000, 600_000), 0.02);
  // Short ramps: one step of their length.
  assert.equal(slowStartFraction(100, 500), MIN_FRACTION);
  assert.equal(slowStartFraction(500, 500), 1);
  assert.equal(slowStartFraction(0, 0), 1);
});

test('a server coming back up ramps its weight on the clock tick; the pool sees each step', () => {
  const pool = new Pool(poolConfig({ scheduler: 'wrr', slowStart: '10s', servers: [{ address: '127.0.0.1:1', weight: 4 }, { address: '127.0.0.1:2', weight: 4 }] }), log);
  const [a, b] = pool.servers as [typeof pool.servers[0], typeof pool.servers[0]];
  assert.equal(a.weight, 4, 'no slow start at start');
  assert.ok(!isWarming(a));
  pool.setHealth(a, 'down', 'test');
  pool.setHealth(a, 'up', 'test');
  const t0 = a.slowStartSince; // when the ramp began (Date.now() at the change)
  assert.ok(isWarming(a) && t0 > 0);
  assert.equal(a.weight, 4 * MIN_FRACTION, 'the first step, before any pick');
  assert.equal(a.configuredWeight, 4);
  const share = (): number => {
    let got = 0;
    for (let i = 0; i < 1000; i++) if (pool.pick({ clientAddress: '192.0.2.1', destination: 'd' }) === a) got++;
    return got / 1000;
  };
  assert.ok(share() < 0.05, 'a few picks at 1 %');
  clock.tick(t0 + 5_000);
  assert.equal(a.weight, 2);
  const half = share();
  assert.ok(half > 0.25 && half < 0.42, `at 50 % of its weight: ${half} of picks (2 of 6)`);
  clock.tick(t0 + 10_000);
  assert.equal(a.weight, 4);
  assert.ok(!isWarming(a));
  assert.equal(share(), 0.5);
  assert.equal(b.weight, 4, 'the other server never ramped');
});

test('drain → enabled ramps; a reload that adds a server ramps it; a reload without slowStart ends a ramp', () => {
  const cfg = poolConfig({ scheduler: 'wlc', slowStart: '10s', servers: [{ address: '127.0.0.1:1' }] });
  const pool = new Pool(cfg, log);
  const [a] = pool.servers as [typeof pool.servers[0]];
  pool.setAdmin(a, 'drain');
  pool.setAdmin(a, 'enabled');
  assert.equal(a.weight, MIN_FRACTION);
  // Reload 5 s into the ramp (moved back by hand rather than waited for): the same server kept
  // (its ramp continues), one added (it ramps from now).
  a.slowStartSince -= 5_000;
  const t0 = a.slowStartSince;
  const next = new Pool(poolConfig({ scheduler: 'wlc', slowStart: '20s', servers: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2', weight: 2 }] }), log, pool);
  next.activate();
  const [a2, c] = next.servers as [typeof pool.servers[0], typeof pool.servers[0]];
  assert.equal(a2, a, 'kept');
  assert.equal(a.weight, 0.25, 'ramp goes on over the new 20 s from where it began');
  assert.equal(c.weight, 2 * MIN_FRACTION, 'the added server starts its ramp');
  clock.tick(t0 + 15_000);
  assert.equal(a.weight, 0.75);
  assert.equal(c.weight, 2 * (Math.floor((t0 + 15_000 - c.slowStartSince) / 1_000) / 20), 'the added server, 10 s into its 20 s ramp');
  // A reload that drops slowStart: ramps end at once, full weights.
  const last = new Pool(poolConfig({ scheduler: 'wlc', servers: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:2', weight: 2 }] }), log, next);
  last.activate();
  assert.equal(a.weight, 1);
  assert.equal(c.weight, 2);
  assert.ok(!isWarming(a) && !isWarming(c));
});

test('without slowStart a returning server gets its full weight at once', () => {
  const pool = new Pool(poolConfig({ scheduler: 'wrr', servers: [{ address: '127.0.0.1:1', weight: 3 }] }), log);
  const [a] = pool.servers as [typeof pool.servers[0]];
  pool.setHealth(a, 'down', 'test');
  pool.setHealth(a, 'up', 'test');
  assert.equal(a.weight, 3);
  assert.ok(!isWarming(a));
});

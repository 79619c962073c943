// pool/persistence.ts: address keys (netmask, netmask6), the bounded source-ip table with its TTL,
// cookie ids, and the Cookie parsing that takes our cookie out of a request (hostile inputs); then
// Pool.pick with persistence on real Pool objects (drain, down, retry, backups, capacity, reload).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addressKey, cookieId, CookiePersistence, SourceIpPersistence, StickTable, TABLE_SIZE, takeCookie } from '../../../src/pool/persistence.ts';
import { Pool } from '../../../src/pool/pool.ts';
import { Server } from '../../../src/pool/server.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log.ts';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import type { PoolConfig } from '../../../src/config/schema.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;
const log = createLogger({ level: 'silent' });

function server(address: string, i = 0): Server {
  return new Server(i, { address, weight: 1, maxConnections: 0, backup: false });
}

describe('addressKey', () => {
  it('IPv4 unmasked: the address itself; masked: the network as a 32-bit integer', () => {
    assert.equal(addressKey('127.0.0.2', 32, 128), '127.0.0.2');
    assert.equal(addressKey('127.0.0.2', 24, 128), addressKey('127.0.0.3', 24, 128));
    assert.notEqual(addressKey('127.0.0.2', 24, 128), addressKey('127.0.1.2', 24, 128));
    assert.equal(addressKey('10.1.2.3', 8, 128), addressKey('10.200.0.1', 8, 128));
    assert.equal(addressKey('255.255.255.255', 31, 128), addressKey('255.255.255.254', 31, 128));
    assert.equal(typeof addressKey('255.255.255.255', 24, 128), 'number');
    assert.equal(addressKey('1.2.3.4', 0, 128), addressKey('200.1.1.1', 0, 128));
    assert.notEqual(addressKey('127.0.0.2', 31, 128), addressKey('127.0.0.4', 31, 128));
  });

  it('IPv6: the address unmasked; netmask6 groups a prefix; an IPv4 tail counts', () => {
    assert.equal(addressKey('2001:db8::1', 32, 128), '2001:db8::1');
    assert.equal(addressKey('2001:db8:0:1::1', 32, 64), addressKey('2001:db8:0:1:ffff:1:2:3', 32, 64));
    assert.notEqual(addressKey('2001:db8:0:1::1', 32, 64), addressKey('2001:db8:0:2::1', 32, 64));
    assert.equal(addressKey('2001:db8::1', 32, 64), '2001:db8:0:0:0:0:0:0');
    assert.equal(addressKey('2001:db8:1:ff::', 32, 56), addressKey('2001:db8:1:80::', 32, 56));
    assert.notEqual(addressKey('2001:db8:1:ff::', 32, 57), addressKey('2001:db8:1:7f::', 32, 57));
    assert.equal(addressKey('64:ff9b::10.1.2.3', 32, 120), addressKey('64:ff9b::10.1.2.200', 32, 120));
    assert.equal(addressKey('::', 32, 0), addressKey('ffff::1', 32, 0));
  });

  it('not an IP address: no key (the client is scheduled, never stuck)', () => {
    for (const a of ['', 'localhost', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.']) assert.equal(addressKey(a, 24, 64), null, a);
    for (const a of ['1:2:3', ':::', '1::2::3', 'g::1', '12345::1', '1:2:3:4:5:6:7:8:9']) assert.equal(addressKey(a, 24, 64), null, a);
  });
});

describe('StickTable', () => {
  it(`100,000 distinct sources keep the table at its bound (configured bound: ${TABLE_SIZE} entries per pool)`, () => {
    assert.equal(TABLE_SIZE, DEFAULTS.pool.persistence.tableSize);
    const p = new SourceIpPersistence(32, 128, 300_000, new StickTable(TABLE_SIZE));
    const a = server('10.0.0.1:80');
    const b = server('10.0.0.2:80');
    // 100,000 sources, then 50,000 more: past the bound the least recently used go first.
    const total = TABLE_SIZE + 50_000;
    const addr = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    for (let i = 0; i < total; i++) {
      p.remember(p.keyOf(addr(i), null)!, i % 2 === 0 ? a : b);
      assert.ok(p.table.size <= TABLE_SIZE);
    }
    assert.equal(p.table.size, TABLE_SIZE);
    assert.equal(p.serverOf(p.keyOf(addr(0), null)!), undefined, 'the oldest source was forgotten');
    assert.equal(p.serverOf(p.keyOf(addr(total - 1), null)!), b, 'the newest is there');
    assert.equal(p.serverOf(p.keyOf(addr(total - TABLE_SIZE), null)!), a, 'the oldest kept');
  });

  it('a small bound: the least recently used entry is the one forgotten, a read counts as use', () => {
    const t = new StickTable(3);
    const s = server('10.0.0.1:80');
    const opts = { ttl: 60_000 };
    for (const k of ['a', 'b', 'c']) t.set(k, s, opts);
    t.get('a');
    t.set('d', s, opts);
    assert.equal(t.size, 3);
    assert.equal(t.get('b'), undefined);
    assert.equal(t.get('a'), s);
  });

  it('an entry lives `timeout` after its last use, then the client may move', () => {
    let now = 1_000;
    const clock = { now: () => now };
    const p = new SourceIpPersistence(32, 128, 5_000, new StickTable(100, clock));
    const s = server('10.0.0.1:80');
    const key = p.keyOf('127.0.0.2', null)!;
    p.remember(key, s);
    now += 4_000;
    assert.equal(p.serverOf(key), s);
    p.remember(key, s); // every pick refreshes it
    now += 4_000;
    assert.equal(p.serverOf(key), s, 'refreshed 4 s ago');
    now += 1_001;
    assert.equal(p.serverOf(key), undefined, 'idle past the timeout');
    assert.equal(p.table.size, 0, 'a stale entry is dropped when read');
  });

  it('allocates nothing until the first entry', () => {
    const t = new StickTable(TABLE_SIZE);
    assert.equal(t.size, 0);
    assert.equal(t.get('x'), undefined);
  });
});

describe('cookie ids', () => {
  it('opaque: not the address, 16 base64url characters, per pool and address, stable', () => {
    const id = cookieId('app', '10.0.0.2:8080');
    assert.match(id, /^[A-Za-z0-9_-]{16}$/);
    assert.equal(cookieId('app', '10.0.0.2:8080'), id);
    assert.notEqual(cookieId('app', '10.0.0.3:8080'), id);
    assert.notEqual(cookieId('other', '10.0.0.2:8080'), id);
    assert.ok(!id.includes('10.0.0.2') && !Buffer.from(id, 'base64url').toString('latin1').includes('10.0.0.2'));
    // The separator keeps ("ab", "c:1") and ("a", "bc:1") apart.
    assert.notEqual(cookieId('ab', 'c:1'), cookieId('a', 'bc:1'));
  });

  it('serverOf: only an id of this pool; garbage, wrong length and other pools name nothing', () => {
    const a = server('10.0.0.2:80');
    const b = server('10.0.0.3:80', 1);
    const p = new CookiePersistence('FPSRV', 'app', [a, b]);
    assert.equal(p.serverOf(cookieId('app', a.address)), a);
    assert.equal(p.serverOf(cookieId('app', b.address)), b);
    for (const bad of ['', 'x', '10.0.0.2:80', cookieId('other', a.address), cookieId('app', a.address) + 'x', 'A'.repeat(16), 'A'.repeat(100_000), 42]) assert.equal(p.serverOf(bad), undefined, String(bad).slice(0, 40));
  });

  it('Set-Cookie: for a client not holding the server id; Secure on TLS listeners; none when it holds it', () => {
    const a = server('10.0.0.2:80');
    const b = server('10.0.0.3:80', 1);
    const p = new CookiePersistence('SRV', 'app', [a, b]);
    const ida = cookieId('app', a.address);
    assert.equal(p.setCookieLine(a, null, false), `set-cookie: SRV=${ida}; Path=/; HttpOnly; SameSite=Lax\r\n`);
    assert.equal(p.setCookieLine(a, null, true), `set-cookie: SRV=${ida}; Path=/; HttpOnly; SameSite=Lax; Secure\r\n`);
    assert.equal(p.setCookieLine(a, ida, false), '');
    assert.equal(p.setCookieLine(b, ida, false), `set-cookie: SRV=${cookieId('app', b.address)}; Path=/; HttpOnly; SameSite=Lax\r\n`, 're-stuck: the new server');
    assert.equal(p.setCookieLine(a, 'garbage', false).startsWith('set-cookie: SRV='), true);
    assert.equal(p.setCookieLine(server('10.9.9.9:1'), null, false), '', 'not a server of this pool');
  });
});

describe('takeCookie (hostile input)', () => {
  const take = (fields: string[], name = 'FPSRV'): { value: string | null; fields: string[] } => {
    const copy = [...fields];
    return { value: takeCookie(copy, name), fields: copy };
  };

  it('takes our pair out, keeps the others intact and in order', () => {
    assert.deepEqual(take(['host', 'x', 'Cookie', 'a=1; FPSRV=abc; b=2']), { value: 'abc', fields: ['host', 'x', 'Cookie', 'a=1; b=2'] });
    assert.deepEqual(take(['cookie', 'FPSRV=abc; sid="x y"; z=']), { value: 'abc', fields: ['cookie', 'sid="x y"; z='] });
    assert.deepEqual(take(['cookie', 'a=1;FPSRV=abc;b=2']), { value: 'abc', fields: ['cookie', 'a=1; b=2'] });
  });

  it('a Cookie field with only our pair is removed; fields without our name are untouched', () => {
    assert.deepEqual(take(['host', 'x', 'cookie', 'FPSRV=abc', 'accept', '*/*']), { value: 'abc', fields: ['host', 'x', 'accept', '*/*'] });
    assert.deepEqual(take(['host', 'x', 'cookie', 'a=1;  b=2 ']), { value: null, fields: ['host', 'x', 'cookie', 'a=1;  b=2 '] });
    assert.deepEqual(take(['host', 'x']), { value: null, fields: ['host', 'x'] });
  });

  it('several Cookie fields: our pair goes from each, the first value wins', () => {
    assert.deepEqual(take(['Cookie', 'a=1', 'COOKIE', 'FPSRV=first', 'x-y', 'z', 'cookie', 'b=2; FPSRV=second']), { value: 'first', fields: ['Cookie', 'a=1', 'x-y', 'z', 'cookie', 'b=2'] });
    assert.deepEqual(take(['cookie', 'FPSRV=one; FPSRV=two']), { value: 'one', fields: [] });
  });

  it('the name as a substring of another cookie is another cookie (names are case-sensitive)', () => {
    const fields = ['cookie', 'XFPSRV=1; FPSRVX=2; FPSRV_=3; fpsrv=4; a=FPSRV=5; FP=6'];
    assert.deepEqual(take(fields), { value: null, fields });
    assert.deepEqual(take(['cookie', 'XFPSRV=1; FPSRV=mine; fpsrv=4']), { value: 'mine', fields: ['cookie', 'XFPSRV=1; fpsrv=4'] });
  });

  it('empty values, empty pairs, a pair without "=", whitespace and quotes', () => {
    assert.deepEqual(take(['cookie', 'FPSRV=']), { value: '', fields: [] });
    assert.deepEqual(take(['cookie', 'FPSRV']), { value: null, fields: ['cookie', 'FPSRV'] });
    assert.deepEqual(take(['cookie', '']), { value: null, fields: ['cookie', ''] });
    assert.deepEqual(take(['cookie', ' ;; FPSRV = "abc" ; ;a=1;']), { value: 'abc', fields: ['cookie', 'a=1'] });
    assert.deepEqual(take(['cookie', '\tFPSRV=abc\t']), { value: 'abc', fields: [] });
    assert.deepEqual(take(['cookie', 'FPSRV="']), { value: '"', fields: [] });
    assert.deepEqual(take(['cookie', 'FPSRV=a=b=c; d']), { value: 'a=b=c', fields: ['cookie', 'd'] });
  });

  it('garbage and very long values are taken out like any other (the pool finds no server in them)', () => {
    const long = 'x'.repeat(60_000);
    assert.deepEqual(take(['cookie', `a=${long}; FPSRV=${long}`]), { value: long, fields: ['cookie', `a=${long}`] });
    assert.deepEqual(take(['cookie', 'FPSRV=\u00ff\u0001<script>']), { value: '\u00ff\u0001<script>', fields: [] });
    // Many pairs: linear, not quadratic (a 16 KiB head holds thousands).
    const many = Array.from({ length: 5_000 }, (_, i) => `c${i}=${i}`).join('; ');
    const started = performance.now();
    const r = take(['cookie', `${many}; FPSRV=abc`]);
    assert.equal(r.value, 'abc');
    assert.equal(r.fields[1], many);
    assert.ok(performance.now() - started < 500);
  });

  it('another cookie name (a token with special characters) is matched exactly', () => {
    assert.deepEqual(take(['cookie', 'a.b=1; a.b$=2'], 'a.b$'), { value: '2', fields: ['cookie', 'a.b=1'] });
  });
});

// ---- Pool.pick with persistence ----

function poolConfig(persistence: Record<string, unknown>, servers: Array<Record<string, unknown>>): PoolConfig {
  const loaded = loadConfigObject(
    {
      listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
      pools: [{ name: 'app', scheduler: 'rr', servers, persistence }],
    },
    ROOT,
  );
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  return loaded.config.pools[0]!;
}

const A = '10.0.0.1:80';
const B = '10.0.0.2:80';
const C = '10.0.0.3:80';
const ctx = (clientAddress: string) => ({ clientAddress, destination: 'd' });

describe('Pool.pick with source-ip persistence', () => {
  it('a client keeps its server; another client is scheduled; netmask 24 groups a /24', () => {
    const pool = new Pool(poolConfig({ type: 'source-ip' }, [{ address: A }, { address: B }]), log);
    const first = pool.pick(ctx('127.0.0.2'))!;
    for (let i = 0; i < 10; i++) assert.equal(pool.pick(ctx('127.0.0.2')), first);
    assert.notEqual(pool.pick(ctx('127.0.0.3')), first, 'rr gives the next client the other server');
    const masked = new Pool(poolConfig({ type: 'source-ip', netmask: 24 }, [{ address: A }, { address: B }]), log);
    const s = masked.pick(ctx('127.0.0.2'))!;
    for (let i = 0; i < 10; i++) assert.equal(masked.pick(ctx(`127.0.0.${3 + i}`)), s);
  });

  it('draining, down or retired sticky server: picked again and re-stuck; back to enabled, the client stays moved', () => {
    const pool = new Pool(poolConfig({ type: 'source-ip' }, [{ address: A }, { address: B }]), log);
    const first = pool.pick(ctx('127.0.0.2'))!;
    pool.setAdmin(first, 'drain');
    const second = pool.pick(ctx('127.0.0.2'))!;
    assert.notEqual(second, first);
    pool.setAdmin(first, 'enabled');
    assert.equal(pool.pick(ctx('127.0.0.2')), second, 're-stuck to the new one');
    pool.setHealth(second, 'down', 'test');
    assert.equal(pool.pick(ctx('127.0.0.2')), first);
    pool.setHealth(second, 'up', 'test');
    first.retired = true;
    pool.rebuild();
    assert.equal(pool.pick(ctx('127.0.0.2')), second);
  });

  it('a retry never goes back to the failed sticky server, and re-sticks', () => {
    const pool = new Pool(poolConfig({ type: 'source-ip' }, [{ address: A }, { address: B }, { address: C }]), log);
    const first = pool.pick(ctx('127.0.0.2'))!;
    const retry = pool.pick(ctx('127.0.0.2'), [first])!;
    assert.notEqual(retry, first);
    assert.equal(pool.pick(ctx('127.0.0.2')), retry);
  });

  it('a sticky server at maxConnections: served elsewhere this once, still stuck', () => {
    const pool = new Pool(poolConfig({ type: 'source-ip' }, [{ address: A, maxConnections: 1 }, { address: B }]), log);
    const a = pool.find(A)!;
    // rr starts at A.
    assert.equal(pool.pick(ctx('127.0.0.2')), a);
    a.holdConnection();
    assert.equal(pool.pick(ctx('127.0.0.2'))?.address, B);
    a.releaseConnection();
    assert.equal(pool.pick(ctx('127.0.0.2')), a);
  });

  it('a client stuck to a backup goes back to a primary once one is up', () => {
    const pool = new Pool(poolConfig({ type: 'source-ip' }, [{ address: A }, { address: B, backup: true }]), log);
    const a = pool.find(A)!;
    pool.setHealth(a, 'down', 'test');
    assert.equal(pool.pick(ctx('127.0.0.2'))?.address, B);
    pool.setHealth(a, 'up', 'test');
    assert.equal(pool.pick(ctx('127.0.0.2')), a);
  });

  it('reload: the next pool takes the table over (same masks); other masks start a new table', () => {
    const cfg = poolConfig({ type: 'source-ip', netmask: 24 }, [{ address: A }, { address: B }]);
    const pool = new Pool(cfg, log);
    pool.pick(ctx('127.0.0.2'));
    const stuck = pool.pick(ctx('127.0.0.9'))!;
    const next = new Pool(poolConfig({ type: 'source-ip', netmask: 24, timeout: '1m' }, [{ address: C }, { address: B }, { address: A }]), log, pool);
    next.activate();
    assert.equal(next.pick(ctx('127.0.0.77')), stuck, 'same Server object, same entry');
    const other = new Pool(poolConfig({ type: 'source-ip', netmask: 16 }, [{ address: A }, { address: B }]), log, next);
    assert.notEqual((other.persistence as SourceIpPersistence).table, (next.persistence as SourceIpPersistence).table);
  });

  it('every pick of the client refreshes its entry: `timeout` counts from the last session, not the first', () => {
    let now = 0;
    const cfg = poolConfig({ type: 'source-ip', timeout: 1_000 }, [{ address: A }, { address: B }]);
    // The table with a test clock, handed over as a reload hands it over.
    const before = new Pool(cfg, log);
    Object.defineProperty(before, 'persistence', { value: new SourceIpPersistence(32, 128, 1_000, new StickTable(100, { now: () => now })) });
    const pool = new Pool(cfg, log, before);
    pool.activate();
    const first = pool.pick(ctx('127.0.0.2'))!;
    for (let i = 0; i < 5; i++) {
      now += 900;
      assert.equal(pool.pick(ctx('127.0.0.2')), first, `${now} ms after the first session, 900 ms after the last`);
    }
    now += 1_001;
    assert.equal(pool.pick(ctx('127.0.0.2')), pool.servers.find((s) => s !== first), 'idle past the timeout: rr picks the other');
  });

  it('a client address that is not IP is scheduled, not stuck', () => {
    const pool = new Pool(poolConfig({ type: 'source-ip' }, [{ address: A }, { address: B }]), log);
    const first = pool.pick(ctx(''));
    assert.notEqual(pool.pick(ctx('')), first);
    assert.equal((pool.persistence as SourceIpPersistence).table.size, 0);
  });
});

describe('Pool.pick with cookie persistence', () => {
  it('honours the id while the server is up and enabled; garbage is scheduled', () => {
    const pool = new Pool(poolConfig({ type: 'cookie' }, [{ address: A }, { address: B }, { address: C }]), log);
    const b = pool.find(B)!;
    const id = cookieId('app', B);
    for (let i = 0; i < 6; i++) assert.equal(pool.pick(ctx('127.0.0.2'), null, id), b);
    pool.setAdmin(b, 'drain');
    for (let i = 0; i < 6; i++) assert.notEqual(pool.pick(ctx('127.0.0.2'), null, id), b);
    pool.setAdmin(b, 'enabled');
    pool.setHealth(b, 'down', 'test');
    assert.notEqual(pool.pick(ctx('127.0.0.2'), null, id), b);
    pool.setHealth(b, 'up', 'test');
    assert.notEqual(pool.pick(ctx('127.0.0.2'), [b], id), b, 'a retry');
    const seen = new Set([0, 1, 2, 3, 4, 5].map(() => pool.pick(ctx('127.0.0.2'), null, 'garbage')));
    assert.equal(seen.size, 3, 'no id: the scheduler (rr) picks');
  });
});

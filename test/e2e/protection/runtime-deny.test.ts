// Runtime denies with a TTL (issue 17 Proof "Runtime deny"; SPEC POST /api/v1/acl/deny, GET
// /api/v1/acl, DELETE /api/v1/acl/deny/:source): a deny with a 2 s TTL blocks 127.0.0.2 — reset
// before anything else, counted as an ACL rejection — and stops blocking after about 2 s; it
// survives a reload; it is listed with its remaining time; one listener only when asked; lifted
// early by DELETE; applied to the client a trusted PROXY header names; bad bodies get 400.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';
import { loadConfigObject } from '../../../src/config/load.ts';

type Answer = { status: number; body: Record<string, unknown> };

function config(backend: Backend, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    logging: { level: 'silent' },
    admin: { listen: '127.0.0.1:0' },
    listeners: [
      { name: 'a', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', acceptProxyProtocol: { from: ['127.0.0.1/32'] }, ...extra },
      { name: 'b', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' },
    ],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  };
}

async function api(p: RunningProxy, method: string, path: string, body?: unknown): Promise<Answer> {
  const a = p.proxy.adminAddress!;
  const res = await fetch(`http://127.0.0.1:${a.port}${path}`, {
    method,
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** 'served' when the byte comes back, else how the connection ended ('reset'). */
async function tryFrom(port: number, from: string, payload = 'x'): Promise<string> {
  let s: Socket;
  try {
    s = await dial(port, '127.0.0.1', from);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'reset' : String(err);
  }
  try {
    const end = outcome(s);
    s.write(payload);
    const first = await Promise.race([end, new Promise<Buffer>((r) => s.once('data', r))]);
    return Buffer.isBuffer(first) ? 'served' : first.how;
  } finally {
    s.destroy();
  }
}

async function withProxy(fn: (p: RunningProxy, backend: Backend) => Promise<void>): Promise<void> {
  const backend = await tcpBackend((s) => s.on('data', (d) => s.write(d)));
  try {
    const p = await startProxy(config(backend));
    try {
      await fn(p, backend);
    } finally {
      await p.stop();
    }
  } finally {
    await backend.close();
  }
}

test('a 2 s deny blocks 127.0.0.2 on every listener, survives a reload, is listed with its remaining time, and ends by itself', async () => {
  await withProxy(async (p, backend) => {
    const a = p.addr('a').port;
    const b = p.addr('b').port;
    assert.equal(await tryFrom(b, '127.0.0.2'), 'served');
    const added = await api(p, 'POST', '/api/v1/acl/deny', { source: '127.0.0.2', ttl: '2s' });
    assert.equal(added.status, 200, JSON.stringify(added.body));
    assert.equal(added.body['source'], '127.0.0.2/32');
    assert.equal(added.body['listener'], null);
    const since = Date.now();
    const accepted = backend.accepted;
    assert.equal(await tryFrom(a, '127.0.0.2'), 'reset');
    assert.equal(await tryFrom(b, '127.0.0.2'), 'reset');
    assert.equal(backend.accepted, accepted, 'nothing reached a server');
    assert.equal(await tryFrom(b, '127.0.0.3'), 'served', 'other clients are served');
    assert.equal(p.proxy.listeners.get('b')!.counters.rejectedAcl, 1);

    const listed = await api(p, 'GET', '/api/v1/acl');
    const rows = listed.body['denies'] as Array<Record<string, unknown>>;
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!['source'], '127.0.0.2/32');
    const remaining = rows[0]!['remainingMs'] as number;
    assert.ok(remaining > 0 && remaining <= 2_000, `remainingMs ${remaining}`);

    // A reload (same listeners) keeps the deny.
    const loaded = loadConfigObject(config(backend), '/');
    assert.ok(loaded.ok);
    const r = await p.proxy.apply(loaded.config);
    assert.equal(r.ok, true);
    assert.equal(await tryFrom(b, '127.0.0.2'), 'reset', 'still denied after the reload');

    // About 2 s after it was added, the deny is gone by itself.
    await waitFor(() => Date.now() - since >= 1_700, 3_000, 'most of the TTL');
    let result = '';
    const deadline = since + 3_000;
    while (Date.now() < deadline) {
      result = await tryFrom(b, '127.0.0.2');
      if (result === 'served') break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const after = Date.now() - since;
    assert.equal(result, 'served', 'served again once the TTL is over');
    assert.ok(after >= 1_900 && after < 3_000, `lifted after ${after} ms`);
    assert.deepEqual((await api(p, 'GET', '/api/v1/acl')).body['denies'], []);
  });
});

test('a deny for one listener leaves the others alone; DELETE lifts it early', async () => {
  await withProxy(async (p) => {
    const a = p.addr('a').port;
    const b = p.addr('b').port;
    assert.equal((await api(p, 'POST', '/api/v1/acl/deny', { source: '127.0.0.0/30', ttl: '10m', listener: 'b' })).status, 200);
    assert.equal(await tryFrom(b, '127.0.0.2'), 'reset', '127.0.0.2 is in 127.0.0.0/30');
    assert.equal(await tryFrom(b, '127.0.0.3'), 'reset');
    assert.equal(await tryFrom(b, '127.0.0.5', 'y'), 'served', 'outside the range');
    assert.equal(await tryFrom(a, '127.0.0.2', 'x'), 'served', 'listener a is not covered');
    const gone = await api(p, 'DELETE', `/api/v1/acl/deny/${encodeURIComponent('127.0.0.1/30')}`);
    assert.equal(gone.status, 200, 'the source is matched in its canonical form (127.0.0.1/30 is 127.0.0.0/30)');
    assert.equal(gone.body['lifted'], 1);
    assert.equal(await tryFrom(b, '127.0.0.2'), 'served');
    assert.equal((await api(p, 'DELETE', '/api/v1/acl/deny/127.0.0.0/30')).status, 404, 'nothing left to lift');
  });
});

test('behind a trusted PROXY peer, a deny of the client the header names applies', async () => {
  await withProxy(async (p) => {
    const a = p.addr('a').port;
    assert.equal((await api(p, 'POST', '/api/v1/acl/deny', { source: '192.0.2.0/24', ttl: 60_000 })).status, 200);
    assert.equal(await tryFrom(a, '127.0.0.1', 'PROXY TCP4 192.0.2.9 127.0.0.1 40000 80\r\nx'), 'reset');
    assert.equal(await tryFrom(a, '127.0.0.1', 'PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\nx'), 'served');
    assert.equal(p.proxy.listeners.get('a')!.counters.rejectedAcl, 1);
  });
});

test('bad bodies get 400 naming the field, 413 when too large; nothing is added', async () => {
  await withProxy(async (p) => {
    const cases: Array<[unknown, RegExp]> = [
      ['not json', /^body: expected a JSON object/],
      [[1, 2], /^body: expected a JSON object .*got \[1,2\]/],
      [{ ttl: '1m' }, /^source: required/],
      [{ source: '10.0.0.0/33', ttl: '1m' }, /^source: expected an IP address or CIDR .*got "10\.0\.0\.0\/33"/],
      [{ source: 'example.com', ttl: '1m' }, /^source: expected an IP address or CIDR/],
      [{ source: '10.0.0.1' }, /^ttl: required/],
      [{ source: '10.0.0.1', ttl: 'soon' }, /^ttl: expected a duration from "1s" to "720h"/],
      [{ source: '10.0.0.1', ttl: '10ms' }, /^ttl: expected a duration from "1s" to "720h"/],
      [{ source: '10.0.0.1', ttl: '1000h' }, /^ttl: expected a duration/],
      [{ source: '10.0.0.1', ttl: '1m', listener: 'nope' }, /^listener: expected the name of a listener \("a", "b"\)/],
      [{ source: '10.0.0.1', ttl: '1m', bogus: 1 }, /^bogus: unknown key/],
    ];
    for (const [body, expected] of cases) {
      const r = await api(p, 'POST', '/api/v1/acl/deny', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      const errors = r.body['errors'] as string[];
      assert.ok(errors.some((e) => expected.test(e)), `${JSON.stringify(body)} → ${JSON.stringify(errors)}`);
    }
    const big = await api(p, 'POST', '/api/v1/acl/deny', JSON.stringify({ source: '10.0.0.1', ttl: '1m', pad: 'x'.repeat(5_000) }));
    assert.equal(big.status, 413);
    assert.equal((await api(p, 'DELETE', '/api/v1/acl/deny/not-an-address')).status, 400);
    assert.equal(p.proxy.denies.size, 0, 'nothing was added by a bad request');
  });
});

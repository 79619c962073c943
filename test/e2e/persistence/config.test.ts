// pools[].persistence in the config: accepted with its defaults (no longer refused), and each bad
// value reported with its JSON path — netmask ranges per family, keys of the other type, a cookie
// name that is not a token, cookie persistence on a pool a tcp listener uses (its pool or an SNI
// route's); `fullproxy check` says it with the position in the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigObject } from '../../../src/config/load.ts';
import { NODE, ROOT } from '../../helpers/fullproxy.ts';

const server = [{ address: '127.0.0.1:9001' }];

function errorsOf(config: Record<string, unknown>): string[] {
  const r = loadConfigObject(config, ROOT);
  return r.ok ? [] : r.errors;
}

test('persistence: accepted, with its defaults', () => {
  const r = loadConfigObject(
    {
      listeners: [
        { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'ip' },
        { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'c' },
      ],
      pools: [
        { name: 'ip', servers: server, persistence: { type: 'source-ip' } },
        { name: 'c', servers: server, persistence: { type: 'cookie' } },
        { name: 'ip2', servers: server, persistence: { type: 'source-ip', timeout: '30s', netmask: 24, netmask6: 64 } },
      ],
    },
    ROOT,
  );
  assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  assert.deepEqual(r.config.pools[0]!.persistence, { type: 'source-ip', timeout: 300_000, netmask: 32, netmask6: 128 });
  assert.deepEqual(r.config.pools[1]!.persistence, { type: 'cookie', name: 'FPSRV' });
  assert.deepEqual(r.config.pools[2]!.persistence, { type: 'source-ip', timeout: 30_000, netmask: 24, netmask6: 64 });
});

test('persistence: bad values, one line each with the JSON path', () => {
  assert.deepEqual(
    errorsOf({
      listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'a' }],
      pools: [
        { name: 'a', servers: server, persistence: { type: 'source-ip', netmask: 33, netmask6: 129 } },
        { name: 'b', servers: server, persistence: { type: 'source-ip', netmask: -1, netmask6: 64.5, timeout: 'soon' } },
        { name: 'c', servers: server, persistence: { type: 'source-ip', netmask: '24', name: 'X' } },
        { name: 'd', servers: server, persistence: { type: 'cookie', netmask: 24, timeout: '5m' } },
        { name: 'e', servers: server, persistence: { type: 'cookie', name: 'a;b' } },
        { name: 'f', servers: server, persistence: { type: 'sticky' } },
        { name: 'g', servers: server, persistence: {} },
      ],
    }),
    [
      'pools[0].persistence.netmask: expected an integer <= 32, got 33',
      'pools[0].persistence.netmask6: expected an integer <= 128, got 129',
      'pools[1].persistence.netmask: expected an integer >= 0, got -1',
      'pools[1].persistence.netmask6: expected integer, got 64.5',
      'pools[1].persistence.timeout: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "soon"',
      'pools[2].persistence.netmask: expected integer, got "24"',
      'pools[2].persistence.name: unknown key',
      'pools[3].persistence.netmask: unknown key',
      'pools[3].persistence.timeout: unknown key',
      'pools[4].persistence.name: expected a cookie name (RFC 6265 token: letters, digits, !#$%&\'*+.^_`|~-), got "a;b"',
      'pools[5].persistence.type: expected one of "source-ip", "cookie", got "sticky"',
      'pools[6].persistence.type: required',
    ],
  );
});

test('persistence: "cookie" on a pool a tcp listener uses (its pool, or an SNI route\'s) is refused at the pool', () => {
  assert.deepEqual(
    errorsOf({
      listeners: [
        { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'shared' },
        { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'shared' },
        { name: 's', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'ip', routes: [{ sni: 'a.example', pool: 'routed' }] },
      ],
      pools: [
        { name: 'shared', servers: server, persistence: { type: 'cookie' } },
        { name: 'ip', servers: server, persistence: { type: 'source-ip' } },
        { name: 'routed', servers: server, persistence: { type: 'cookie', name: 'R' } },
      ],
    }),
    [
      'pools[0].persistence.type: "cookie" needs http listeners, and tcp listener listeners[1] uses pool "shared"; use "source-ip" (or a pool of its own)',
      'pools[2].persistence.type: "cookie" needs http listeners, and tcp listener listeners[2] uses pool "routed"; use "source-ip" (or a pool of its own)',
    ],
  );
});

test('check: the cookie-on-tcp line with its position; exit 1', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'fullproxy-persistence-')), 'config.json');
  writeFileSync(
    file,
    JSON.stringify(
      {
        listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
        pools: [{ name: 'app', servers: server, persistence: { type: 'cookie' } }],
      },
      null,
      2,
    ),
  );
  const r = spawnSync(NODE, [join(ROOT, 'src/main.ts'), 'check', '--config', file], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr.trim(), /^pools\[0\]\.persistence\.type: "cookie" needs http listeners, and tcp listener listeners\[0\] uses pool "app"; use "source-ip" \(or a pool of its own\) \(line \d+, column \d+\)$/);
});

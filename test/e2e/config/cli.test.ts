// The command line: `check` prints one line per problem and exits 1 (0 when valid); starting with
// an invalid config exits 1 and binds nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE, ROOT } from '../../helpers/fullproxy.ts';

function writeConfig(obj: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fullproxy-cli-')), 'config.json');
  writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return file;
}

const cli = (...args: string[]) => spawnSync(NODE, [join(ROOT, 'src/main.ts'), ...args], { encoding: 'utf8', timeout: 10_000 });

test('check: a valid config prints "valid" and exits 0', () => {
  const r = cli('check', '--config', join(ROOT, 'config/demo.json'));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /valid/);
});

test('check: every problem is reported at once, one line each, with its JSON path; exit 1', () => {
  const file = writeConfig({
    listeners: [{ name: 'web', listen: '127.0.0.1:80800', protocol: 'tcp', pool: 'nope', bogus: 1 }],
    pools: [{ name: 'app', servers: [{ address: '10.0.0.1' }], timeouts: { connect: '5x' } }],
  });
  const r = cli('check', '--config', file);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.deepEqual(lines, [
    'listeners[0].listen: expected host:port, got "127.0.0.1:80800"',
    'listeners[0].bogus: unknown key',
    'pools[0].servers[0].address: expected host:port, got "10.0.0.1"',
    'pools[0].timeouts.connect: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "5x"',
  ]);
});

test('start with an invalid config: exit 1 and nothing is bound', async () => {
  // find a free port, then name it in a config that is otherwise invalid
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const file = writeConfig({
    listeners: [{ name: 'web', listen: `127.0.0.1:${port}`, protocol: 'tcp', pool: 'missing' }],
    pools: [{ name: 'app', servers: [{ address: '127.0.0.1:1' }] }],
  });
  const r = cli('--config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /listeners\[0\]\.pool: /);
  assert.equal(r.stdout.includes('listening'), false, 'no listener was bound');
  // and the port is still free
  const again = createServer();
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.listen(port, '127.0.0.1', () => resolve());
  });
  again.close();
});

test('start with a config file that is not JSON: exit 1 with the file named', () => {
  const file = writeConfig('{ "listeners": [ }');
  const r = cli('--config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid JSON/);
});

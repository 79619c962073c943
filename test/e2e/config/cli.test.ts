// The command line: `check` prints one line per problem and exits 1 (0 when valid); starting with
// an invalid config exits 1 and binds nothing; --version, --help, --log-level (which outlives a
// reload); a bad command line exits 2; the package's bin runs through npx on the pinned Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
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
  // The file is one line of JSON: the columns tell the problems apart.
  assert.deepEqual(lines, [
    'listeners[0].listen: expected host:port, got "127.0.0.1:80800" (line 1, column 38)',
    'listeners[0].pool: no pool named "nope" (line 1, column 80)',
    'listeners[0].bogus: unknown key (line 1, column 87)',
    'pools[0].servers[0].address: expected host:port, got "10.0.0.1" (line 1, column 144)',
    'pools[0].timeouts.connect: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "5x" (line 1, column 179)',
  ]);
});

// Issue 18's proof: three problems of different kinds (a schema value, an unknown key, a reference
// to a missing pool) come out of one run, each with its position, at `check` and at start.
const THREE_KINDS = join(ROOT, 'test/fixtures/config/invalid/three-kinds.json');
const THREE_LINES = [
  'listeners[0].routes[0].pool: no pool named "api" (line 8, column 55)',
  'listeners[0].timeouts.clientIdle: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "5 minutes" (line 9, column 35)',
  'pools[0].servers[0].wieght: unknown key (line 15, column 50)',
];

test('check: a bad duration, an unknown key and a route to a missing pool: three lines with positions in one run, exit 1', () => {
  const r = cli('check', '--config', THREE_KINDS);
  assert.equal(r.status, 1, r.stdout);
  assert.deepEqual(r.stderr.trim().split('\n'), THREE_LINES);
  assert.equal(r.stdout, '');
});

test('start: the same three lines, exit 1, nothing listens', () => {
  const r = cli('--config', THREE_KINDS);
  assert.equal(r.status, 1, r.stdout);
  assert.deepEqual(r.stderr.trim().split('\n'), THREE_LINES);
  assert.equal(r.stdout.includes('listening'), false);
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

test('--version prints the package version and the Node version, exit 0', () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-v']) {
    const r = cli(flag);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `fullproxy ${version} (node ${process.version})\n`);
  }
});

test('--help lists the commands, the flags and the signals, exit 0', () => {
  const r = cli('--help');
  assert.equal(r.status, 0, r.stderr);
  for (const word of ['check', 'demo', '--config', '--log-level', '--version', '--help', 'SIGHUP', 'SIGTERM', 'SIGINT', 'drainTimeout', 'second']) {
    assert.ok(r.stdout.includes(word), `--help mentions ${word}`);
  }
  assert.equal(cli('-h').stdout, r.stdout);
});

test('a bad command line exits 2 with the problem and the usage on stderr', () => {
  const config = join(ROOT, 'config/demo.json');
  const cases: [string[], RegExp][] = [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--config'], /--config/],
    [['--log-level', 'loud'], /--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['check'], /check needs --config PATH/],
    // (check takes more files after --config PATH: see the shell-glob test)
    [['run', '--config', config, 'extra'], /unexpected argument "extra"/],
    [['check', 'extra'], /unexpected argument "extra"/],
    [['check', '--config', config, '--log-level', 'warn'], /check does not log/],
    [['demo', '--config', config], /demo writes its own config/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.match(r.stderr, /usage:/);
    assert.equal(r.stdout, '', 'nothing on stdout');
  }
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
  return port;
}

/** Starts `main.ts --config <file> ...args` and resolves once `port` accepts (log lines may be off). */
async function startQuiet(file: string, port: number, args: string[]) {
  const child = spawn(NODE, [join(ROOT, 'src/main.ts'), '--config', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (up) break;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`proxy did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, exited, out: () => stdout, err: () => stderr };
}

/** One tcp session through the proxy to a backend that answers "hi" and closes: an access line at info. */
async function oneSession(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    const s = connect(port, '127.0.0.1');
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.once('end', () => (s.end(), resolve(data)));
    s.once('error', reject);
  });
}

async function backend() {
  const server = createServer((s) => s.end('hi'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, address: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

function levels(stdout: string): number[] {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { level: number }).level);
}

test('--log-level warn: no info lines at start, on traffic, across a reload, or at the drain', async () => {
  const b = await backend();
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = writeConfig({
    admin: { listen: `127.0.0.1:${adminPort}` },
    logging: { level: 'info', access: true },
    listeners: [{ name: 'tcp', listen: `127.0.0.1:${port}`, protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: b.address }] }],
  });
  const p = await startQuiet(file, port, ['--log-level', 'warn']);
  try {
    assert.equal(await oneSession(port), 'hi');
    // the file still says info: the reload must not bring info lines back
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/v1/reload`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(await oneSession(port), 'hi');
    p.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await oneSession(port), 'hi');
  } finally {
    p.child.kill('SIGTERM');
  }
  assert.equal(await p.exited, 0, p.err());
  b.server.close();
  const below = levels(p.out()).filter((l) => l < 40);
  assert.deepEqual(below, [], `no debug/info lines:\n${p.out()}`);
});

test('--log-level info over a file that says error: info lines at start and still after a reload', async () => {
  const b = await backend();
  const [port, adminPort] = [await freePort(), await freePort()];
  const file = writeConfig({
    admin: { listen: `127.0.0.1:${adminPort}` },
    logging: { level: 'error', access: true },
    listeners: [{ name: 'tcp', listen: `127.0.0.1:${port}`, protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: b.address }] }],
  });
  const p = await startQuiet(file, port, ['--log-level', 'info']);
  try {
    const res = await fetch(`http://127.0.0.1:${adminPort}/api/v1/reload`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.equal(await oneSession(port), 'hi');
  } finally {
    p.child.kill('SIGTERM');
  }
  assert.equal(await p.exited, 0, p.err());
  b.server.close();
  const lines = p.out().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { msg: string; level: number });
  const msgs = lines.map((l) => l.msg);
  const reloaded = msgs.indexOf('config reloaded');
  assert.ok(msgs.includes('listening'), 'info at start');
  assert.ok(reloaded >= 0, 'the reload is logged at info');
  assert.ok(lines.slice(reloaded + 1).some((l) => l.level === 30), `info lines after the reload:\n${p.out()}`);
});

test('`npx fullproxy check --config` passes for every config the repository ships, one file at a time', () => {
  const dirs = ['config', 'config/examples', 'deploy/conf'];
  const files = dirs.flatMap((d) => readdirSync(join(ROOT, d)).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json')).map((f) => `${d}/${f}`));
  assert.ok(files.filter((f) => f.startsWith('config/examples/')).length >= 4, files.join(' '));
  for (const file of files) {
    const r = spawnSync('npx', ['--offline', '--no-install', 'fullproxy', 'check', '--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, `${file}: ${r.stderr}`);
    assert.equal(r.stdout, `${file}: valid\n`);
  }
});

test('`npx fullproxy check --config config/examples/*.json`, as a shell expands it: every file checked, each named; one bad file makes it exit 1', () => {
  const r = spawnSync('sh', ['-c', 'npx --offline --no-install fullproxy check --config config/examples/*.json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  const examples = readdirSync(join(ROOT, 'config/examples')).filter((f) => f.endsWith('.json')).sort();
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n').sort(), examples.map((f) => `config/examples/${f}: valid`));
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-glob-'));
  writeFileSync(join(dir, 'bad.json'), '{"listeners": []}');
  const bad = spawnSync(NODE, [join(ROOT, 'src/main.ts'), 'check', '--config', join(ROOT, 'config/examples/http.json'), join(dir, 'bad.json')], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.equal(bad.stdout, `${join(ROOT, 'config/examples/http.json')}: valid\n`);
  assert.match(bad.stderr, new RegExp(`^${join(dir, 'bad.json').replace(/[.]/g, '\\.')}: listeners: `, 'm'), 'each problem names its file');
  // Only check takes more arguments.
  assert.equal(spawnSync(NODE, [join(ROOT, 'src/main.ts'), 'run', 'extra'], { encoding: 'utf8' }).status, 2);
});

test('the package bin: `npx fullproxy` in the repository runs src/main.ts on the pinned Node', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string> };
  assert.equal(pkg.bin['fullproxy'], 'src/main.ts');
  assert.ok(readFileSync(join(ROOT, 'src/main.ts'), 'utf8').startsWith('#!/usr/bin/env node\n'));
  assert.match(pkg.dependencies['node'] ?? '', /^\^24\./, 'node@24 is a dependency: npm puts it first on PATH for the shebang');
  // --offline: the package is this directory; nothing may come from a registry.
  const r = spawnSync('npx', ['--offline', '--no-install', 'fullproxy', '--version'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) return void assert.fail(`npx: ${r.error.message}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^fullproxy \S+ \(node v24\.\d+\.\d+\)\n$/);
  const c = spawnSync('npx', ['--offline', '--no-install', 'fullproxy', 'check', '--config', 'config/fullproxy.json'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /valid/);
});

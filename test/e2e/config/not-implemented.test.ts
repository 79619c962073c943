// Keys this version does not act on are refused (SPEC "Command line": the config never lies), at
// `check`, at start and on reload, one line each with its JSON path and its position in the file;
// every row of NOT_IMPLEMENTED is started, whichever are left. Before, `pools[].healthCheck`
// passed and left a passively-downed server down for good (it is acted on since issue 16), and
// `protocol: "udp"` crashed at start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NODE, ROOT, spawnProxy } from '../../helpers/fullproxy.ts';
import { NOT_IMPLEMENTED, notImplementedMessage, UDP_NOT_IMPLEMENTED } from '../../../src/config/validate.ts';
import { freePorts } from '../../helpers/judges.ts';
import { postReload, sighup, stats } from '../../helpers/reload.ts';

/** One refused thing: a key of NOT_IMPLEMENTED (rows leave as features land), or protocol "udp". */
interface Refused {
  readonly name: string;
  readonly listener: Record<string, unknown>;
  readonly pool: Record<string, unknown>;
  readonly line: string;
}

/** Plausible values for the keys refused when this test was written; any value is refused by presence. */
const SAMPLES: Readonly<Record<string, unknown>> = { persistence: { type: 'source-ip' }, slowStart: '30s', 'limits.perClient': { maxConnections: 10 } };

function nest(key: readonly string[], value: unknown): Record<string, unknown> {
  return key.reduceRight<Record<string, unknown>>((inner, k, i) => ({ [k]: i === key.length - 1 ? value : inner }), {});
}

const REFUSED: readonly Refused[] = [
  ...NOT_IMPLEMENTED.map((row) => {
    const where = nest(row.key, SAMPLES[row.key.join('.')] ?? {});
    return {
      name: `${row.section}[].${row.key.join('.')}`,
      listener: row.section === 'listeners' ? where : {},
      pool: row.section === 'pools' ? where : {},
      line: `${row.section}[0].${row.key.join('.')}: ${notImplementedMessage(row.until)}`,
    };
  }),
  { name: 'protocol "udp"', listener: { protocol: 'udp' }, pool: {}, line: `listeners[0].protocol: ${UDP_NOT_IMPLEMENTED}` },
];

/** stderr as lines, each checked to end with its position in the file and returned without it. */
function problemLines(stderr: string): string[] {
  return stderr
    .trim()
    .split('\n')
    .map((line) => {
      assert.match(line, / \(line \d+, column \d+\)$/, 'each line says where in the file');
      return line.replace(/ \(line \d+, column \d+\)$/, '');
    });
}

function writeConfig(obj: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'fullproxy-refused-')), 'config.json');
  writeFileSync(file, JSON.stringify(obj));
  return file;
}

function config(port: number, listener: Record<string, unknown> = {}, pool: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ name: 'web', listen: `127.0.0.1:${port}`, protocol: 'tcp', pool: 'app', ...listener }],
    pools: [{ name: 'app', servers: [{ address: '127.0.0.1:1' }], ...pool }],
  };
}

const cli = (...args: string[]) => spawnSync(NODE, [join(ROOT, 'src/main.ts'), ...args], { encoding: 'utf8', timeout: 10_000 });

/**
 * Starts the proxy; resolves with its exit code and output once it exits, or after `graceMs` with
 * the code null (it kept running: the old behaviour), killing it so nothing is left behind.
 */
function start(file: string, graceMs = 3_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(NODE, [join(ROOT, 'src/main.ts'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, stdout, stderr });
    }, graceMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

for (const refused of REFUSED) {
  test(`check with ${refused.name}: exit 1, one line with its JSON path and position`, async () => {
    const [port] = await freePorts(1);
    const r = cli('check', '--config', writeConfig(config(port!, refused.listener, refused.pool)));
    assert.equal(r.status, 1, r.stdout);
    assert.deepEqual(problemLines(r.stderr), [refused.line]);
    assert.equal(r.stdout, '');
  });

  test(`start with ${refused.name}: exit 1, the line on stderr, nothing listens`, async () => {
    const [port] = await freePorts(1);
    const r = await start(writeConfig(config(port!, refused.listener, refused.pool)));
    assert.equal(r.code, 1, `exit code (null: still running)\n${r.stdout}${r.stderr}`);
    assert.deepEqual(problemLines(r.stderr), [refused.line]);
    assert.equal(r.stdout.includes('listening'), false, 'no listener was bound');
    assert.ok(await portIsFree(port!), 'the port is still free');
  });
}

test('check: the SPEC example gives exactly the lines of its fixture', () => {
  const file = join(ROOT, 'test/fixtures/config/invalid/not-implemented-spec-example.json');
  const r = cli('check', '--config', file);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, readFileSync(file.replace(/\.json$/, '.expected.txt'), 'utf8'));
});

test('start with a tls listener whose files are missing: exit 1 with the paths, never served as plaintext', async () => {
  const [port] = await freePorts(1);
  const r = await start(writeConfig(config(port!, { protocol: 'http', tls: { certificates: [{ cert: 'site.crt', key: 'site.key' }] } })));
  assert.equal(r.code, 1, `exit code (null: still running)\n${r.stdout}${r.stderr}`);
  assert.deepEqual(problemLines(r.stderr), [
    'listeners[0].tls.certificates[0].cert: cannot read site.crt: no such file or directory',
    'listeners[0].tls.certificates[0].key: cannot read site.key: no such file or directory',
  ]);
  assert.ok(await portIsFree(port!), 'the port is still free');
});

test(`reload (POST and SIGHUP) with ${REFUSED[0]!.name} is refused with the line; the running config stays`, async () => {
  const refused = REFUSED[0]!;
  const base = { admin: { listen: '127.0.0.1:0' }, ...config(0) };
  const p = await spawnProxy(base);
  try {
    const generation = (await stats(p)).config.generation;
    p.rewrite({ ...base, ...config(0, refused.listener, refused.pool) });
    const r = await postReload(p);
    assert.equal(r.status, 400);
    assert.deepEqual((r.body.errors as string[]).map((l) => l.replace(/ \(line \d+, column \d+\)$/, '')), [refused.line]);
    const after = await sighup(p);
    assert.equal(after.config.generation, generation, 'nothing applied');
    assert.equal(after.config.lastReload?.ok, false);
    assert.ok((after.config.lastReload?.error ?? '').includes(refused.line), after.config.lastReload?.error ?? 'no error');
  } finally {
    p.child.kill('SIGTERM');
    await p.exited;
  }
});

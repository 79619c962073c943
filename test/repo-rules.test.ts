// Rules of the repository that no single feature test covers: docs/errors.md (the reasons) and
// docs/metrics.md match the code, every shipped config passes `check`, and src/ keeps to strippable, typed TS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { END_REASONS, HTTP_FAILURES } from '../src/errors.ts';
import { FAILURE_STATUS } from '../src/http/status.ts';
import { METRICS } from '../src/admin/metrics.ts';
import { NODE, ROOT } from './helpers/fullproxy.ts';

function tableFirstColumn(file: string): string[] {
  return readFileSync(join(ROOT, file), 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => l.slice(3, l.indexOf('`', 3)));
}

/** The rows of docs/errors.md's "Reasons" table: reason → its cells after the name. */
function reasonRows(): Map<string, string[]> {
  const text = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const start = text.indexOf('\n## Reasons\n');
  assert.ok(start >= 0, 'docs/errors.md has a "## Reasons" section');
  const end = text.indexOf('\n## ', start + 1);
  const rows = new Map<string, string[]>();
  for (const line of text.slice(start, end < 0 ? undefined : end).split('\n')) {
    if (!line.startsWith('| `')) continue;
    const cells = line.slice(1, -1).split(' | ').map((c) => c.trim());
    const name = cells[0]!.slice(1, -1);
    assert.ok(!rows.has(name), `${name} is listed once`);
    rows.set(name, cells.slice(1));
  }
  return rows;
}

test('docs/errors.md lists exactly the reasons of src/errors.ts, each with its http status and whether it ends a session', () => {
  const rows = reasonRows();
  const names = new Set<string>([...HTTP_FAILURES, ...END_REASONS]);
  assert.deepEqual([...rows.keys()].sort(), [...names].sort());
  assert.deepEqual(Object.keys(FAILURE_STATUS).sort(), [...HTTP_FAILURES].sort(), 'every http failure has its status');
  const ends = new Set<string>(END_REASONS);
  for (const [name, cells] of rows) {
    const [meaning, http, end, counted, todo] = cells;
    assert.equal(cells.length, 5, `${name}: meaning, http, session end, counted in, what to do`);
    assert.ok(meaning !== '' && counted !== '' && todo !== '', `${name}: every cell filled`);
    const status = (FAILURE_STATUS as Readonly<Record<string, number>>)[name];
    if (status === undefined) assert.equal(http, '—', `${name}: no http answer`);
    else assert.match(http!, new RegExp(`^${status}\\b`), `${name}: the http column starts with its status (FAILURE_STATUS)`);
    assert.equal(end !== '—', ends.has(name), `${name}: the session end column is filled exactly when it is an end reason`);
  }
});

test('docs/metrics.md lists exactly the metrics of src/admin/metrics.ts, with their types', () => {
  const docs = readFileSync(join(ROOT, 'docs/metrics.md'), 'utf8');
  assert.deepEqual(tableFirstColumn('docs/metrics.md').sort(), METRICS.map((m) => m.name).sort());
  for (const m of METRICS) {
    assert.match(docs, new RegExp(`\\| \`${m.name}\` \\| ${m.type} \\|`), `${m.name} is documented as a ${m.type}`);
    assert.equal(m.type === 'counter', m.name.endsWith('_total'), `${m.name}: counters and only counters end in _total`);
  }
});

test('every config shipped (config/*.json, config/examples/*.json, deploy/conf/*.json) passes `fullproxy check`', () => {
  const json = (dir: string): string[] => readdirSync(join(ROOT, dir)).filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json')).map((f) => `${dir}/${f}`);
  const files = [...json('config'), ...json('config/examples'), ...json('deploy/conf')];
  for (const must of ['config/fullproxy.json', 'config/demo.json', 'config/container.json']) assert.ok(files.includes(must), must);
  for (const f of files) {
    const r = spawnSync(NODE, [join(ROOT, 'src/main.ts'), 'check', '--config', join(ROOT, f)], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
});

function* sources(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* sources(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

// enum, namespaces and parameter properties are also rejected by tsc (erasableSyntaxOnly); `any` is not.
test('src/ has no `any`, no enum, no namespace', () => {
  for (const file of sources(join(ROOT, 'src'))) {
    const text = readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '').replace(/\/\*[\s\S]*?\*\//g, '');
    assert.doesNotMatch(text, /:\s*any\b|<any>|as any\b/, `${file} uses any`);
    assert.doesNotMatch(text, /^\s*(export\s+)?(const\s+)?enum\s/m, `${file} uses enum`);
    assert.doesNotMatch(text, /^\s*(export\s+)?namespace\s/m, `${file} uses namespace`);
  }
});

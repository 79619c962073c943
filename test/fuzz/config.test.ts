// Fuzz target (a): the config loader, through its public entry points only (loadConfigObject,
// loadConfigFile). Inputs: the valid fixtures (test/fixtures/config/valid, config/examples) with
// values replaced, keys deleted or added (known keys, `__proto__`, random), types swapped, edge
// numbers and strings; random JSON; and the fixtures' text with byte edits, through a file.
// Properties: the loader never throws — every outcome is { ok: true, config } or { ok: false,
// errors } with at least one non-empty line per problem; the file and the object entry points
// agree on valid/invalid for the same JSON; Object.prototype is never touched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfigFile, loadConfigObject } from '../../src/config/load.ts';
import { ROOT } from '../helpers/fullproxy.ts';
import { budget, fuzz } from './fuzz-run.ts';
import { applyEdits, edit } from './mutate.ts';

interface Fixture {
  name: string;
  dir: string;
  text: string;
  value: unknown;
}

const FIXTURES: Fixture[] = ['test/fixtures/config/valid', 'config/examples'].flatMap((d) => {
  const dir = join(ROOT, d);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      return { name: `${d}/${f}`, dir, text, value: JSON.parse(text) as unknown };
    });
});

/** Keys of the schema (and a few that must never be special), drawn as often as random ones. */
const KEYS = ['listeners', 'pools', 'admin', 'logging', 'limits', 'name', 'listen', 'protocol', 'pool', 'servers', 'address', 'weight', 'maxConnections', 'backup',
  'scheduler', 'timeouts', 'connect', 'queue', 'source', 'addresses', 'portRange', 'onExhausted', 'queueTimeout', 'queueLength', 'tls', 'certificates', 'cert', 'key',
  'ca', 'verify', 'servername', 'routes', 'host', 'pathPrefix', 'sni', 'acl', 'action', 'healthCheck', 'type', 'interval', 'rise', 'fall', 'path', 'expectStatus',
  'acceptProxyProtocol', 'from', 'sendProxyProtocol', 'connectionPool', 'reuse', 'persistence', 'level', 'access', 'drainTimeout', 'maxSessions', 'onFull',
  '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', ''] as const;

const EDGE_STRINGS = ['', ' ', '0', '-1', '1s', '-1s', '0ms', '1e3ms', '999999999999h', '1.5s', '10 s', 'NaN', 'Infinity', '127.0.0.1:0', '127.0.0.1:65536',
  '[::1]:80', '[::1', ':80', 'localhost:80', '0.0.0.0:8080', '10.0.0.0/8', '::/0', '1.2.3.4/33', 'tcp', 'http', 'udp', 'rr', 'maglev', 'queue', 'reject', 'v1', 'v2', 'off',
  '.', '/nonexistent/file.pem', 'a'.repeat(300), '\u0000', '\ud800', '__proto__'] as const;

const EDGE_NUMBERS = [0, -0, -1, 1, 0.5, 255, 256, 65535, 65536, 2 ** 31, 2 ** 53, 1e308, -1e308, Number.MAX_SAFE_INTEGER] as const;

/** Values a mutation puts somewhere: edge cases, random JSON, and what JSON cannot say (the object entry point takes any value). */
const replacement: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom<unknown>(...EDGE_STRINGS, ...EDGE_NUMBERS, null, true, false, [], {}) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(undefined, Number.NaN, Number.POSITIVE_INFINITY) },
);

type ValueEdit =
  | { kind: 'replace'; node: number; value: unknown }
  | { kind: 'delete'; node: number }
  | { kind: 'add'; node: number; key: string; value: unknown }
  | { kind: 'wrap'; node: number }
  | { kind: 'dupItem'; node: number };

const valueEdit: fc.Arbitrary<ValueEdit> = fc.oneof(
  fc.record({ kind: fc.constant('replace' as const), node: fc.nat(), value: replacement }),
  fc.record({ kind: fc.constant('delete' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('add' as const), node: fc.nat(), key: fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), value: replacement }),
  fc.record({ kind: fc.constant('wrap' as const), node: fc.nat() }),
  fc.record({ kind: fc.constant('dupItem' as const), node: fc.nat() }),
);

/** The containers of a value (objects and arrays), depth first: where an edit applies. */
function containers(v: unknown, out: Array<Record<string, unknown> | unknown[]> = []): Array<Record<string, unknown> | unknown[]> {
  if (typeof v === 'object' && v !== null) {
    out.push(v as Record<string, unknown> | unknown[]);
    for (const c of Object.values(v)) containers(c, out);
  }
  return out;
}

function applyValueEdits(value: unknown, edits: readonly ValueEdit[]): unknown {
  const root = structuredClone(value);
  for (const e of edits) {
    const all = containers(root);
    const c = all[e.node % all.length]!;
    const keys = Object.keys(c);
    const k = keys.length === 0 ? undefined : keys[e.node % keys.length]!;
    const slot = c as Record<string, unknown>;
    switch (e.kind) {
      // Inserted values are copies: a generator may hand the same object (a constant) to several
      // edits, and inserting one instance twice, once inside itself, made a cycle that no JSON
      // config can have (a stack overflow in this walk, in a CI run).
      case 'replace':
        if (k !== undefined) slot[k] = structuredClone(e.value);
        break;
      case 'delete':
        if (k === undefined) break;
        if (Array.isArray(c)) c.splice(Number(k), 1);
        else delete slot[k];
        break;
      case 'add':
        if (Array.isArray(c)) c.push(structuredClone(e.value));
        // defineProperty: an own "__proto__" key, as JSON.parse makes it, not a prototype change
        else Object.defineProperty(c, e.key, { value: structuredClone(e.value), enumerable: true, writable: true, configurable: true });
        break;
      case 'wrap':
        if (k !== undefined) slot[k] = [slot[k]];
        break;
      case 'dupItem':
        if (Array.isArray(c) && c.length > 0) c.push(structuredClone(c[e.node % c.length]));
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown edit ${JSON.stringify(never)}`);
      }
    }
  }
  return root;
}

type Loaded = { ok: true } | { ok: false; errors: string[] };

/** The shape every outcome must have; returns it for comparison. */
function checked(r: unknown, what: string): Loaded {
  assert.ok(typeof r === 'object' && r !== null, `${what}: not an object`);
  const o = r as { ok: unknown; errors?: unknown; config?: unknown };
  if (o.ok === true) {
    assert.ok(typeof o.config === 'object' && o.config !== null, `${what}: ok without a config`);
    assert.ok(Object.isFrozen(o.config), `${what}: config not frozen`);
    return { ok: true };
  }
  assert.equal(o.ok, false, `${what}: ok is ${String(o.ok)}`);
  assert.ok(Array.isArray(o.errors) && o.errors.length > 0, `${what}: invalid without errors`);
  for (const line of o.errors as unknown[]) assert.ok(typeof line === 'string' && line.trim() !== '', `${what}: error line ${JSON.stringify(line)}`);
  return { ok: false, errors: o.errors as string[] };
}

const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort().join();

function prototypeUntouched(): void {
  assert.equal(Object.getOwnPropertyNames(Object.prototype).sort().join(), PROTO_KEYS, 'Object.prototype changed');
  assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
}

const tmp = mkdtempSync(join(tmpdir(), 'fullproxy-fuzz-config-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** The same JSON text through both entry points: same verdict (the file one adds positions, nothing else). */
function bothAgree(text: string, dir: string, counts: Record<string, number>): void {
  const file = join(tmp, 'config.json');
  writeFileSync(file, text);
  const viaFile = checked(loadConfigFile(file), 'loadConfigFile');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    assert.equal(viaFile.ok, false, 'invalid JSON accepted');
    counts['badJson']!++;
    return;
  }
  const viaObject = checked(loadConfigObject(parsed, dir), 'loadConfigObject');
  // The file resolves relative paths against its own directory: compare from the fixture's (copied there would change nothing else).
  if (viaFile.ok !== viaObject.ok && !text.includes('.pem') && !text.includes('.crt')) {
    assert.fail(`file says ${viaFile.ok ? 'valid' : (viaFile as { errors: string[] }).errors.join(' | ')}; object says ${viaObject.ok ? 'valid' : (viaObject as { errors: string[] }).errors.join(' | ')}`);
  }
  counts[viaFile.ok ? 'valid' : 'invalid']!++;
}

test('fuzz: mutated and random config objects → a result, never an exception', async (t) => {
  const counts = { valid: 0, invalid: 0 };
  const fixture = fc.constantFrom(...FIXTURES);
  const input = fc.oneof(
    { weight: 5, arbitrary: fc.tuple(fixture, fc.array(valueEdit, { minLength: 1, maxLength: 4 })).map(([f, edits]) => ({ dir: f.dir, value: applyValueEdits(f.value, edits) })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => ({ dir: ROOT, value: value as unknown })) },
  );
  await fuzz(
    t,
    'config objects',
    fc.property(input, ({ dir, value }) => {
      const r = checked(loadConfigObject(value, dir), 'loadConfigObject');
      counts[r.ok ? 'valid' : 'invalid']++;
      prototypeUntouched();
    }),
    budget(2),
    () => counts,
  );
  assert.ok(counts.invalid > 0 && counts.valid > 0, `both outcomes exercised: ${JSON.stringify(counts)}`);
});

test('fuzz: mutated config JSON, as objects and as text through a file → the same verdict', async (t) => {
  const counts: Record<string, number> = { valid: 0, invalid: 0, badJson: 0 };
  const fixture = fc.constantFrom(...FIXTURES);
  const TOKENS = ['{', '}', '[', ']', ',', ':', '"', '\\', '\\u0000', 'null', '"__proto__": {"polluted": 1}', '"listeners": []', '1e999', '-0', '\ufeff', '\n', '/*', '//'];
  const input = fc.oneof(
    fc.tuple(fixture, fc.array(valueEdit, { minLength: 1, maxLength: 3 })).map(([f, edits]) => ({ dir: f.dir, text: JSON.stringify(applyValueEdits(f.value, edits), null, 2) ?? 'null' })),
    fc.tuple(fixture, fc.array(edit(TOKENS), { minLength: 1, maxLength: 3 })).map(([f, edits]) => ({ dir: f.dir, text: applyEdits(Buffer.from(f.text), edits).toString('utf8') })),
  );
  await fuzz(
    t,
    'config text',
    fc.property(input, ({ dir, text }) => {
      bothAgree(text, dir, counts);
      prototypeUntouched();
    }),
    budget(2),
    () => counts,
  );
});

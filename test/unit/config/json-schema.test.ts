// config/fullproxy.schema.json (editor support, issue 18 §2): the committed file is what the zod
// schema generates today (`npm run schema` rewrites it), it offers no key the proxy refuses, its
// duration pattern accepts what the config accepts, and every config the repository ships points
// at it with a `$schema` that `check` accepts and ignores.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseDuration } from '../../../src/config/duration.ts';
import { configJsonSchema, configJsonSchemaText, DURATION_JSON_SCHEMA, SCHEMA_FILE } from '../../../src/config/json-schema.ts';
import { loadConfigFile } from '../../../src/config/load.ts';
import { NOT_IMPLEMENTED, validateConfig } from '../../../src/config/validate.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
type Json = Record<string, unknown>;

/** The object schema at `properties.a.properties.b...` (arrays: their items; unions: every branch). */
function schemasAt(schema: Json, path: readonly string[]): Json[] {
  const branches = (schema['oneOf'] ?? schema['anyOf']) as Json[] | undefined;
  if (branches !== undefined) return branches.flatMap((b) => schemasAt(b, path));
  if (schema['type'] === 'array') return schemasAt(schema['items'] as Json, path);
  const [head, ...tail] = path;
  if (head === undefined) return [schema];
  const inner = (schema['properties'] as Json | undefined)?.[head] as Json | undefined;
  return inner === undefined ? [] : schemasAt(inner, tail);
}

describe('config/fullproxy.schema.json', () => {
  it('is what `npm run schema` generates from the zod schema today', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), configJsonSchemaText(), 'the published schema is behind src/config/schema.ts or NOT_IMPLEMENTED: run `npm run schema`');
  });

  it('describes the config: required keys, closed objects, enums', () => {
    const schema = configJsonSchema();
    assert.equal(schema['$schema'], 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(schema['required'], ['listeners', 'pools']);
    assert.equal(schema['additionalProperties'], false, 'unknown keys are errors in the editor too');
    assert.deepEqual(schemasAt(schema, ['listeners'])[0]?.['required'], ['name', 'listen', 'protocol', 'pool']);
    assert.deepEqual(schemasAt(schema, ['pools', 'scheduler'])[0]?.['enum'], ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'lblc', 'lblcr', 'random', 'p2c', 'maglev']);
    assert.deepEqual(schemasAt(schema, ['$schema']), [{ type: 'string' }]);
    assert.deepEqual((schema['properties'] as Json)['drainTimeout'], DURATION_JSON_SCHEMA);
  });

  it('offers no key refused as not implemented, nor protocol "udp"', () => {
    const schema = configJsonSchema();
    for (const row of NOT_IMPLEMENTED) {
      const parent = schemasAt(schema, [row.section, ...row.key.slice(0, -1)]);
      for (const p of parent) assert.equal(Object.hasOwn((p['properties'] as Json | undefined) ?? {}, row.key.at(-1) as string), false, `${row.section}[].${row.key.join('.')}`);
    }
    assert.deepEqual(schemasAt(schema, ['listeners', 'protocol'])[0]?.['enum'], ['tcp', 'http']);
  });

  it('its duration pattern accepts exactly the strings parseDuration accepts', () => {
    const pattern = new RegExp((DURATION_JSON_SCHEMA['anyOf'] as Json[])[0]?.['pattern'] as string);
    for (const s of ['250ms', '5s', '2m', '1h', '1.5s', '0ms', '10', '5 s', '-1s', '1d', '1.s', '.5s', 's', '', '1h30m', '1S', '٣s']) {
      assert.equal(pattern.test(s), parseDuration(s) !== null, JSON.stringify(s));
    }
  });
});

describe('"$schema" in config files', () => {
  it('is accepted and ignored', () => {
    const base = { listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }], pools: [{ name: 'app', servers: [{ address: '127.0.0.1:1' }] }] };
    const r = validateConfig({ $schema: '../config/fullproxy.schema.json', ...base });
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
    assert.deepEqual(validateConfig({ $schema: 5, ...base }), { ok: false, errors: ['$schema: expected string, got 5'] });
  });

  // bench/conf holds templates ({{PORT}}), not configs: they are written elsewhere with the numbers in.
  const shipped = ['config', 'config/examples', 'deploy/conf'].flatMap((dir) =>
    readdirSync(join(REPO, dir))
      .filter((f) => f.endsWith('.json') && f !== 'fullproxy.schema.json')
      .map((f) => `${dir}/${f}`),
  );
  for (const file of shipped) {
    it(`${file} points at config/fullproxy.schema.json and passes check`, () => {
      const path = join(REPO, file);
      const config = JSON.parse(readFileSync(path, 'utf8')) as Json;
      assert.equal(typeof config['$schema'], 'string', 'no "$schema"');
      assert.equal(resolve(dirname(path), config['$schema'] as string), SCHEMA_FILE);
      const r = loadConfigFile(path);
      assert.deepEqual(r.ok ? [] : r.errors, []);
    });
  }
});

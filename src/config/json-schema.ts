// The JSON Schema of the config file, for editors (VS Code, JetBrains, vim/neovim with a JSON
// language server): completion, hover and squiggles while typing. Generated from the zod schema,
// never written by hand, and published as config/fullproxy.schema.json; `npm run schema` writes it
// and test/unit/config/json-schema.test.ts fails when the file is behind the code.
//
// What an editor is told is what `check` accepts, with two exceptions an editor cannot express: the
// cross-references (pools that exist, unique names) and values only validate.ts refuses. Keys
// refused as not implemented (NOT_IMPLEMENTED) and protocol "udp" are left out, read from the table
// at generation time, so an editor never offers a key the proxy would refuse.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as z from 'zod/mini';
import { configSchema, duration } from './schema.ts';
import { NOT_IMPLEMENTED } from './validate.ts';

type JsonSchema = Record<string, unknown>;

export const SCHEMA_FILE = fileURLToPath(new URL('../../config/fullproxy.schema.json', import.meta.url));

/** What duration.ts accepts, in JSON Schema terms (the unit pattern of parseDuration, or integer milliseconds). */
export const DURATION_JSON_SCHEMA: JsonSchema = {
  anyOf: [
    { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$' },
    { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  ],
  description: 'A duration: "250ms", "5s", "2m", "1h" (a fraction such as "1.5s" is allowed) or integer milliseconds.',
};

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The schema under `properties[key]`. */
function propertyOf(schema: JsonSchema, key: string): JsonSchema | undefined {
  const properties = schema['properties'];
  if (!isObject(properties)) return undefined;
  const inner = properties[key];
  return isObject(inner) ? inner : undefined;
}

/** Every object variant of `schema` (itself, or the branches of a discriminated union). */
function objectVariants(schema: JsonSchema): JsonSchema[] {
  const branches = schema['oneOf'] ?? schema['anyOf'];
  if (Array.isArray(branches)) return branches.filter(isObject).flatMap(objectVariants);
  return schema['type'] === 'object' ? [schema] : [];
}

/** Deletes the property at `path` (object keys) under `schema`, from `properties` and `required`. */
function removeProperty(schema: JsonSchema, path: readonly string[]): boolean {
  const [head, ...tail] = path;
  if (head === undefined) return false;
  let removed = false;
  for (const variant of objectVariants(schema)) {
    const properties = variant['properties'];
    if (!isObject(properties) || !(head in properties)) continue;
    if (tail.length > 0) {
      const inner = properties[head];
      if (isObject(inner)) removed = removeProperty(inner, tail) || removed;
      continue;
    }
    delete properties[head];
    const required = variant['required'];
    if (Array.isArray(required)) variant['required'] = required.filter((k) => k !== head);
    removed = true;
  }
  return removed;
}

/** The JSON Schema of the config file, as published. */
export function configJsonSchema(): JsonSchema {
  const generated = z.toJSONSchema(configSchema, {
    io: 'input', // what users write: durations as strings, defaults optional
    unrepresentable: 'any',
    override: (ctx) => {
      // A transform has no JSON Schema; say what it accepts.
      if (ctx.zodSchema === duration) Object.assign(ctx.jsonSchema, structuredClone(DURATION_JSON_SCHEMA));
    },
  }) as JsonSchema;
  const listener = (propertyOf(generated, 'listeners')?.['items'] ?? {}) as JsonSchema;
  const pool = (propertyOf(generated, 'pools')?.['items'] ?? {}) as JsonSchema;
  for (const row of NOT_IMPLEMENTED) {
    if (!removeProperty(row.section === 'listeners' ? listener : pool, row.key)) throw new Error(`NOT_IMPLEMENTED ${row.section}[].${row.key.join('.')} is not in the schema`);
  }
  // protocol "udp" is refused by value (validate.ts UDP_NOT_IMPLEMENTED).
  const protocol = propertyOf(listener, 'protocol');
  if (Array.isArray(protocol?.['enum'])) protocol['enum'] = protocol['enum'].filter((p) => p !== 'udp');
  const { $schema: draft, ...rest } = generated;
  return {
    $schema: draft,
    title: 'fullproxy configuration',
    description: 'The JSON config file of fullproxy (docs/configuration.md). Generated from src/config/schema.ts by `npm run schema`; do not edit.',
    ...rest,
  };
}

/** The file's text: two-space JSON and a final newline, as the other config files are written. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

if (import.meta.main) {
  writeFileSync(SCHEMA_FILE, configJsonSchemaText());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}

// Fills the templates of bench/conf/ ({{NAME}} placeholders) into the run's temp dir.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CONF_DIR = new URL('../conf/', import.meta.url);

/** Every placeholder must be given and every value must be used: a typo fails loudly. */
export function fillTemplate(template: string, values: Readonly<Record<string, string | number>>): string {
  const used = new Set<string>();
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`template placeholder {{${key}}} has no value`);
    used.add(key);
    return String(v);
  });
  for (const key of Object.keys(values)) if (!used.has(key)) throw new Error(`template value ${key} is not used`);
  return out;
}

/** Writes bench/conf/<template> filled with `values` to <dir>/<outName>; returns the path. */
export function writeConfig(dir: string, template: string, outName: string, values: Readonly<Record<string, string | number>>): string {
  const text = fillTemplate(readFileSync(new URL(template, CONF_DIR), 'utf8'), values);
  const path = join(dir, outName);
  writeFileSync(path, text);
  return path;
}

// Config file → frozen Config: read, parse JSON, validate (defaults applied), check the files it
// names, resolve relative file paths, deep-freeze. One path shared by `run`, `check` and reload, so
// all three agree on what is valid. Every problem of a file comes out of one run, each line with
// where it is written in the file (positions.ts).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.ts';
import { checkConfig, formatProblems, parseProblemLine } from './validate.ts';
import type { Problem } from './validate.ts';
import { SourceMap } from './positions.ts';
import { readFailure } from './read-failure.ts';
import { readCertificates } from '../listener/tls.ts';
import { readCaFile } from '../pool/connector.ts';

export type LoadResult = { ok: true; config: Config; path: string } | { ok: false; errors: string[] };
export type LoadObjectResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/**
 * Loads the config at `path`. Problems come back as lines: read and JSON errors name the file
 * (`<path>: cannot read: ...`, `<path>: invalid JSON: ... (line L, column C)`); the others name
 * the JSON path, then where it is in the file: `pools[0].name: required (line 7, column 5)`.
 * On success `path` is the absolute path of the file (reload reads it again from there).
 */
export function loadConfigFile(path: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`${path}: cannot read: ${readFailure(err)}`] };
  }
  // Editors on Windows save a BOM, which JSON.parse rejects; it is not part of the document.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const source = new SourceMap(text);
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`${path}: invalid JSON: ${jsonFailure(err, source)}`] };
  }
  const absolute = resolve(path);
  const loaded = load(input, dirname(absolute), source);
  return loaded.ok ? { ok: true, config: loaded.config, path: absolute } : loaded;
}

/** Validates an already-parsed config (tests pass inline objects); relative file paths resolve against `baseDir`. Lines carry no position. */
export function loadConfigObject(input: unknown, baseDir: string): LoadObjectResult {
  return load(input, baseDir, undefined);
}

function load(input: unknown, baseDir: string, source: SourceMap | undefined): LoadObjectResult {
  const checked = checkConfig(input);
  const here = (file: string): string => (isAbsolute(file) ? file : resolve(baseDir, file));
  const problems = [...checked.problems, ...fileProblems(input, checked.read, here)];
  if (checked.config === null || problems.length > 0) return { ok: false, errors: formatProblems(input, problems, source) };
  const config = checked.config; // a fresh object from zod, ours to finish before it is frozen
  for (const listener of config.listeners) {
    for (const certificate of listener.tls?.certificates ?? []) {
      certificate.cert = here(certificate.cert);
      certificate.key = here(certificate.key);
    }
  }
  for (const pool of config.pools) {
    if (pool.tls?.ca !== undefined) pool.tls.ca = here(pool.tls.ca);
  }
  return { ok: true, config: deepFreeze(config) };
}

/**
 * Certificate and CA files are checked here, the one path `check`, start and reload share, so all
 * three refuse a missing or mismatched pair (or a CA file that is not PEM) with its JSON path and
 * file (generation.ts reads them again). In the same pass as the rest of the file: every list of
 * certificates and every CA whose keys are well formed, whatever is wrong elsewhere.
 */
function fileProblems(input: unknown, read: (path: readonly (string | number)[]) => unknown, here: (file: string) => string): Problem[] {
  const lines: string[] = [];
  const items = (key: string): unknown[] => {
    const value = typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : undefined;
    return Array.isArray(value) ? value : [];
  };
  items('listeners').forEach((_, l) => {
    const certificates = read(['listeners', l, 'tls', 'certificates']);
    if (!Array.isArray(certificates)) return;
    const r = readCertificates(certificates as { cert: string; key: string }[], `listeners[${l}].tls`, here);
    if (!r.ok) lines.push(...r.errors);
  });
  items('pools').forEach((_, p) => {
    const ca = read(['pools', p, 'tls', 'ca']);
    if (typeof ca !== 'string') return;
    const r = readCaFile(here(ca), ca, `pools[${p}].tls.ca`);
    if (!r.ok) lines.push(r.error);
  });
  // Those checks word their lines themselves, path first; the path is read back to place them.
  return lines.map((line) => parseProblemLine(line) ?? { path: [], message: line });
}

/**
 * Freezes `value` and everything reachable from it. The running config is shared by every
 * listener, pool and session; freezing turns an accidental write into a TypeError (strict mode)
 * instead of a change that one part of the proxy sees and another does not (DESIGN §2.8).
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return value;
}

/**
 * V8's JSON.parse message without its "in JSON at position N (line L column C)" tail, plus our own
 * "(line L, column C)". V8 gives no position for "Unexpected token" (the likeliest mistake: a
 * `//` comment copied from the SPEC's jsonc), so the position comes from jsonc-parser's first error then.
 */
function jsonFailure(err: unknown, source: SourceMap): string {
  const raw = err instanceof Error ? err.message : String(err);
  const v8Offset = /at position (\d+)/.exec(raw)?.[1];
  let reason = raw
    .replace(/ at position \d+(?: \(line \d+ column \d+\))?$/, '')
    .replace(/ in JSON$/, '')
    .replace(/^(Unexpected token '.*?'), .* is not valid JSON$/s, '$1') // drop V8's excerpt: it may span lines
    .replace(/\s+/g, ' ');
  if (reason === '') reason = 'syntax error';
  const offset = v8Offset !== undefined ? Number(v8Offset) : source.firstSyntaxError;
  if (offset === null) return reason;
  const { line, column } = source.at(offset);
  return `${reason} (line ${line}, column ${column})`;
}

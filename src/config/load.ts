// Config file → frozen Config: read, parse JSON, validate (defaults applied), resolve relative file
// paths, deep-freeze. One path shared by `run`, `check` and reload, so all three agree on what is valid.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import type { Config } from './schema.ts';
import { validateConfig } from './validate.ts';
import { readFailure } from './read-failure.ts';
import { readCertificates } from '../listener/tls.ts';
import { readCaFile } from '../pool/connector.ts';

export type LoadResult = { ok: true; config: Config; path: string } | { ok: false; errors: string[] };
export type LoadObjectResult = { ok: true; config: Config } | { ok: false; errors: string[] };

/**
 * Loads the config at `path`. Problems come back as lines: read and JSON errors name the file
 * (`<path>: cannot read: ...`, `<path>: invalid JSON: ...`), schema errors name the JSON path.
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
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (err) {
    return { ok: false, errors: [`${path}: invalid JSON: ${jsonFailure(text, err)}`] };
  }
  const absolute = resolve(path);
  const loaded = loadConfigObject(input, dirname(absolute));
  return loaded.ok ? { ok: true, config: loaded.config, path: absolute } : loaded;
}

/** Validates an already-parsed config (tests pass inline objects); relative file paths resolve against `baseDir`. */
export function loadConfigObject(input: unknown, baseDir: string): LoadObjectResult {
  const result = validateConfig(input);
  if (!result.ok) return result;
  const config = result.config; // a fresh object from zod, ours to finish before it is frozen
  const here = (file: string): string => (isAbsolute(file) ? file : resolve(baseDir, file));
  // Certificate and CA files are checked here, the one path `check`, start and reload share, so all
  // three refuse a missing or mismatched pair (or a CA file that is not PEM) with its JSON path and
  // file (generation.ts reads them again).
  const errors: string[] = [];
  config.listeners.forEach((listener, l) => {
    if (listener.tls === undefined) return;
    const r = readCertificates(listener.tls.certificates, `listeners[${l}].tls`, here);
    if (!r.ok) errors.push(...r.errors);
  });
  config.pools.forEach((pool, p) => {
    const ca = pool.tls?.ca;
    if (ca === undefined) return;
    const r = readCaFile(here(ca), ca, `pools[${p}].tls.ca`);
    if (!r.ok) errors.push(r.error);
  });
  if (errors.length > 0) return { ok: false, errors };
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
 * "at line L, column C". V8 gives no position for "Unexpected token" (the likeliest mistake: a
 * `//` comment copied from the SPEC's jsonc), so the position comes from jsonErrorOffset() then.
 */
function jsonFailure(text: string, err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  const v8Offset = /at position (\d+)/.exec(raw)?.[1];
  let reason = raw
    .replace(/ at position \d+(?: \(line \d+ column \d+\))?$/, '')
    .replace(/ in JSON$/, '')
    .replace(/^(Unexpected token '.*?'), .* is not valid JSON$/s, '$1') // drop V8's excerpt: it may span lines
    .replace(/\s+/g, ' ');
  if (reason === '') reason = 'syntax error';
  const offset = v8Offset !== undefined ? Number(v8Offset) : jsonErrorOffset(text);
  if (offset === null) return reason;
  const { line, column } = lineColumn(text, offset);
  return `${reason} at line ${line}, column ${column}`;
}

/** 1-based line and column (in UTF-16 code units) of `offset` in `text`. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: end - lineStart + 1 };
}

/**
 * Offset of the first character that makes `text` invalid JSON (RFC 8259), or null when it is
 * valid. Only called after JSON.parse has failed, to say where; it checks the grammar and builds nothing.
 */
export function jsonErrorOffset(text: string): number | null {
  let i = 0;
  const fail = (): never => {
    throw new JsonSyntaxAt(i);
  };
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
  const digits = (): void => {
    if (!isDigit(text[i])) fail();
    while (isDigit(text[i])) i++;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else fail();
      }
    } else if (c === '"') {
      string();
    } else if (c === '-' || isDigit(c)) {
      if (text[i] === '-') i++;
      if (text[i] === '0') i++;
      else digits();
      if (text[i] === '.') {
        i++;
        digits();
      }
      if (text[i] === 'e' || text[i] === 'E') {
        i++;
        if (text[i] === '+' || text[i] === '-') i++;
        digits();
      }
    } else {
      for (const word of ['true', 'false', 'null']) {
        if (text.startsWith(word, i)) {
          i += word.length;
          return;
        }
      }
      fail();
    }
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail();
      const code = text.charCodeAt(i);
      if (code === 0x22) {
        i++;
        return;
      }
      if (code < 0x20) fail();
      if (code === 0x5c) {
        i++;
        const e = text[i];
        if (e === 'u') {
          for (let k = 0; k < 4; k++) {
            i++;
            if (!/[0-9A-Fa-f]/.test(text[i] ?? '')) fail();
          }
        } else if (e === undefined || !'"\\/bfnrt'.includes(e)) fail();
      }
      i++;
    }
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return null;
  } catch (err) {
    if (err instanceof JsonSyntaxAt) return err.offset;
    throw err;
  }
}

class JsonSyntaxAt extends Error {
  readonly offset: number;
  constructor(offset: number) {
    super(`JSON syntax error at ${offset}`);
    this.offset = offset;
  }
}

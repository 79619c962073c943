// unknown → Config: every problem of a config as one line "json.path: message" (SPEC "Command line"),
// all of them at once so one `fullproxy check` run shows everything to fix (DESIGN §2.8); with the
// file's text (load.ts), each line ends with where the problem is written: " (line L, column C)".
//
// One pass over three kinds of problem. First, keys this version does not act on yet are refused,
// one line each, and taken out so nothing inside them is reported (NOT_IMPLEMENTED). Then the zod
// schema (types, ranges, unknown keys, defaults). Then the cross-references a schema cannot see
// (names unique, pools that exist, keys that only make sense for one protocol), read from the
// user's input wherever it is well formed: a route to a missing pool is reported beside a bad
// duration elsewhere, but a reference is never checked against a value that is itself wrong (a pool
// whose name did not parse makes every "no pool named" a guess, so none is said). Messages are
// worded here, in one place, through a parse-level error map: zod's own English ("Invalid input:
// expected number, received string") never reaches users, while the few messages schema.ts words
// itself ("expected host:port, got ...") take precedence.
import { isIP } from 'node:net';
import type * as z from 'zod/mini';
import { formatHostPort, parseHostPort } from '../net/address.ts';
import { DEFAULTS } from './defaults.ts';
import { configSchema } from './schema.ts';
import type { Config } from './schema.ts';
import type { Anchor, PathKey, SourceMap } from './positions.ts';

export type ValidationResult = { ok: true; config: Config } | { ok: false; errors: string[] };

export interface Problem {
  readonly path: readonly PathKey[];
  readonly message: string;
  /** "key": the line points at the key (unknown and refused keys), not at its value. */
  readonly anchor?: Anchor;
}

/** What one pass found: the config when there is no problem at all, and every problem. */
export interface Checked {
  readonly config: Config | null;
  readonly problems: readonly Problem[];
  /** The value at `path` when it is well formed (no problem at, above or under it), else undefined: for checks after this pass (load.ts reads the files it names). */
  readonly read: (path: readonly PathKey[]) => unknown;
}

/** Validates `input` (parsed JSON) and applies defaults; on failure every problem, one line each, in document order (with positions when `source` is the file it came from). */
export function validateConfig(input: unknown, source?: SourceMap): ValidationResult {
  const { config, problems } = checkConfig(input);
  if (config !== null) return { ok: true, config };
  return { ok: false, errors: formatProblems(input, problems, source) };
}

/** The one pass: refused keys (`notImplemented`: tests of the mechanism bring their own), schema, cross-references. */
export function checkConfig(input: unknown, notImplemented: readonly NotImplemented[] = NOT_IMPLEMENTED): Checked {
  // Refused keys are taken out before the schema sees them: one line each, never also their inner
  // errors, and the rest of the file is still checked in the same pass.
  const { rest, refused } = refuseNotImplemented(input, notImplemented);
  const parsed = configSchema.safeParse(rest, { error: describeIssue });
  const found = [...refused, ...(parsed.success ? [] : parsed.error.issues.flatMap(toProblems))];
  const reader = new InputReader(input, found);
  const problems = [...found, ...crossReferences(reader)];
  return {
    config: parsed.success && problems.length === 0 ? parsed.data : null,
    problems,
    read: (path) => {
      const value = reader.get(path);
      return value === ILL_FORMED ? undefined : value;
    },
  };
}

/** `["pools", 0, "servers", 2, "address"]` → `pools[0].servers[2].address`; the empty path is `(root)`. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'symbol') out += `[${String(key)}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`; // a typo'd key with a space or dot must stay readable and unambiguous
  }
  return out;
}

/**
 * A line `json.path: message` back into a Problem (the lines of the certificate and CA file
 * checks, listener/tls.ts and pool/connector.ts, word themselves), or null when it does not start
 * with a path as formatPath() writes it.
 */
export function parseProblemLine(line: string): Problem | null {
  const path: PathKey[] = [];
  // Sticky: each segment must start where the last one ended. A name is bare first, after a dot later.
  const segment = /([A-Za-z_$][A-Za-z0-9_$]*)|\.([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;
  while (!line.startsWith(': ', segment.lastIndex)) {
    const first = segment.lastIndex === 0;
    const m = segment.exec(line);
    if (m === null || (m[1] !== undefined && !first) || (m[2] !== undefined && first)) return null;
    const name = m[1] ?? m[2];
    if (name !== undefined) path.push(name);
    else if (m[3] !== undefined) path.push(Number(m[3]));
    else path.push(JSON.parse(m[4] as string) as string);
  }
  return path.length > 0 ? { path, message: line.slice(segment.lastIndex + 2) } : null;
}

// ---------------------------------------------------------------------------------------------
// Pass 0: keys the schema describes but this version does not act on. SPEC "Command line": such a
// key is an error at `check` and at start, never silently ignored (a `tls` block served as
// plaintext is a lie). The schema keeps their shape (what they will be, the types the code that
// acts on them will read); they are refused here, by presence, until the feature lands: then its
// row goes from this table, and docs/configuration.md drops its "(not implemented yet: refused)".

/** A key of every listener or every pool that is refused, and the feature and issue that will bring it. */
export interface NotImplemented {
  readonly section: 'listeners' | 'pools';
  /** Path inside one listener or pool: `["limits", "perClient"]`. */
  readonly key: readonly string[];
  /** Named in the message: "active health checks: issue 16". */
  readonly until: string;
}

export const NOT_IMPLEMENTED: readonly NotImplemented[] = [
];

/** `protocol: "udp"` is a value, not a key: the listener is refused at its `protocol`. No open issue brings udp. */
export const UDP_NOT_IMPLEMENTED = '"udp" not implemented yet (udp listeners: no open issue plans them); use "tcp" or "http"';

export function notImplementedMessage(until: string): string {
  return `not implemented yet (${until}); remove it`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The input without the refused keys (copied where it changes: the caller's object stays as it is),
 * and one problem per refused key. Anything not shaped as expected is left to the schema to report.
 */
function refuseNotImplemented(input: unknown, notImplemented: readonly NotImplemented[]): { rest: unknown; refused: Problem[] } {
  const refused: Problem[] = [];
  if (!isPlainObject(input)) return { rest: input, refused };
  const root: Record<string, unknown> = { ...input };
  for (const section of ['listeners', 'pools'] as const) {
    const items = root[section];
    if (!Array.isArray(items)) continue;
    root[section] = items.map((item: unknown, i) => {
      if (!isPlainObject(item)) return item;
      const copy: Record<string, unknown> = { ...item };
      if (section === 'listeners' && copy['protocol'] === 'udp') refused.push({ path: [section, i, 'protocol'], message: UDP_NOT_IMPLEMENTED });
      for (const rule of notImplemented) {
        if (rule.section === section) removeKey(copy, rule.key, () => refused.push({ path: [section, i, ...rule.key], message: notImplementedMessage(rule.until), anchor: 'key' }));
      }
      return copy;
    });
  }
  return { rest: root, refused };
}

/** Deletes `key` (a path) from `object`, copying the objects on the way so no caller's object changes; calls `found` when it was there. */
function removeKey(object: Record<string, unknown>, key: readonly string[], found: () => void): void {
  const [head, ...tail] = key;
  if (head === undefined || !Object.hasOwn(object, head)) return;
  if (tail.length === 0) {
    delete object[head];
    found();
    return;
  }
  const inner = object[head];
  if (!isPlainObject(inner)) return;
  const copy = { ...inner };
  object[head] = copy;
  removeKey(copy, tail, found);
}

// ---------------------------------------------------------------------------------------------
// Pass 1: zod issues → messages.

/** A value as it appears in a message: JSON, shortened so one line stays one readable line. */
function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value); // JSON would say null
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value); // cycles or BigInt from loadConfigObject callers
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function defOf(schema: unknown): Record<string, unknown> | undefined {
  if (typeof schema !== 'object' || schema === null || !('_zod' in schema)) return undefined;
  const internals = schema._zod;
  if (typeof internals !== 'object' || internals === null || !('def' in internals)) return undefined;
  const def = internals.def;
  return typeof def === 'object' && def !== null ? (def as Record<string, unknown>) : undefined;
}

/** z.int() is a number schema with an integer format; users should read "integer", not "number". */
function isIntegerSchema(schema: unknown): boolean {
  const format = defOf(schema)?.['format'];
  return format === 'safeint' || format === 'int32' || format === 'uint32';
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  int: 'integer',
  tuple: 'array',
  boolean: 'true or false',
};

function plural(n: number | bigint, one: string, many: string): string {
  return `${n} ${n === 1 || n === 1n ? one : many}`;
}

/** The parse-level error map: each issue worded "expected X, got Y" (or "required"). */
function describeIssue(issue: z.core.$ZodRawIssue): string {
  // A key the user did not write: whatever its type, the one thing to say is that it is needed.
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) return 'required';
  const got = `, got ${show(issue.input)}`;
  switch (issue.code) {
    case 'invalid_type': {
      const name = issue.expected === 'number' && isIntegerSchema(issue.schema ?? issue.inst) ? 'integer' : (TYPE_NAMES[issue.expected] ?? issue.expected);
      return `expected ${name}${got}`;
    }
    case 'invalid_value':
      return issue.values.length === 1 ? `expected ${show(issue.values[0])}${got}` : `expected one of ${issue.values.map(show).join(', ')}${got}`;
    case 'too_small':
    case 'too_big': {
      const small = issue.code === 'too_small';
      const bound = small ? issue.minimum : issue.maximum;
      const exact = issue.exact === true || defOf(issue.schema)?.['type'] === 'tuple';
      switch (issue.origin) {
        case 'array':
          if (exact) return `expected ${plural(bound, 'item', 'items')}${got}`;
          if (small && Number(bound) === 1) return `expected a non-empty array${got}`;
          return `expected ${small ? 'at least' : 'at most'} ${plural(bound, 'item', 'items')}${got}`;
        case 'string':
          if (small && Number(bound) === 1) return `expected a non-empty string${got}`;
          return `expected ${small ? 'at least' : 'at most'} ${plural(bound, 'character', 'characters')}${got}`;
        default: {
          const kind = issue.origin === 'int' || isIntegerSchema(issue.schema) ? 'an integer' : 'a number';
          const op = small ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
          return `expected ${kind} ${op} ${bound}${got}`;
        }
      }
    }
    case 'invalid_format':
      if (issue.format === 'starts_with' && typeof issue['prefix'] === 'string') return `expected a string starting with ${show(issue['prefix'])}${got}`;
      if (issue.format === 'regex' && issue.pattern !== undefined) return `expected a string matching ${issue.pattern}${got}`;
      return `expected ${issue.format}${got}`;
    case 'not_multiple_of':
      return `expected a multiple of ${issue.divisor}${got}`;
    case 'unrecognized_keys':
      return 'unknown key'; // expanded to one line per key in toProblems()
    case 'invalid_union': {
      if (issue.discriminator !== undefined) {
        // zod points the path at the tag ("healthCheck.type") but hands us the whole object.
        const tag = typeof issue.input === 'object' && issue.input !== null ? (issue.input as Record<string, unknown>)[issue.discriminator] : undefined;
        if (tag === undefined) return 'required';
        const options: unknown = issue['options'];
        return `expected one of ${Array.isArray(options) ? options.map(show).join(', ') : '?'}, got ${show(tag)}`;
      }
      // A plain union (tcpKeepAlive: false | duration): each branch already said "expected A, got V";
      // join the A parts so the user sees every accepted form in one line.
      const expected: string[] = [];
      for (const branch of issue.errors) {
        for (const inner of branch) {
          if (inner.path.length !== 0) continue;
          let text = inner.message;
          if (text.endsWith(got)) text = text.slice(0, -got.length);
          expected.push(text.startsWith('expected ') ? text.slice('expected '.length) : text);
        }
      }
      return expected.length > 0 ? `expected ${expected.join(' or ')}${got}` : `invalid value${got}`;
    }
    case 'invalid_key':
    case 'invalid_element':
    case 'custom':
      return `invalid value${got}`;
    default: {
      const unreachable: never = issue;
      return `invalid value, got ${show((unreachable as { input?: unknown }).input)}`;
    }
  }
}

/** zod reports unknown keys once at the parent with a list; users want one line per key, at the key. */
function toProblems(issue: z.core.$ZodIssue): Problem[] {
  const path = issue.path.filter((k): k is PathKey => typeof k !== 'symbol');
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown key', anchor: 'key' as const }));
  return [{ path, message: issue.message }];
}

// ---------------------------------------------------------------------------------------------
// Document order: problems sorted by where they sit in the user's file, so the list reads top to
// bottom like the file. With the file's text, by the offset each line names (a key the user did not
// write, "required", points at the object it belongs in). Without it (an inline object), by the
// input's own key order, a key the user did not write after its siblings. The sort is stable, so
// ties keep the order the problems were found in.

function keyOrder(input: unknown, path: readonly PathKey[]): number[] {
  const out: number[] = [];
  let node: unknown = input;
  for (const key of path) {
    let pos = Number.POSITIVE_INFINITY;
    let next: unknown;
    if (Array.isArray(node) && typeof key === 'number') {
      pos = key;
      next = node[key];
    } else if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
      const index = Object.keys(node).indexOf(String(key));
      if (index >= 0) {
        pos = index;
        next = (node as Record<string, unknown>)[String(key)];
      }
    }
    out.push(pos);
    node = next;
  }
  return out;
}

function compareDocumentOrder(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length - b.length; // a problem with an object comes before problems inside it
}

/** Problems → lines `json.path: message`, plus ` (line L, column C)` when `source` is the text `input` was parsed from; sorted, each line once. */
export function formatProblems(input: unknown, problems: readonly Problem[], source?: SourceMap): string[] {
  const keyed = problems.map((p) => {
    const line = `${formatPath(p.path)}: ${p.message}`;
    if (source === undefined) return { order: keyOrder(input, p.path), line };
    const at = source.locate(p.path, p.anchor);
    return { order: [at.offset], line: `${line} (line ${at.line}, column ${at.column})` };
  });
  keyed.sort((a, b) => compareDocumentOrder(a.order, b.order));
  return [...new Set(keyed.map((k) => k.line))];
}

// ---------------------------------------------------------------------------------------------
// Pass 2: cross-references, on the user's input where it is well formed.

/** A value cross-references may not read: absent would be a claim ("no pool named"), so it is neither. */
const ILL_FORMED = Symbol('ill-formed');

function isPrefix(short: readonly PathKey[], long: readonly PathKey[]): boolean {
  return short.length <= long.length && short.every((key, i) => key === long[i]);
}

/**
 * The parsed JSON as the cross-references read it: a value only where the first passes found no
 * problem at it, above it or inside it, so the schema has vouched for its type and range. What is
 * read is what the user wrote (none of the keys read here has a transform); defaults are the
 * caller's. Reading the input rather than zod's output is what lets references be checked while
 * other parts of the file are wrong: zod gives no output then.
 */
class InputReader {
  readonly #input: unknown;
  readonly #bad: readonly (readonly PathKey[])[];

  constructor(input: unknown, problems: readonly Problem[]) {
    this.#input = input;
    this.#bad = problems.map((p) => p.path);
  }

  /** No problem at, above or under `path`. */
  wellFormed(path: readonly PathKey[]): boolean {
    return !this.#bad.some((b) => isPrefix(b, path) || isPrefix(path, b));
  }

  #raw(path: readonly PathKey[]): unknown {
    let node: unknown = this.#input;
    for (const key of path) {
      if (typeof node !== 'object' || node === null) return undefined;
      node = Object.hasOwn(node, key) ? (node as Record<PathKey, unknown>)[key] : undefined;
    }
    return node;
  }

  /** The well-formed value at `path` (undefined: an optional key left out), or ILL_FORMED. */
  get(path: readonly PathKey[]): unknown {
    return this.wellFormed(path) ? this.#raw(path) : ILL_FORMED;
  }

  /** A well-formed string at `path`, or undefined (absent or ill formed). */
  string(path: readonly PathKey[]): string | undefined {
    const value = this.get(path);
    return typeof value === 'string' ? value : undefined;
  }

  /** Whether the user wrote `path` (well formed or not) inside a container that is itself well typed. */
  written(path: readonly PathKey[]): boolean {
    return this.#raw(path) !== undefined && !this.#bad.some((b) => b.length < path.length && isPrefix(b, path));
  }

  /** Indices of the array at `path` when there is one (its items may hold problems). */
  indices(path: readonly PathKey[]): number[] {
    const value = this.#raw(path);
    if (!Array.isArray(value) || this.#bad.some((b) => isPrefix(b, path))) return [];
    return value.map((_, i) => i);
  }
}

/** Hosts compared as the kernel sees them: case-insensitive names, IPv6 in its canonical short form. */
function canonicalHost(host: string): string {
  return isIP(host) === 6 ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host.toLowerCase();
}

/** An address a listener (or the admin API) binds; tcp and udp ports are separate spaces, http listens on tcp. */
interface Binding {
  readonly transport: 'tcp' | 'udp';
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly owner: string;
}

function binding(address: string, transport: 'tcp' | 'udp', owner: readonly PathKey[]): Binding | null {
  const ep = parseHostPort(address, true);
  // Port 0 asks the kernel for a fresh port each time, so any number of listeners may use it (tests do).
  if (ep === null || ep.port === 0) return null;
  return { transport, host: canonicalHost(ep.host), port: ep.port, address, owner: formatPath(owner) };
}

/**
 * Would the second bind fail with EADDRINUSE? Same address, or a wildcard under it: "0.0.0.0" takes
 * the port on every IPv4 address, and Node binds "::" dual-stack, so it takes every address.
 */
function overlaps(a: Binding, b: Binding): boolean {
  if (a.transport !== b.transport || a.port !== b.port) return false;
  if (a.host === b.host) return true;
  const covers = (wide: Binding, narrow: Binding): boolean => wide.host === '::' || (wide.host === '0.0.0.0' && isIP(narrow.host) === 4);
  return covers(a, b) || covers(b, a);
}

function crossReferences(input: InputReader): Problem[] {
  const problems: Problem[] = [];
  const add = (path: readonly PathKey[], message: string): void => {
    problems.push({ path, message });
  };

  const poolNames = new Set<string>();
  // "no pool named X" only when every pool's name is known: a pool whose name is missing or wrong
  // may be the one meant, and its own line already says what to fix.
  const pools = input.indices(['pools']);
  let everyPoolNamed = pools.length > 0;
  for (const p of pools) {
    const at = (...rest: PathKey[]): PathKey[] => ['pools', p, ...rest];
    const name = input.string(at('name'));
    if (name === undefined) everyPoolNamed = false;
    else {
      if (poolNames.has(name)) add(at('name'), `duplicate name ${show(name)}`);
      poolNames.add(name);
    }

    const seen = new Set<string>();
    for (const s of input.indices(at('servers'))) {
      const address = input.string(at('servers', s, 'address'));
      const ep = address === undefined ? null : parseHostPort(address);
      if (ep === null) continue;
      const key = formatHostPort(canonicalHost(ep.host), ep.port);
      if (seen.has(key)) add(at('servers', s, 'address'), `duplicate server ${show(address)}`);
      seen.add(key);
    }
    // Backups serve only when no primary is up (SPEC "Health"); with no primary the pool would
    // silently run on backups forever, which is never what was meant. Only said of a servers list
    // that is well formed through and through (an empty one, or a typo'd "backup", says so itself).
    const servers = input.get(at('servers'));
    if (Array.isArray(servers) && servers.length > 0 && servers.every((server: { backup?: boolean }) => server.backup === true)) {
      add(at('servers'), 'expected at least one server with "backup": false, got only backups');
    }
    // SNI carries host names only (RFC 6066 §3); without `servername` an IP server's certificate is checked against its address.
    const sni = input.string(at('tls', 'servername'));
    if (sni !== undefined && isIP(sni) !== 0) add(at('tls', 'servername'), `expected a host name, got the IP address ${show(sni)} (SNI carries names only; leave servername out to check the certificate against the server's address)`);
  }
  const poolExists = (path: readonly PathKey[]): void => {
    const pool = input.string(path);
    if (everyPoolNamed && pool !== undefined && !poolNames.has(pool)) add(path, `no pool named ${show(pool)}`);
  };

  const listenerNames = new Set<string>();
  /** Pools a tcp listener sends sessions to (its pool, its SNI routes' pools) → that listener's index: no cookie persistence there. */
  const tcpPools = new Map<string, number>();
  // Addresses bound so far, the admin API's first: it listens on tcp too and must not collide with a listener.
  const bound: Binding[] = [];
  const adminListen = input.written(['admin']) ? input.get(['admin', 'listen']) : ILL_FORMED;
  if (adminListen !== ILL_FORMED) {
    const admin = binding(typeof adminListen === 'string' ? adminListen : DEFAULTS.admin.listen, 'tcp', ['admin']);
    if (admin !== null) bound.push(admin);
  }
  for (const l of input.indices(['listeners'])) {
    const at = (...rest: PathKey[]): PathKey[] => ['listeners', l, ...rest];
    const name = input.string(at('name'));
    if (name !== undefined) {
      if (listenerNames.has(name)) add(at('name'), `duplicate name ${show(name)}`);
      listenerNames.add(name);
    }

    poolExists(at('pool'));
    const routes = input.indices(at('routes'));
    for (const r of routes) poolExists(at('routes', r, 'pool'));

    // The rest depends on the protocol: not said of a listener whose protocol is wrong or refused.
    const protocol = input.get(at('protocol'));
    if (protocol !== 'tcp' && protocol !== 'http' && protocol !== 'udp') continue;
    if (protocol === 'tcp') {
      for (const path of [at('pool'), ...routes.map((r) => at('routes', r, 'pool'))]) {
        const pool = input.string(path);
        if (pool !== undefined && !tcpPools.has(pool)) tcpPools.set(pool, l);
      }
    }

    const listen = input.string(at('listen'));
    const mine = listen === undefined ? null : binding(listen, protocol === 'udp' ? 'udp' : 'tcp', at());
    if (mine !== null) {
      const other = bound.find((b) => overlaps(b, mine));
      if (other === undefined) bound.push(mine);
      else if (other.host === mine.host) add(at('listen'), `duplicate address ${show(mine.address)} (also used by ${other.owner})`);
      else add(at('listen'), `address ${show(mine.address)} overlaps ${show(other.address)} of ${other.owner}`);
    }

    // HTTP/2 to clients is not there yet: an http listener offering h2 would hand h2 frames to the
    // HTTP/1.1 parser. A tcp listener may offer it: its server speaks whatever it was given.
    if (protocol === 'http') {
      for (const i of input.indices(at('tls', 'alpn'))) {
        if (input.get(at('tls', 'alpn', i)) === 'h2') add(at('tls', 'alpn', i), '"h2" not implemented yet (HTTP/2 to clients: no open issue yet); use "http/1.1"');
      }
    }
    // Routes: host/pathPrefix on http listeners; sni on tcp listeners that do not terminate TLS
    // (passthrough: the ClientHello is read, not answered).
    const isSet = (path: readonly PathKey[]): boolean => {
      const value = input.get(path);
      return value !== undefined && value !== ILL_FORMED;
    };
    for (const r of routes) {
      const route = (key: string): PathKey[] => at('routes', r, key);
      if (protocol === 'http' && isSet(route('sni'))) add(route('sni'), 'only for protocol "tcp" (SNI passthrough); an http listener routes by host and pathPrefix');
      if (protocol === 'tcp') {
        if (isSet(route('host'))) add(route('host'), 'only for protocol "http"; a tcp listener routes by sni');
        if (isSet(route('pathPrefix'))) add(route('pathPrefix'), 'only for protocol "http"; a tcp listener routes by sni');
        const sni = input.get(route('sni'));
        // Not said of a route with a problem of its own: a typo'd "sin" is the thing to fix.
        if (sni === undefined && input.wellFormed(at('routes', r))) add(route('sni'), 'required on a tcp listener');
        if (input.written(at('tls')) && typeof sni === 'string') add(route('sni'), 'SNI passthrough reads the ClientHello without terminating TLS: not with a tls block on the same listener');
      }
    }
    if (protocol !== 'http') {
      if (routes.length > 0 && protocol !== 'tcp') add(at('routes'), 'only for protocol "http" or "tcp"');
      const xff = input.get(at('forwardedHeaders', 'xForwardedFor'));
      const trusted = input.get(at('forwardedHeaders', 'trustedProxies'));
      if ((typeof xff === 'string' && xff !== DEFAULTS.listener.forwardedHeaders.xForwardedFor) || (Array.isArray(trusted) && trusted.length > 0)) add(at('forwardedHeaders'), 'only for protocol "http"');
      // Any value, the default too: a tcp listener never reads a header, and the config never lies.
      if (isSet(at('underscoresInHeaders'))) add(at('underscoresInHeaders'), 'only for protocol "http"');
    }
  }
  // A tcp session carries no cookie: cookie persistence on a pool a tcp listener uses would be
  // silently ignored there (the config never lies).
  for (const p of pools) {
    const name = input.string(['pools', p, 'name']);
    const l = name === undefined ? undefined : tcpPools.get(name);
    if (l !== undefined && input.get(['pools', p, 'persistence', 'type']) === 'cookie') {
      add(['pools', p, 'persistence', 'type'], `"cookie" needs http listeners, and tcp listener listeners[${l}] uses pool ${show(name)}; use "source-ip" (or a pool of its own)`);
    }
  }

  return problems;
}

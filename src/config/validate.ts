// unknown → Config: every problem of a config as one line "json.path: message" (SPEC "Command line"),
// all of them at once so one `fullproxy check` run shows everything to fix (DESIGN §2.8).
//
// Two passes: the zod schema (types, ranges, unknown keys, defaults), then — only when the shape is
// right — the cross-references a schema cannot see (names unique, pools that exist, keys that only
// make sense for one protocol). Before both, keys this version does not act on yet are refused, one
// line each, and taken out so neither pass reports what is inside them (NOT_IMPLEMENTED). Messages are worded here, in one place, through a parse-level error
// map: zod's own English ("Invalid input: expected number, received string") never reaches users,
// while the few messages schema.ts words itself ("expected host:port, got ...") take precedence.
import { isIP } from 'node:net';
import type * as z from 'zod';
import { formatHostPort, parseHostPort } from '../net/address.ts';
import { DEFAULTS } from './defaults.ts';
import { configSchema } from './schema.ts';
import type { Config } from './schema.ts';

export type ValidationResult = { ok: true; config: Config } | { ok: false; errors: string[] };

type PathKey = string | number;

interface Problem {
  readonly path: readonly PathKey[];
  readonly message: string;
}

/** Validates `input` (parsed JSON) and applies defaults; on failure every problem, one line each, in document order. */
export function validateConfig(input: unknown): ValidationResult {
  // Refused keys are taken out before the schema sees them: one line each, never also their inner
  // errors, and the rest of the file is still checked (cross-references too) in the same pass.
  const { rest, refused } = refuseNotImplemented(input);
  const parsed = configSchema.safeParse(rest, { error: describeIssue });
  if (!parsed.success) return { ok: false, errors: toLines(input, [...refused, ...parsed.error.issues.flatMap(toProblems)]) };
  const problems = [...refused, ...crossReferences(parsed.data)];
  if (problems.length > 0) return { ok: false, errors: toLines(input, problems) };
  return { ok: true, config: parsed.data };
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
  { section: 'pools', key: ['persistence'], until: 'persistence: issue 16' },
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
function refuseNotImplemented(input: unknown): { rest: unknown; refused: Problem[] } {
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
      for (const rule of NOT_IMPLEMENTED) {
        if (rule.section === section) removeKey(copy, rule.key, () => refused.push({ path: [section, i, ...rule.key], message: notImplementedMessage(rule.until) }));
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
  if (issue.code === 'unrecognized_keys') return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown key' }));
  return [{ path, message: issue.message }];
}

// ---------------------------------------------------------------------------------------------
// Document order: problems sorted by where they sit in the user's file, so the list reads top to
// bottom like the file. Positions come from the input's own key order; a key the user did not write
// (a "required" one) sorts after its siblings. The sort is stable, so ties keep the schema's order.

function positions(input: unknown, path: readonly PathKey[]): number[] {
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

function toLines(input: unknown, problems: readonly Problem[]): string[] {
  const keyed = problems.map((p) => ({ pos: positions(input, p.path), line: `${formatPath(p.path)}: ${p.message}` }));
  keyed.sort((a, b) => compareDocumentOrder(a.pos, b.pos));
  return [...new Set(keyed.map((k) => k.line))];
}

// ---------------------------------------------------------------------------------------------
// Pass 2: cross-references, on the parsed config (defaults applied, durations in ms).

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

function crossReferences(config: Config): Problem[] {
  const problems: Problem[] = [];
  const add = (path: readonly PathKey[], message: string): void => {
    problems.push({ path, message });
  };

  const poolNames = new Set<string>();
  config.pools.forEach((pool, p) => {
    if (poolNames.has(pool.name)) add(['pools', p, 'name'], `duplicate name ${show(pool.name)}`);
    poolNames.add(pool.name);

    const seen = new Set<string>();
    pool.servers.forEach((server, s) => {
      const ep = parseHostPort(server.address);
      const key = ep === null ? server.address : formatHostPort(canonicalHost(ep.host), ep.port);
      if (seen.has(key)) add(['pools', p, 'servers', s, 'address'], `duplicate server ${show(server.address)}`);
      seen.add(key);
    });
    // Backups serve only when no primary is up (SPEC "Health"); with no primary the pool would
    // silently run on backups forever, which is never what was meant.
    if (pool.servers.every((server) => server.backup)) add(['pools', p, 'servers'], 'expected at least one server with "backup": false, got only backups');
    // SNI carries host names only (RFC 6066 §3); without `servername` an IP server's certificate is checked against its address.
    const sni = pool.tls?.servername;
    if (sni !== undefined && isIP(sni) !== 0) add(['pools', p, 'tls', 'servername'], `expected a host name, got the IP address ${show(sni)} (SNI carries names only; leave servername out to check the certificate against the server's address)`);
  });

  const listenerNames = new Set<string>();
  // Addresses bound so far, the admin API's first: it listens on tcp too and must not collide with a listener.
  const bound: Binding[] = [];
  const adminBinding = config.admin === undefined ? null : binding(config.admin.listen, 'tcp', ['admin']);
  if (adminBinding !== null) bound.push(adminBinding);
  config.listeners.forEach((listener, l) => {
    const at = (...rest: PathKey[]): PathKey[] => ['listeners', l, ...rest];
    if (listenerNames.has(listener.name)) add(at('name'), `duplicate name ${show(listener.name)}`);
    listenerNames.add(listener.name);

    const mine = binding(listener.listen, listener.protocol === 'udp' ? 'udp' : 'tcp', at());
    if (mine !== null) {
      const other = bound.find((b) => overlaps(b, mine));
      if (other === undefined) bound.push(mine);
      else if (other.host === mine.host) add(at('listen'), `duplicate address ${show(mine.address)} (also used by ${other.owner})`);
      else add(at('listen'), `address ${show(mine.address)} overlaps ${show(other.address)} of ${other.owner}`);
    }

    if (!poolNames.has(listener.pool)) add(at('pool'), `no pool named ${show(listener.pool)}`);
    listener.routes.forEach((route, r) => {
      if (!poolNames.has(route.pool)) add(at('routes', r, 'pool'), `no pool named ${show(route.pool)}`);
    });

    // HTTP/2 to clients is not there yet: an http listener offering h2 would hand h2 frames to the
    // HTTP/1.1 parser. A tcp listener may offer it: its server speaks whatever it was given.
    if (listener.protocol === 'http') {
      listener.tls?.alpn?.forEach((p, i) => {
        if (p === 'h2') add(at('tls', 'alpn', i), '"h2" not implemented yet (HTTP/2 to clients: no open issue yet); use "http/1.1"');
      });
    }
    // Routes: host/pathPrefix on http listeners; sni on tcp listeners that do not terminate TLS
    // (passthrough: the ClientHello is read, not answered).
    listener.routes.forEach((route, r) => {
      if (listener.protocol === 'http' && route.sni !== undefined) add(at('routes', r, 'sni'), 'only for protocol "tcp" (SNI passthrough); an http listener routes by host and pathPrefix');
      if (listener.protocol === 'tcp') {
        if (route.host !== undefined) add(at('routes', r, 'host'), 'only for protocol "http"; a tcp listener routes by sni');
        if (route.pathPrefix !== undefined) add(at('routes', r, 'pathPrefix'), 'only for protocol "http"; a tcp listener routes by sni');
        if (route.sni === undefined) add(at('routes', r, 'sni'), 'required on a tcp listener');
        if (listener.tls !== undefined && route.sni !== undefined) add(at('routes', r, 'sni'), 'SNI passthrough reads the ClientHello without terminating TLS: not with a tls block on the same listener');
      }
    });
    if (listener.protocol !== 'http') {
      if (listener.routes.length > 0 && listener.protocol !== 'tcp') add(at('routes'), 'only for protocol "http" or "tcp"');
      const fh = listener.forwardedHeaders;
      if (fh.xForwardedFor !== DEFAULTS.listener.forwardedHeaders.xForwardedFor || fh.trustedProxies.length > 0) add(at('forwardedHeaders'), 'only for protocol "http"');
      // Any value, the default too: a tcp listener never reads a header, and the config never lies.
      if (listener.underscoresInHeaders !== undefined) add(at('underscoresInHeaders'), 'only for protocol "http"');
    }
  });

  return problems;
}

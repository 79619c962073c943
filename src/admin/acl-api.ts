// The runtime-deny endpoints (SPEC Admin API; listener/deny-list.ts holds the denies):
//   GET    /api/v1/acl                 the denies in force, soonest expiry first, with their remaining time
//   POST   /api/v1/acl/deny            {"source": "CIDR", "ttl": "10m", "listener": "optional name"}
//   DELETE /api/v1/acl/deny/:source    lift the denies of a source early (?listener=name: only that one)
// A bad body gets 400 with one line per problem, naming the field.
import type { IncomingMessage } from 'node:http';
import type { AdminView as Proxy } from './view.ts';
import { canonicalCidr, MAX_DENIES, type DenyEntry } from '../listener/deny-list.ts';
import { parseDuration } from '../config/duration.ts';

/** A POST body larger than this is refused (413): a deny is a few dozen bytes. */
export const MAX_BODY_BYTES = 4_096;
export const MIN_TTL_MS = 1_000;
/** 30 days: a deny meant to last longer belongs in the config's `acl`. */
export const MAX_TTL_MS = 720 * 3_600_000;

const DENY_PREFIX = '/api/v1/acl/deny/';

export interface AdminAnswer {
  status: number;
  body: unknown;
}

/** The answer of an ACL route, or null when `path` is none of them (the caller goes on routing). */
export async function aclRoute(proxy: Proxy, req: IncomingMessage, path: string, url: URL): Promise<AdminAnswer | null> {
  if (path === '/api/v1/acl' && req.method === 'GET') return { status: 200, body: { denies: proxy.denies.list().map(row) } };
  if (path === '/api/v1/acl/deny' && req.method === 'POST') return addDeny(proxy, req);
  if (path.startsWith(DENY_PREFIX) && req.method === 'DELETE') return liftDeny(proxy, path.slice(DENY_PREFIX.length), url.searchParams.get('listener'));
  return null;
}

function row(e: DenyEntry & { remainingMs: number }): Record<string, unknown> {
  return {
    source: e.source,
    listener: e.listener,
    remainingMs: e.remainingMs,
    expiresAt: new Date(e.expiresAt).toISOString(),
    createdAt: new Date(e.createdAt).toISOString(),
  };
}

async function addDeny(proxy: Proxy, req: IncomingMessage): Promise<AdminAnswer> {
  const read = await readBody(req);
  if (read === null) return { status: 413, body: { errors: [`body: larger than ${MAX_BODY_BYTES} bytes`] } };
  let input: unknown;
  try {
    input = JSON.parse(read);
  } catch (err) {
    return bad([`body: expected a JSON object like {"source": "203.0.113.0/24", "ttl": "10m"}: ${(err as Error).message}`]);
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return bad([`body: expected a JSON object like {"source": "203.0.113.0/24", "ttl": "10m"}, got ${show(input)}`]);
  const body = input as Record<string, unknown>;
  const errors: string[] = [];
  for (const k of Object.keys(body)) if (k !== 'source' && k !== 'ttl' && k !== 'listener') errors.push(`${k}: unknown key (expected source, ttl, listener)`);
  let source: string | null = null;
  if (body['source'] === undefined) errors.push('source: required (an IP address or CIDR like "203.0.113.0/24")');
  else if (typeof body['source'] !== 'string' || (source = canonicalCidr(body['source'])) === null) errors.push(`source: expected an IP address or CIDR like "203.0.113.0/24", got ${show(body['source'])}`);
  const ttl = body['ttl'] === undefined ? null : parseDuration(body['ttl']);
  if (body['ttl'] === undefined) errors.push('ttl: required (a duration like "10m", or milliseconds)');
  else if (ttl === null || ttl < MIN_TTL_MS || ttl > MAX_TTL_MS) errors.push(`ttl: expected a duration from "1s" to "720h" (or milliseconds), got ${show(body['ttl'])}`);
  let listener: string | null = null;
  if (body['listener'] !== undefined && body['listener'] !== null) {
    const names = proxy.listenerViews().map((l) => l.name);
    if (typeof body['listener'] !== 'string' || !names.includes(body['listener'])) errors.push(`listener: expected the name of a listener (${names.map((n) => JSON.stringify(n)).join(', ')}) or no listener for all, got ${show(body['listener'])}`);
    else listener = body['listener'];
  }
  if (errors.length > 0) return bad(errors);
  const entry = proxy.denies.add(source!, ttl!, listener);
  if (entry === null) return { status: 409, body: { errors: [`the deny list is full (${MAX_DENIES} entries): lift some first`] } };
  proxy.log.info({ source: entry.source, listener: entry.listener, ttlMs: ttl }, 'runtime deny added');
  return { status: 200, body: row({ ...entry, remainingMs: ttl! }) };
}

function liftDeny(proxy: Proxy, encoded: string, listener: string | null): AdminAnswer {
  let text: string;
  try {
    text = decodeURIComponent(encoded);
  } catch {
    text = encoded;
  }
  const source = canonicalCidr(text);
  if (source === null) return bad([`source: expected an IP address or CIDR like "203.0.113.0/24" (URL-encode its "/" as %2F), got ${JSON.stringify(text)}`]);
  const lifted = proxy.denies.remove(source, listener ?? undefined);
  if (lifted === 0) return { status: 404, body: { error: `no runtime deny for ${source}${listener === null ? '' : ` on listener ${JSON.stringify(listener)}`}` } };
  proxy.log.info({ source, listener, lifted }, 'runtime deny lifted');
  return { status: 200, body: { source, lifted } };
}

function bad(errors: string[]): AdminAnswer {
  return { status: 400, body: { errors } };
}

function show(v: unknown): string {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

/** The request body as text; null when it is larger than MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

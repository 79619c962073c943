// The query of GET /api/v1/sessions: filters (listener, pool, server, client CIDR, state, minimum
// idle time) and the page (limit, after), parsed and checked once per call into one predicate
// that the session table's page() runs over at most SCAN_BUDGET sessions.
//
// Why a scan budget: with 100,000 sessions a filter that matches nothing must not hold the event
// loop for the whole table (node's BlockList.check, for one, costs ~0.6 µs per address). Like a
// DynamoDB Scan or Redis SCAN, a call examines a bounded slice and says where to go on; a page can
// therefore be short, even empty, while `next` is not null. Measured in test/e2e/admin/sessions-100k.test.ts.
import type { Session, SessionState } from '../session/session.ts';
import { canonicalCidr } from '../listener/deny-list.ts';
import { CidrList } from '../net/cidr.ts';
import { ipv4Number } from '../net/ip-address.ts';
import { parseDuration } from '../config/duration.ts';

/** Sessions examined per call at most. */
export const SCAN_BUDGET = 10_000;
/** Rows per page at most (and by default): one row is ~300 bytes of JSON. */
export const MAX_LIMIT = 1_000;

const STATES: readonly SessionState[] = ['accepted', 'queued', 'connecting', 'established', 'closing'];
const PARAMS = ['listener', 'pool', 'server', 'client', 'state', 'minIdle', 'limit', 'after'] as const;

export interface SessionQuery {
  readonly limit: number;
  /** The cursor: resume after this session id (0 = from the start). */
  readonly after: number;
  readonly match: (s: Session) => boolean;
}

export type ParsedQuery = { ok: true; query: SessionQuery } | { ok: false; errors: string[] };

/** `now`: the clock of this call, for minIdle (idle = now − last activity seen by the sweep). */
export function parseSessionQuery(params: URLSearchParams, now: number): ParsedQuery {
  const errors: string[] = [];
  for (const key of new Set(params.keys())) {
    if (!(PARAMS as readonly string[]).includes(key)) errors.push(`${key}: unknown parameter (expected ${PARAMS.join(', ')})`);
    else if (key !== 'state' && params.getAll(key).length > 1) errors.push(`${key}: given more than once`);
  }
  const listener = params.get('listener');
  const pool = params.get('pool');
  const server = params.get('server');

  let client: ((address: string) => boolean) | null = null;
  const clientText = params.get('client');
  if (clientText !== null) {
    const cidr = canonicalCidr(clientText);
    if (cidr === null) errors.push(`client: expected an IP address or CIDR like "203.0.113.0/24", got ${show(clientText)}`);
    else client = addressMatcher(cidr);
  }

  let states: Set<string> | null = null;
  const stateValues = params.getAll('state').flatMap((v) => v.split(','));
  if (stateValues.length > 0) {
    states = new Set();
    for (const v of stateValues) {
      if ((STATES as readonly string[]).includes(v)) states.add(v);
      else errors.push(`state: expected ${STATES.join(', ')} (several with commas), got ${show(v)}`);
    }
  }

  let minIdle = 0;
  const idleText = params.get('minIdle');
  if (idleText !== null) {
    const ms = parseDuration(/^[0-9]+$/.test(idleText) ? Number(idleText) : idleText);
    if (ms === null) errors.push(`minIdle: expected milliseconds or a duration like "30s", got ${show(idleText)}`);
    else minIdle = ms;
  }

  let limit = MAX_LIMIT;
  const limitText = params.get('limit');
  if (limitText !== null) {
    limit = /^[0-9]{1,7}$/.test(limitText) ? Number(limitText) : 0;
    if (limit < 1 || limit > MAX_LIMIT) errors.push(`limit: expected an integer from 1 to ${MAX_LIMIT}, got ${show(limitText)}`);
  }

  let after = 0;
  const afterText = params.get('after');
  if (afterText !== null && afterText !== '') {
    after = /^[0-9]{1,15}$/.test(afterText) ? Number(afterText) : -1;
    if (after < 0) errors.push(`after: expected the "next" of a previous page, got ${show(afterText)}`);
  }

  if (errors.length > 0) return { ok: false, errors };
  const match = (s: Session): boolean =>
    (listener === null || s.listener === listener) &&
    (pool === null || s.pool === pool) &&
    (server === null || s.serverAddress === server) &&
    (states === null || states.has(s.state)) &&
    (minIdle === 0 || now - s.lastActivity >= minIdle) &&
    (client === null || client(s.clientAddress));
  return { ok: true, query: { limit, after, match } };
}

/**
 * "Is this client address in the CIDR": IPv4 (most clients) compared as a 32-bit number parsed
 * from the string (~10× cheaper than BlockList.check), IPv6 through a BlockList. Client addresses
 * are stored in their plain IPv4 form (normalizeAddress) and canonicalCidr turns an IPv4-mapped
 * range into an IPv4 one, so the two families never need to meet.
 */
function addressMatcher(cidr: string): (address: string) => boolean {
  const [net = '', bitsText = '0'] = cidr.split('/');
  if (net.includes(':')) {
    const list = new CidrList([cidr]);
    return (address) => address.includes(':') && list.has(address);
  }
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const want = (ipv4Number(net) & mask) >>> 0;
  return (address) => {
    const v = ipv4Number(address);
    return v !== -1 && (v & mask) >>> 0 === want;
  };
}

function show(v: string): string {
  const text = JSON.stringify(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

// All live sessions: add, remove, one idle sweep on the shared clock tick (close or RST both
// ends), the drain helpers and the pages of the admin API's listing.
import { clock, TICK_MS } from '../util/clock.ts';
import { Session, type SessionOwner, type SessionTimeouts } from './session.ts';
import type { Socket } from 'node:net';

export class SessionTable {
  readonly #sessions = new Map<number, Session>();
  #nextId = 1;
  #stopTick: (() => void) | null = null;
  /** Sessions ended by the idle sweep, per listener name (admin stats `idleResets`). */
  readonly idleResets = new Map<string, number>();
  maxSessions: number;

  constructor(maxSessions: number) {
    this.maxSessions = maxSessions;
  }

  get size(): number {
    return this.#sessions.size;
  }

  get full(): boolean {
    return this.#sessions.size >= this.maxSessions;
  }

  create(listener: string, protocol: 'tcp' | 'http', client: Socket, clientAddress: string, clientPort: number, owner: SessionOwner, timeouts: SessionTimeouts): Session {
    // The clock stops while no session exists, so read real time here (a stale start would look idle).
    const now = Date.now();
    clock.now = now;
    const s = new Session(this.#nextId++, listener, protocol, client, clientAddress, clientPort, owner, timeouts, now);
    this.#sessions.set(s.id, s);
    if (this.#stopTick === null) this.#stopTick = clock.onTick((now) => this.sweep(now));
    return s;
  }

  remove(session: Session): void {
    this.#sessions.delete(session.id);
    if (this.#sessions.size === 0 && this.#stopTick !== null) {
      this.#stopTick();
      this.#stopTick = null;
    }
  }

  /** One pass over every session: the only place idle timeouts are enforced. */
  sweep(now: number): void {
    for (const s of this.#sessions.values()) {
      if (s.state === 'closing') continue;
      if (!s.keepAliveArmed && now - s.startedAt >= TICK_MS) s.armKeepAlive();
      if (s.deadline !== 0 && now >= s.deadline) {
        s.owner.onDeadline?.(s, now);
        continue;
      }
      if (!s.isIdle(now)) continue;
      const reset = s.timeouts.idleReset;
      const done = s.owner.terminate(s, reset ? 'idle-reset' : 'idle-close', reset);
      if (reset && done !== false) this.idleResets.set(s.listener, (this.idleResets.get(s.listener) ?? 0) + 1);
    }
  }

  /**
   * The session idle the longest, for limits.onFull "reset-oldest-idle" (IPVS's drop_entry). One
   * already closing is skipped: it leaves the table only when its sockets have closed, and picking
   * it again would let every connection of a burst in for a single reset. Activity is as of the
   * last sweep (a tick), as the idle timeouts see it.
   */
  oldestIdle(): Session | null {
    let best: Session | null = null;
    for (const s of this.#sessions.values()) {
      if (s.state === 'closing') continue;
      if (best === null || s.lastActivity < best.lastActivity) best = s;
    }
    return best;
  }

  /** Drain's last step: RST every session still open. */
  resetAll(reason: 'drain'): void {
    this.reset(() => true, reason);
  }

  /** RST the matching sessions (drain of the whole proxy, or of one listener a reload retired). */
  reset(match: (s: Session) => boolean, reason: 'drain'): void {
    for (const s of [...this.#sessions.values()]) if (match(s)) s.owner.terminate(s, reason, true);
  }

  /** Drain: matching sessions between requests (http keep-alive) are closed now, busy ones after their response. */
  closeIdle(match: (s: Session) => boolean): void {
    for (const s of [...this.#sessions.values()]) if (match(s)) s.owner.closeIfIdle?.();
  }

  count(match: (s: Session) => boolean): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (match(s)) n++;
    return n;
  }

  countFor(listener: string): number {
    let n = 0;
    for (const s of this.#sessions.values()) if (s.listener === listener) n++;
    return n;
  }

  get(id: number): Session | undefined {
    return this.#sessions.get(id);
  }

  /**
   * One page of the admin listing (GET /api/v1/sessions): the sessions after id `after` that
   * `match` accepts, at most `limit` of them, examining at most `budget` sessions, so that one call
   * costs little whatever the table holds (100,000 sessions: issue 18 §7). Ids grow in the order
   * sessions enter the Map, which is its iteration order, so "after id" resumes where a page
   * stopped; skipping to it reads only ids. `next` is the id to resume after, 0 once the scan
   * reached the end of the table.
   */
  page(after: number, limit: number, budget: number, match: (s: Session) => boolean): { sessions: Session[]; next: number } {
    const sessions: Session[] = [];
    let examined = 0;
    for (const s of this.#sessions.values()) {
      if (s.id <= after) continue;
      if (examined === budget || sessions.length === limit) return { sessions, next: after };
      examined++;
      after = s.id;
      if (match(s)) sessions.push(s);
    }
    return { sessions, next: 0 };
  }
}


// Failures seen on live traffic (connect refused/timeout, resets before a response). Without an
// active health check a server marked down passively comes back after FAIL_TIMEOUT_MS for a
// trial, like nginx's max_fails/fail_timeout; with one, the checker brings it back on `rise`
// (health-checker.ts): the server is then down until its checks pass, however long that takes.
import type { Server } from '../pool/server.ts';

/** nginx's default fail_timeout. */
export const FAIL_TIMEOUT_MS = 10_000;

export interface PassiveHealthHost {
  /** Consecutive failures that take a server down (the pool's healthCheck.fall, or 3). */
  readonly fall: number;
  setHealth(server: Server, health: 'up' | 'down', reason: string): void;
}

export function recordFailure(host: PassiveHealthHost, server: Server, reason: string, now: number): void {
  server.passiveFailures++;
  if (server.health === 'up' && server.passiveFailures >= host.fall) {
    // A server an active checker checks comes back through its checks (rise), never by the clock.
    server.passiveDownUntil = server.checker !== null ? 0 : now + FAIL_TIMEOUT_MS;
    host.setHealth(server, 'down', `passive: ${server.passiveFailures} failures in a row, last ${reason}`);
  }
}

export function recordSuccess(server: Server): void {
  server.passiveFailures = 0;
}

/** Called on the clock tick: servers whose passive down time is over get traffic again. */
export function reviveExpired(host: PassiveHealthHost, servers: readonly Server[], now: number): void {
  for (const s of servers) {
    if (s.health === 'down' && s.passiveDownUntil !== 0 && now >= s.passiveDownUntil) {
      s.passiveDownUntil = 0;
      s.passiveFailures = host.fall - 1; // one more failure puts it back down at once
      host.setHealth(s, 'up', 'passive: fail timeout over, trial traffic');
    }
  }
}

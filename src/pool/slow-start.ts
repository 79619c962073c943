// Slow start (pools[].slowStart): a server that comes back — health down → up, admin drain →
// enabled, or added to a running pool by a reload — does not get its full share at once. Its
// effective weight (Server.weight, what every weighted scheduler reads) ramps from 1 % of its
// configured weight to all of it over slowStart, linearly, as HAProxy's `slowstart` does
// (server_recalc_eweight in src/server.c). Like HAProxy it never applies at start: nothing is
// known to be cold then, and holding every server back would hold the whole pool back.
//
//   slowStart 10s   t 0    1s   2s   …   9s   10s
//                   1 %   10 %  20 %  … 90 %  100 % (done)
//
// The ramp moves in steps, not continuously: each step rebuilds the pool's scheduler snapshot
// (Maglev's table, wrr's weights), so a step is at least STEP_MS long and a ramp has at most
// MAX_STEPS of them (HAProxy recomputes at each health check, about every 2 s). The steps run on
// the shared clock tick (util/clock.ts): one handler for the whole process while any server is
// warming, no timer per server, nothing while none is.
//
// State lives on the Server (slowStartSince, slowStartMs, slowStartFraction), so a reload that
// keeps the server keeps its ramp going; the pool of the newest generation (Server.home) is the
// one rebuilt.
import { clock } from '../util/clock.ts';
import type { Server } from './server.ts';

/** Shortest step: a snapshot rebuild per pool per second at most (short ramps step faster, with their length). */
export const STEP_MS = 1_000;
/** Most steps in one ramp: a 10 min slow start moves every 6 s. */
export const MAX_STEPS = 100;
/** The first step's share: near zero but not zero (a zero weight would leave the server unpicked: "weight > 0"). */
export const MIN_FRACTION = 0.01;

/**
 * Share of the configured weight `elapsed` ms into a ramp of `durationMs`: the linear ramp
 * rounded down to its step, at least MIN_FRACTION; 1 once the ramp is over.
 */
export function slowStartFraction(elapsed: number, durationMs: number): number {
  if (durationMs <= 0 || elapsed >= durationMs) return 1;
  const step = Math.max(Math.min(STEP_MS, durationMs), durationMs / MAX_STEPS);
  const steps = Math.ceil(durationMs / step);
  const k = Math.floor(Math.max(0, elapsed) / step);
  if (k >= steps) return 1;
  return Math.max(k / steps, MIN_FRACTION);
}

const warming = new Set<Server>();
let stopTick: (() => void) | null = null;

/**
 * `server` comes back: its weight drops to the ramp's first step now. The caller rebuilds the
 * pool's snapshot afterwards (Pool.setHealth / setAdmin / activate do).
 */
export function startSlowStart(server: Server, durationMs: number, now: number = Date.now()): void {
  if (!(durationMs > 0)) return;
  server.slowStartSince = now;
  server.slowStartMs = durationMs;
  setFraction(server, slowStartFraction(0, durationMs));
  warming.add(server);
  stopTick ??= clock.onTick(step);
}

/**
 * A reload changed the pool's slowStart: a ramp under way continues over the new duration (from
 * where it began), or ends at once when slow start was removed. The caller rebuilds.
 */
export function retuneSlowStart(server: Server, durationMs: number | undefined, now: number = Date.now()): void {
  if (!warming.has(server)) return;
  if (durationMs === undefined || durationMs <= 0) return finish(server);
  server.slowStartMs = durationMs;
  setFraction(server, slowStartFraction(now - server.slowStartSince, durationMs));
  if (server.slowStartFraction === 1) finish(server);
}

/** Servers warming now (tests, and the admin API's view of one). */
export function isWarming(server: Server): boolean {
  return warming.has(server);
}

/** One tick: every warming server moves to its current step; each pool touched is rebuilt once. */
function step(now: number): void {
  let touched: Set<{ rebuild(): void }> | null = null;
  for (const s of warming) {
    if (s.retired) {
      finish(s);
      continue;
    }
    const f = slowStartFraction(now - s.slowStartSince, s.slowStartMs);
    if (f !== s.slowStartFraction) {
      setFraction(s, f);
      if (s.home !== null) (touched ??= new Set()).add(s.home);
    }
    if (f === 1) finish(s);
  }
  if (touched !== null) for (const pool of touched) pool.rebuild();
  if (warming.size === 0 && stopTick !== null) {
    stopTick();
    stopTick = null;
  }
}

function finish(server: Server): void {
  warming.delete(server);
  server.slowStartSince = 0;
  server.slowStartMs = 0;
  setFraction(server, 1);
}

function setFraction(server: Server, fraction: number): void {
  server.slowStartFraction = fraction;
  server.weight = server.configuredWeight * fraction;
}

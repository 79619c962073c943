// Waiting with deadlines: for an event, or for a condition to hold. Never a fixed sleep.
import { once, type EventEmitter } from 'node:events';

export async function waitFor(cond: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function waitEvent<T extends unknown[] = unknown[]>(emitter: EventEmitter, event: string, timeoutMs = 5_000): Promise<T> {
  return (await once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) })) as T;
}

export function elapsed(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

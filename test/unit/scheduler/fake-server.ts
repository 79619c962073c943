// A Schedulable whose weight, active count and capacity a test sets directly, plus helpers to
// make pools of them, many distinct pick contexts, and pick tallies.
import type { PickContext, Schedulable, Scheduler } from '../../../src/scheduler/scheduler.ts';

export class FakeServer implements Schedulable {
  readonly index: number;
  readonly address: string;
  weight: number;
  active: number;
  /** Slow start's share (pool/slow-start.ts); 1 = not ramping. */
  slowStartFraction = 1;
  capacity = true;

  constructor(index: number, weight = 1, active = 0) {
    this.index = index;
    this.address = `10.0.0.${index + 1}:80`;
    this.weight = weight;
    this.active = active;
  }

  hasCapacity(): boolean {
    return this.capacity;
  }
}

/** `count` servers, or one per entry of `weights`. */
export function makeServers(countOrWeights: number | readonly number[]): FakeServer[] {
  const weights = typeof countOrWeights === 'number' ? Array.from({ length: countOrWeights }, () => 1) : countOrWeights;
  return weights.map((w, i) => new FakeServer(i, w));
}

/** One context per client and destination, all different (hash schedulers need many keys). */
export function makeContexts(count: number): PickContext[] {
  return Array.from({ length: count }, (_, i) => ({
    clientAddress: `192.168.${(i >> 8) & 255}.${i & 255}`,
    destination: `site-${i}.example:443`,
  }));
}

export const ONE_CONTEXT: PickContext = { clientAddress: '192.0.2.1', destination: 'example.com:80' };

/** Picks `picks` times cycling through `contexts`; counts per server (null counted under `null`). */
export function tally<S extends Schedulable>(
  scheduler: Scheduler<S>,
  picks: number,
  contexts: readonly PickContext[] = [ONE_CONTEXT],
): Map<S | null, number> {
  const counts = new Map<S | null, number>();
  for (let i = 0; i < picks; i++) {
    const s = scheduler.pick(contexts[i % contexts.length]!);
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  return counts;
}

export { seededRandom } from '../../helpers/rng.ts';

// Seeded randomness for tests that explore inputs (fuzzers, property tests, chaos): mulberry32,
// small and fully determined by the seed, so a failure reproduces from the seed alone.
export class Rng {
  #s: number;

  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  u32(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** 0 <= x < 1 */
  float(): number {
    return this.u32() / 0x1_0000_0000;
  }

  /** 0 <= n < max */
  int(max: number): number {
    return this.u32() % max;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}

/** A deterministic [0, 1) generator, for code that wants a plain function (Math.random's shape). */
export function seededRandom(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.float();
}

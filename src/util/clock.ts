// The coarse shared clock and the single sweep tick (undici's fast timers idea): one interval for
// the whole process instead of a timer per socket. Idle timeouts are checked on this tick, so
// they fire up to one tick late; TICK_MS bounds that error (SPEC allows idle + 1 s).

export const TICK_MS = 250;

type TickListener = (now: number) => void;

class Clock {
  /** Milliseconds since the epoch, refreshed every tick. Read it instead of Date.now() on hot paths. */
  now = Date.now();
  #listeners = new Set<TickListener>();
  #timer: NodeJS.Timeout | null = null;

  /** Runs `fn` on every tick until the returned function is called. */
  onTick(fn: TickListener): () => void {
    this.#listeners.add(fn);
    if (this.#timer === null) {
      this.#timer = setInterval(() => this.tick(), TICK_MS);
      this.#timer.unref(); // the clock never keeps the process alive by itself
    }
    return () => {
      this.#listeners.delete(fn);
      if (this.#listeners.size === 0 && this.#timer !== null) {
        clearInterval(this.#timer);
        this.#timer = null;
      }
    };
  }

  /** Advances the clock and runs the listeners; tests may call it with a chosen time. */
  tick(now = Date.now()): void {
    this.now = now;
    for (const fn of this.#listeners) fn(now);
  }
}

export const clock = new Clock();

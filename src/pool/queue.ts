// The pool's queue (tcp sessions): when every eligible server is at its maxConnections, a new
// session waits here — up to pools[].timeouts.queue — for one of them to free a connection,
// instead of being closed at once. HAProxy's backend queue: a stream that finds no server with a
// free slot waits in the proxy's queue until a slot frees on any server (process_srv_queue) or
// `timeout queue` passes, and is then closed (tcp) or answered 503 (http).
//
//   session ─ pick: none with capacity ─▶ enqueue (FIFO, at most QUEUE_LENGTH)
//   a server releases a connection, or the pool's picks are rebuilt (health up, enable, reload,
//   a slow-start step) ─▶ wake: the oldest waiters pick again, in order, until one finds none
//   deadline passes ─▶ queueTimeout(): the caller closes the client (FIN, as HAProxy)
//
// http requests wait per server instead (http/http-upstream.ts: a request picks its server, then
// waits for a connection to it), so this queue is tcp's. One timer per pool queue while anyone
// waits (armed for the oldest deadline), none per session.

/** Sessions that may wait in one pool's queue; beyond it a session is closed at once (as before queues existed). */
export const QUEUE_LENGTH = 1024;

/** A waiting session, as the queue sees it. */
export interface QueueWaiter {
  /** A slot may have freed: pick again. True when the waiter is served (or gone), false to keep waiting. */
  retry(): boolean;
  /** timeouts.queue passed without a server: the waiter gives up. */
  queueTimeout(): void;
}

interface Entry {
  waiter: QueueWaiter;
  deadline: number;
}

export class PoolQueue {
  #timeoutMs: number;
  #entries: Entry[] = [];
  #timer: NodeJS.Timeout | null = null;
  /** A wake is scheduled (microtask): releases in one burst cost one pass. */
  #waking = false;
  readonly #run = (): void => this.#serve();
  readonly #expire = (): void => this.#onTimer();
  /** Sessions that waited here in total, and those that gave up after timeouts.queue (admin, metrics). */
  queuedTotal = 0;
  timeouts = 0;
  /** Sessions refused because QUEUE_LENGTH were already waiting. */
  overflows = 0;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** A reload kept the pool: the new timeouts.queue applies to sessions that queue from now on. */
  configure(timeoutMs: number): void {
    this.#timeoutMs = timeoutMs;
  }

  get length(): number {
    return this.#entries.length;
  }

  /** Waits for a server; false when the queue is full (the caller closes the session at once). */
  enqueue(waiter: QueueWaiter, now: number = Date.now()): boolean {
    if (this.#entries.length >= QUEUE_LENGTH) {
      this.overflows++;
      return false;
    }
    this.#entries.push({ waiter, deadline: now + this.#timeoutMs });
    this.queuedTotal++;
    if (this.#timer === null) this.#arm(now);
    return true;
  }

  /** The waiter left (its client closed): forget it. */
  remove(waiter: QueueWaiter): void {
    const i = this.#entries.findIndex((e) => e.waiter === waiter);
    if (i >= 0) this.#entries.splice(i, 1);
    if (this.#entries.length === 0) this.#disarm();
  }

  /** A connection freed or the picks changed: the oldest waiters try again (soon, once per burst). */
  wake(): void {
    if (this.#entries.length === 0 || this.#waking) return;
    this.#waking = true;
    queueMicrotask(this.#run);
  }

  #serve(): void {
    this.#waking = false;
    // In order: a waiter that finds no server stops the pass, so none overtakes it (FIFO).
    while (this.#entries.length > 0) {
      const e = this.#entries[0]!;
      if (!e.waiter.retry()) break;
      if (this.#entries[0] === e) this.#entries.shift();
    }
    if (this.#entries.length === 0) this.#disarm();
  }

  #onTimer(): void {
    this.#timer = null;
    const now = Date.now();
    // Deadlines are in queueing order unless a reload shortened timeouts.queue: scan them all.
    const due: Entry[] = [];
    this.#entries = this.#entries.filter((e) => (e.deadline <= now ? (due.push(e), false) : true));
    for (const e of due) {
      this.timeouts++;
      e.waiter.queueTimeout();
    }
    if (this.#entries.length > 0) this.#arm(now);
  }

  #arm(now: number): void {
    let next = Infinity;
    for (const e of this.#entries) if (e.deadline < next) next = e.deadline;
    this.#timer = setTimeout(this.#expire, Math.max(0, next - now));
    this.#timer.unref();
  }

  #disarm(): void {
    if (this.#timer === null) return;
    clearTimeout(this.#timer);
    this.#timer = null;
  }
}

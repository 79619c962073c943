// A latency histogram as plain numbers: one count per bucket and a sum, bumped on the data path
// (one bucket search per value, then an add) and read by the metrics layer on scrape, which
// cumulates the counts into Prometheus buckets (DESIGN §2.5: counters are plain numbers on the
// objects; prom-client's observe() would hash a label set per call).

/** Upper bounds in seconds: 0.5 ms (loopback) to 60 s (pools[].timeouts.response's default). */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const BOUNDS_MS = LATENCY_BUCKETS.map((s) => s * 1000);

/** The bucket of a duration in ms: the first bound it does not exceed (Prometheus `le`); LATENCY_BUCKETS.length is +Inf. */
export function bucketOf(ms: number): number {
  let i = 0;
  while (i < BOUNDS_MS.length && ms > BOUNDS_MS[i]!) i++;
  return i;
}

export class LatencyHistogram {
  /** Observations per bucket, not cumulated; the last one is above every bound (+Inf). */
  readonly counts = new Float64Array(LATENCY_BUCKETS.length + 1);
  /** Sum of the observations, in seconds. */
  sum = 0;

  /** One observation of `ms` milliseconds in bucket `bucket` (bucketOf(ms), computed once per value by the caller). */
  add(bucket: number, ms: number): void {
    this.counts[bucket]!++;
    this.sum += ms / 1000;
  }

  get count(): number {
    let n = 0;
    for (const c of this.counts) n += c;
    return n;
  }
}

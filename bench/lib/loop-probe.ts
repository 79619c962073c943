// Event-loop delay probe for bench/reload-stall.ts, preloaded into the proxy under test:
//   node --import ./bench/lib/loop-probe.ts src/main.ts --config FILE
// A monitorEventLoopDelay histogram at 1 ms resolution runs from the start. Each SIGUSR2 writes
// one JSON line to stderr with the window since the previous SIGUSR2 (or the start) and resets:
//   {"loopProbe":1,"maxMs":…,"p99Ms":…,"p50Ms":…,"meanMs":…,"samples":…,"windowMs":…}
// The histogram records how late each 1 ms timer tick ran, so maxMs is the longest the loop was
// blocked in the window (± 1 ms). The signal handler itself runs on the loop, so a stall that is
// under way when the signal arrives is finished, and counted, before the line is written.
// Caveat: reset() also forgets when the last tick ran, so the first tick after a reset only seeds
// the histogram; a stall that begins before that tick (~1 ms) is not recorded. The bench waits
// 20 ms after a reset before it triggers the reload.
// It changes nothing else in the process (SIGUSR2 has no default use in Node; SIGUSR1 is the
// inspector's).
import { monitorEventLoopDelay } from 'node:perf_hooks';

const histogram = monitorEventLoopDelay({ resolution: 1 });
histogram.enable();
let windowStart = performance.now();

const ms = (ns: number): number => Math.round((ns / 1e6) * 100) / 100;

process.on('SIGUSR2', () => {
  const now = performance.now();
  const line = {
    loopProbe: 1,
    maxMs: ms(histogram.max),
    p99Ms: ms(histogram.percentile(99)),
    p50Ms: ms(histogram.percentile(50)),
    meanMs: ms(histogram.mean),
    samples: histogram.count,
    exceeds: histogram.exceeds,
    minMs: ms(histogram.min),
    windowMs: Math.round(now - windowStart),
  };
  histogram.reset();
  windowStart = now;
  // stderr is synchronous for pipes and files on Linux: the line is out before anything else runs.
  process.stderr.write(`${JSON.stringify(line)}\n`);
});

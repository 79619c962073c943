// The root pino logger and the child-logger helpers. Children carry their bindings (listener,
// pool) so that a session's access line costs one call; disabled levels cost nothing (pino noops).
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { isoTimestamp } from './util/iso-time.ts';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
}

/**
 * Logs go to stdout as JSON lines (SPEC "Logs"); there is no pretty mode (pipe through
 * `npx pino-pretty`: docs/configuration.md#logging). Writes are asynchronous (SonicBoom,
 * `sync: false`): lines are buffered and written in order by the event loop, so logging never
 * blocks the data path on a slow stdout. Lines still buffered at exit are not lost:
 * pino.destination() registers a synchronous flush on process exit (test/unit/log.test.ts), and
 * run.ts flushes before it resolves. Tests pass their own `destination`.
 */
export function createLogger(opts: LogOptions, destination: NodeJS.WritableStream | null = null): Logger {
  const dest = destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      // pino.stdTimeFunctions.isoTime's format, without Date#toISOString (util/iso-time.ts: ~0.9 MB of RSS).
      timestamp: () => `,"time":"${isoTimestamp(Date.now())}"`,
      redact: { paths: ['admin.token', 'config.admin.token', 'token'], censor: '[redacted]' },
    },
    dest,
  );
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });

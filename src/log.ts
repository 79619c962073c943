// The root pino logger and the child-logger helpers. Children carry their bindings (listener,
// pool) so that a session's access line costs one call; disabled levels cost nothing (pino noops).
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export interface LogOptions {
  level: LevelWithSilent;
  pretty?: boolean;
}

/** Logs go to stdout as JSON lines (SPEC "Logs"); synchronous writes keep lines whole at exit. */
export function createLogger(opts: LogOptions, destination: NodeJS.WritableStream | null = null): Logger {
  const dest = destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['admin.token', 'config.admin.token', 'token'], censor: '[redacted]' },
    },
    dest,
  );
}

/** A logger that writes nothing, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });

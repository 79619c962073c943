// Runs the proxy in the foreground: builds it from a Config, wires SIGTERM/SIGINT (drain, then
// exit 0) and SIGHUP (reload the config file: runtime.ts), and resolves with the process exit
// code. Shared by `run` and `demo`. `--log-level` (main.ts) pins the logger's level here.
import type { Config } from './config/schema.ts';
import { createLogger, type Logger } from './log.ts';
import { Runtime } from './runtime.ts';

export type LogLevel = Config['logging']['level'];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const satisfies readonly LogLevel[];

let levelOverride: LogLevel | null = null;

/**
 * `--log-level`: the command line wins over `logging.level`, at start and after every reload
 * (SIGHUP or POST /api/v1/reload), until the process exits. main.ts sets it before `run` or `demo`.
 */
export function overrideLogLevel(level: LogLevel | null): void {
  levelOverride = level;
}

/** A reload sets the logger's level from the file (runtime.ts); with an override, set it back at once. */
function pinLevel(log: Logger, level: LogLevel): void {
  log.on('level-change', (now) => {
    if (now !== level) log.level = level;
  });
}

/** Runs the proxy until SIGTERM/SIGINT; resolves with the exit code. `configPath`: the file SIGHUP reloads. */
export async function run(config: Config, configPath: string | null = null): Promise<number> {
  const log = createLogger({ level: levelOverride ?? config.logging.level });
  if (levelOverride !== null) pinLevel(log, levelOverride);
  const proxy = new Runtime(config, log, configPath);
  try {
    await proxy.start();
  } catch (err) {
    log.fatal({ err }, 'cannot start');
    log.flush();
    return 1;
  }
  return new Promise((resolve) => {
    let draining = false;
    const onStop = (signal: NodeJS.Signals): void => {
      if (draining) {
        log.warn({ signal }, 'second stop signal: resetting all sessions now');
        proxy.sessions.resetAll('drain');
        return;
      }
      draining = true;
      log.info({ signal, drainTimeoutMs: proxy.config.drainTimeout }, 'stop signal: draining');
      void proxy.drain().then(({ finished, reset }) => {
        log.info({ finished, reset }, 'drained, exiting');
        // Resolve once the log is flushed, or after a short grace if the flush never reports.
        const done = (): void => resolve(0);
        setTimeout(done, 500).unref();
        log.flush(done);
      });
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', () => {
      log.info({ path: configPath }, 'SIGHUP: reloading the config');
      // The outcome is logged by the runtime (one line per problem, with its JSON path).
      void proxy.reload();
    });
  });
}


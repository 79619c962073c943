#!/usr/bin/env node
// CLI: argv → run | check | demo | --version | --help; exit codes (0 ok, 1 invalid config or
// cannot start, 2 bad command line). No other logic (signals live in run.ts).
import { parseArgs } from 'node:util';
import { loadConfigFile } from './config/load.ts';
import { DEFAULTS } from './config/defaults.ts';
import { VERSION } from './version.ts';
import { LOG_LEVELS, overrideLogLevel, run, type LogLevel } from './run.ts';

const USAGE = `usage:
  fullproxy [--config PATH] [--log-level LEVEL]   run (default PATH: ${DEFAULTS.configPath})
  fullproxy check --config PATH [PATH ...]        validate configs, print errors, exit 0/1; start nothing
  fullproxy demo [--log-level LEVEL]              three loopback HTTP servers with the proxy in front of them
  fullproxy --version                             print the version and the Node version
  fullproxy --help                                this text`;

const HELP = `fullproxy: a full-proxy TCP + HTTP load balancer

${USAGE}

options:
  -c, --config PATH        the JSON config file (run, check)
      --log-level LEVEL    overrides logging.level of the config file, at start and after
                           every reload (the command line wins over the file)
                           LEVEL: ${LOG_LEVELS.join(', ')}
  -v, --version            print "fullproxy <version> (node <version>)", exit 0
  -h, --help               print this help, exit 0

signals (run, demo):
  SIGHUP                   reload the config file; a bad file changes nothing and is reported
  SIGTERM, SIGINT          stop accepting, drain sessions up to drainTimeout, then exit 0
                           (a second SIGTERM/SIGINT resets all remaining sessions at once)

exit codes: 0 ok, 1 invalid config or cannot start, 2 bad command line`;

/**
 * Validates each file; 1 if any is invalid. Several files (a shell glob: `--config examples/*.json`
 * arrives as one --config and more arguments) put the file's name before each of its problems;
 * one file keeps the plain `json.path: message` lines.
 */
function check(paths: readonly string[]): number {
  let status = 0;
  for (const path of paths) {
    const result = loadConfigFile(path);
    if (result.ok) {
      process.stdout.write(`${path}: valid\n`);
      continue;
    }
    status = 1;
    for (const line of result.errors) process.stderr.write(paths.length > 1 && !line.startsWith(`${path}: `) ? `${path}: ${line}\n` : `${line}\n`);
  }
  return status;
}

function version(): string {
  return `fullproxy ${VERSION} (node ${process.version})`;
}

function usageError(message: string): number {
  process.stderr.write(`${message}\n${USAGE}\n`);
  return 2;
}

const isLogLevel = (s: string): s is LogLevel => (LOG_LEVELS as readonly string[]).includes(s);

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        'log-level': { type: 'string' },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (values.version === true) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = positionals[0] ?? 'run';
  // check takes more files after its --config PATH (what a shell glob expands to); nothing else takes arguments.
  if (positionals.length > 1 && !(command === 'check' && values.config !== undefined)) return usageError(`unexpected argument "${positionals[1]}"`);
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !isLogLevel(logLevel)) return usageError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  if (logLevel !== undefined && command !== 'check') overrideLogLevel(logLevel);
  switch (command) {
    case 'check':
      if (values.config === undefined) return usageError('check needs --config PATH');
      if (logLevel !== undefined) return usageError('check does not log: --log-level applies to run and demo');
      return check([values.config, ...positionals.slice(1)]);
    case 'demo': {
      if (values.config !== undefined) return usageError('demo writes its own config: --config applies to run and check');
      const { runDemo } = await import('./demo.ts');
      return runDemo();
    }
    case 'run': {
      const result = loadConfigFile(values.config ?? DEFAULTS.configPath);
      if (!result.ok) {
        for (const line of result.errors) process.stderr.write(`${line}\n`);
        return 1;
      }
      return run(result.config, result.path);
    }
    default:
      return usageError(`unknown command "${command}"`);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
  // Sockets of drained sessions may linger for a moment; the exit code is already decided.
  if (process.exitCode !== undefined) setTimeout(() => process.exit(), 50).unref();
}

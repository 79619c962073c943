#!/usr/bin/env node
// CLI: argv → run | check | demo; exit codes. No other logic (signals live in run.ts).
import { parseArgs } from 'node:util';
import { loadConfigFile } from './config/load.ts';
import { DEFAULTS } from './config/defaults.ts';
import { run } from './run.ts';

const USAGE = `usage:
  fullproxy [--config PATH]        run (default PATH: ${DEFAULTS.configPath})
  fullproxy check --config PATH    validate a config, print errors, exit 0/1; start nothing
  fullproxy demo                   three loopback HTTP servers with the proxy in front of them`;

function check(path: string): number {
  const result = loadConfigFile(path);
  if (!result.ok) {
    for (const line of result.errors) process.stderr.write(`${line}\n`);
    return 1;
  }
  process.stdout.write(`${path}: valid\n`);
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = positionals[0] ?? 'run';
  switch (command) {
    case 'check':
      if (values.config === undefined) {
        process.stderr.write(`check needs --config PATH\n${USAGE}\n`);
        return 2;
      }
      return check(values.config);
    case 'demo': {
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
      process.stderr.write(`unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
  // Sockets of drained sessions may linger for a moment; the exit code is already decided.
  if (process.exitCode !== undefined) setTimeout(() => process.exit(), 50).unref();
}

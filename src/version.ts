// fullproxy's version, in one place: `--version`, and the build_info metric. The bundle the image
// runs (scripts/build.ts) has it written in at build time, because there a path relative to this
// module no longer leads to package.json; the sources read package.json next to src/.
import { readFileSync } from 'node:fs';

/** Replaced by its value in the bundle (esbuild `define`); never declared at run time from the sources. */
declare const FULLPROXY_BUILD_VERSION: string | undefined;

export const VERSION: string =
  typeof FULLPROXY_BUILD_VERSION === 'string' ? FULLPROXY_BUILD_VERSION : (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

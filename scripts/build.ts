// `npm run build`: the shipped form of fullproxy — one ES module, dist/fullproxy.mjs, with every
// runtime dependency inside, plus the dashboard page it serves. The container image runs it
// (Dockerfile), and test/shipped-form.test.ts starts it as the image would.
//
// Why a bundle and not the .ts sources the tests run (issue 18 §11, figures in README
// "Footprint"): Node's type stripping loads its TypeScript parser (~17 MB of RSS), and a bundle
// carries only the parts of zod, prom-client and pino that fullproxy reaches, so the image needs no
// node_modules at all. Identifiers are kept so stack traces stay readable.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
/** `node scripts/build.ts [OUTDIR]`: dist/ by default; the shipped-form test builds into a temp dir. */
const OUT = process.argv[2] ?? join(ROOT, 'dist');

mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [join(ROOT, 'src/main.ts')],
  outfile: join(OUT, 'fullproxy.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node24',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // ES module builds first: jsonc-parser's "main" is a UMD file whose require() calls a bundler
  // cannot follow; its "module" build is plain imports.
  mainFields: ['module', 'main'],
  // src/version.ts: the bundle has no package.json beside it.
  define: { FULLPROXY_BUILD_VERSION: JSON.stringify((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version) },
  logLevel: 'warning',
  // The CommonJS dependencies (pino, prom-client) call require() for Node's builtins; an ES module
  // has none of its own.
  banner: { js: "import { createRequire as __fullproxyRequire } from 'node:module'; const require = __fullproxyRequire(import.meta.url);" },
});
// admin-server.ts reads the page next to itself: next to the bundle once built.
copyFileSync(join(ROOT, 'src/admin/dashboard.html'), join(OUT, 'dashboard.html'));
console.log(`built ${join(OUT, 'fullproxy.mjs')}`);

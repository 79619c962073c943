// `npm run build`: the shipped form of fullproxy — one ES module, dist/fullproxy.mjs, with every
// runtime dependency inside, plus the dashboard page it serves. The container image runs it
// (Dockerfile), and test/shipped-form.test.ts starts it as the image would.
//
// Why a bundle and not the .ts sources the tests run (issue 18 §11, figures in README
// "Footprint"): Node's type stripping loads its TypeScript parser (~17 MB of RSS), and a bundle
// carries only the parts of zod, jsonc-parser, lru-cache and pino that fullproxy reaches, so the image needs no
// node_modules at all. Identifiers are kept so stack traces stay readable.
import { build, type Plugin } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..');
/** `node scripts/build.ts [OUTDIR]`: dist/ by default; the shipped-form test builds into a temp dir. */
const OUT = process.argv[2] ?? join(ROOT, 'dist');

/**
 * `import { readFileSync } from 'node:fs'` in an ES module makes Node build the module's whole
 * namespace, running every lazy getter of it: node:fs alone then loads fs/promises, readline and
 * the REPL history, node:util its parseArgs and diff modules (as node:http would load undici: why
 * src/ reads that one through process.getBuiltinModule). In the bundle each `node:` import of
 * src/ reads the module through process.getBuiltinModule instead, as CommonJS: the bundle then
 * reads only the properties the code uses, when it uses them (~0.4 MB less RSS at start).
 */
const builtinsOnDemand: Plugin = {
  name: 'builtins-on-demand',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'import-statement' ? { path: args.path, namespace: 'builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/**
 * jsonc-parser builds its formatter's tables of indentation strings at import (~0.3 MB of heap);
 * src/ uses only parseTree. Marked free of side effects, its modules are kept only for what is
 * used, and the formatter is left out.
 */
const jsoncParserUsedOnly: Plugin = {
  name: 'jsonc-parser-used-only',
  setup(b) {
    b.onResolve({ filter: /^(jsonc-parser|\.\.?\/.*)$/ }, async (args) => {
      if (args.pluginData === 'inner' || (args.path !== 'jsonc-parser' && !args.importer.includes('/node_modules/jsonc-parser/'))) return undefined;
      const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: 'inner' });
      return resolved.errors.length > 0 ? undefined : { path: resolved.path, sideEffects: false };
    });
  },
};

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
  plugins: [builtinsOnDemand, jsoncParserUsedOnly],
  // The CommonJS dependencies (pino) call require() for Node's builtins; an ES module
  // has none of its own.
  banner: { js: "import { createRequire as __fullproxyRequire } from 'node:module'; const require = __fullproxyRequire(import.meta.url);" },
});
// admin-server.ts reads the page next to itself: next to the bundle once built.
copyFileSync(join(ROOT, 'src/admin/dashboard.html'), join(OUT, 'dashboard.html'));
console.log(`built ${join(OUT, 'fullproxy.mjs')}`);

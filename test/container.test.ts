// The image and the deploy files, checked without a Docker engine (issue 18, items 10 and 11): every
// path the Dockerfile copies exists and is not excluded by .dockerignore; both stages run the
// pinned Node; the build stage makes the bundle the final stage copies; tini is PID 1 and runs that
// bundle (test/shipped-form.test.ts starts the same file, built the same way) with a config that
// passes `check`, whose admin the HEALTHCHECK reaches; the final stage installs no npm package;
// deploy/compose.yaml and deploy/k8s/*.yaml parse and carry configs that pass `check`; hadolint
// runs when it is installed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile } from '../src/config/load.ts';
import { parseDuration } from '../src/config/duration.ts';
import { NODE, ROOT } from './helpers/fullproxy.ts';

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile → instructions: comments dropped, `\` continuations joined. */
function dockerfile(): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const raw of readFileSync(join(ROOT, 'Dockerfile'), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || (line === '' && pending === '')) continue;
    pending += pending === '' ? line : ` ${line}`;
    if (pending.endsWith('\\')) {
      pending = pending.slice(0, -1).trimEnd();
      continue;
    }
    const space = pending.indexOf(' ');
    out.push({ op: pending.slice(0, space).toUpperCase(), args: pending.slice(space + 1).trim() });
    pending = '';
  }
  return out;
}

const ALL = dockerfile();
/** The instructions of each stage (split at FROM; the ARGs before the first FROM are global). */
const STAGES: Instruction[][] = [];
for (const i of ALL) {
  if (i.op === 'FROM') STAGES.push([]);
  STAGES.at(-1)?.push(i);
}
/** The final stage: what the image is. */
const DF = STAGES.at(-1)!;
const BUILD = STAGES.find((s) => /\sAS\s+build$/i.test(s[0]!.args)) ?? null;
const one = (op: string): string => {
  const found = DF.filter((i) => i.op === op);
  assert.equal(found.length, 1, `one ${op} in the final stage of the Dockerfile`);
  return found[0]!.args;
};
const execForm = (op: string): string[] => {
  const args = one(op);
  assert.ok(args.startsWith('['), `${op} uses the exec form (JSON array): no shell between tini and node`);
  return JSON.parse(args) as string[];
};

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };
const LOCK = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };

function dockerignore(): string[] {
  return readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

test('every path the Dockerfile COPYs exists and is in the build context', () => {
  const ignored = dockerignore().filter((l) => !l.startsWith('!') && !l.includes('*'));
  const copies = ALL.filter((i) => i.op === 'COPY');
  assert.ok(copies.length > 0);
  for (const c of copies) {
    if (c.args.startsWith('--from=build ')) {
      // The one thing the final stage takes from the build stage: the bundle `npm run build` makes.
      assert.equal(c.args, '--from=build /src/dist ./dist');
      continue;
    }
    const parts = c.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: missing`);
      for (const i of ignored) assert.ok(src !== i && !src.startsWith(`${i}/`), `COPY ${src}: excluded by .dockerignore (${i})`);
    }
  }
  for (const must of ['node_modules', 'test', 'bench', '.git']) assert.ok(dockerignore().includes(must), `.dockerignore keeps ${must} out`);
});

test('the image runs the Node version package-lock.json pins', () => {
  const pinned = LOCK.packages['node_modules/node']?.version;
  assert.ok(pinned !== undefined, 'node is in the lock file');
  assert.match(PKG.dependencies['node'] ?? '', /^\^24\./);
  const arg = ALL.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_VERSION='));
  assert.ok(arg !== undefined, 'ARG NODE_VERSION=... before FROM');
  assert.equal(arg.args.slice('NODE_VERSION='.length), pinned, `Dockerfile NODE_VERSION is package-lock's node (${pinned})`);
  assert.deepEqual(
    STAGES.map((st) => st[0]!.args.replace(/\s+AS\s+\w+$/i, '')),
    STAGES.map(() => 'node:${NODE_VERSION}-slim'),
    'every stage on the pinned Node: the bundle targets the Node that runs it',
  );
});

test('the build stage bundles src/main.ts with `npm run build`; tini is PID 1 and runs that bundle with a config that passes check', () => {
  assert.ok(BUILD !== null, 'a stage named build');
  const buildRuns = BUILD.filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(buildRuns.includes('npm run build'), 'the build stage runs npm run build');
  assert.equal((PKG as unknown as { scripts: Record<string, string> }).scripts['build'], 'node scripts/build.ts');
  // scripts/build.ts bundles the package bin, the entry every other test starts.
  assert.equal(PKG.bin['fullproxy'], 'src/main.ts');
  assert.match(readFileSync(join(ROOT, 'scripts/build.ts'), 'utf8'), /entryPoints: \[join\(ROOT, 'src\/main\.ts'\)\]/);
  assert.match(readFileSync(join(ROOT, 'scripts/build.ts'), 'utf8'), /'fullproxy\.mjs'/);
  const run = DF.filter((i) => i.op === 'RUN').map((i) => i.args);
  assert.ok(run.some((r) => /apt-get install\b.*\btini\b/.test(r)), 'tini is installed');
  const entry = execForm('ENTRYPOINT');
  assert.deepEqual(entry, ['tini', '--', 'node', 'dist/fullproxy.mjs']);
  const cmd = execForm('CMD');
  assert.equal(cmd[0], '--config');
  const config = cmd[1]!;
  assert.ok(!config.startsWith('/'), 'relative to WORKDIR /app, which is the repository root in the image');
  assert.equal(one('WORKDIR'), '/app');
  const r = spawnSync(NODE, [join(ROOT, PKG.bin['fullproxy']), 'check', '--config', join(ROOT, config)], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${config}: ${r.stderr}`);
  assert.equal(one('USER'), 'node', 'not root');
});

test('the HEALTHCHECK and EXPOSE reach the admin and listeners of the default container config', () => {
  const cmd = execForm('CMD');
  const loaded = loadConfigFile(join(ROOT, cmd[1]!));
  assert.ok(loaded.ok);
  const admin = loaded.config.admin;
  assert.ok(admin !== undefined, 'the container config has an admin');
  const [host, port] = [admin.listen.slice(0, admin.listen.lastIndexOf(':')), admin.listen.slice(admin.listen.lastIndexOf(':') + 1)];
  assert.equal(host, '0.0.0.0', 'admin reachable by a scraper from outside the container');
  assert.ok(one('HEALTHCHECK').includes(`http://127.0.0.1:${port}/healthz`), 'HEALTHCHECK asks the admin /healthz');
  const exposed = one('EXPOSE').split(/\s+/);
  assert.ok(exposed.includes(port!), `EXPOSE ${port}`);
  for (const l of loaded.config.listeners) {
    assert.ok(l.listen.startsWith('0.0.0.0:'), `${l.name}: listens on every interface of the container`);
    assert.ok(exposed.includes(l.listen.split(':')[1]!), `EXPOSE ${l.listen}`);
  }
});

test('runtime dependencies are exactly the packages src/ imports (bundled: the image installs none)', () => {
  const imported = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/(?:from|import\()\s*'([^'.][^']*)'/g)) {
          const spec = m[1]!;
          if (spec.startsWith('node:')) continue;
          imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
        }
      }
    }
  };
  walk(join(ROOT, 'src'));
  const runtime = Object.keys(PKG.dependencies).filter((d) => d !== 'node'); // node: the runtime itself
  assert.deepEqual(runtime.sort(), [...imported].sort());
  assert.ok(PKG.devDependencies['proxy-protocol-js'] !== undefined, 'proxy-protocol-js: tests only');
  assert.ok(one('ENV').includes('NODE_ENV=production'));
  assert.ok(!DF.some((i) => i.op === 'RUN' && /\bnpm\b/.test(i.args)), 'the final stage installs no npm package: they are in the bundle');
  const finalCopies = DF.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from=')).flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  assert.ok(!finalCopies.some((src) => /^(src|node_modules)(\/|$)/.test(src)), `the final stage holds no sources and no node_modules: ${finalCopies.join(' ')}`);
});

test('hadolint passes on the Dockerfile (when hadolint is installed)', (t) => {
  const probe = spawnSync('hadolint', ['--version'], { encoding: 'utf8' });
  if (probe.error !== undefined) {
    // Debian bookworm has no hadolint package; the npm packages named after it download the binary
    // from GitHub at install time, which this workplace's machines cannot do.
    t.skip('hadolint is not installed (no Debian package; npm wrappers download a binary)');
    return;
  }
  const r = spawnSync('hadolint', [join(ROOT, 'Dockerfile')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

function yamlDocs(file: string): Record<string, unknown>[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, file), 'utf8'));
  const out: Record<string, unknown>[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors, [], `${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    assert.deepEqual(d.warnings, [], file);
    const v = d.toJS() as Record<string, unknown> | null;
    if (v !== null) out.push(v);
  }
  return out;
}

const DRAIN_MS = (file: string): number => {
  const loaded = loadConfigFile(file);
  assert.ok(loaded.ok, `${relative(ROOT, file)}: ${loaded.ok ? '' : loaded.errors.join('\n')}`);
  return loaded.config.drainTimeout;
};

test('deploy/compose.yaml: fullproxy in front of two nginx, its mounted config passes check', () => {
  const [compose] = yamlDocs('deploy/compose.yaml');
  type Service = { build?: string; image?: string; command?: string[]; volumes?: string[]; ports?: string[]; stop_grace_period?: string; hostname?: string };
  const services = compose!['services'] as Record<string, Service>;
  const fp = services['fullproxy']!;
  assert.equal(fp.build, '..', 'built from the repository root');
  const mount = fp.volumes!.find((v) => v.split(':')[1] === '/app/conf');
  assert.ok(mount !== undefined, 'the config directory is mounted at /app/conf');
  const hostDir = join(ROOT, 'deploy', mount.split(':')[0]!);
  assert.ok(statSync(hostDir).isDirectory(), 'a directory, not a file');
  assert.equal(fp.command?.[0], '--config');
  const inContainer = fp.command[1]!;
  assert.ok(inContainer.startsWith('conf/'), 'the config is in the mounted directory');
  const file = join(hostDir, inContainer.slice('conf/'.length));
  const drain = DRAIN_MS(file);
  assert.ok((parseDuration(fp.stop_grace_period) ?? 0) > drain, 'stop_grace_period outlasts drainTimeout');
  assert.ok(fp.ports!.some((p) => p.startsWith('127.0.0.1:') && p.endsWith(':9090')), 'admin published on loopback only');
  const loaded = loadConfigFile(file);
  assert.ok(loaded.ok);
  const nginx = Object.entries(services).filter(([, s]) => s.image?.startsWith('nginx:'));
  assert.equal(nginx.length, 2, 'two nginx containers');
  for (const pool of loaded.config.pools) {
    for (const s of pool.servers) assert.ok(nginx.some(([name]) => s.address === `${name}:80`), `${s.address} is one of the nginx services`);
  }
  for (const [name, s] of nginx) {
    for (const v of s.volumes ?? []) assert.ok(existsSync(join(ROOT, 'deploy', v.split(':')[0]!)), `${name}: ${v}`);
  }
});

test('deploy/k8s: Deployment, ConfigMap and Service; the ConfigMap passes check and is mounted as a directory; no sidecar', () => {
  const docs = readdirSync(join(ROOT, 'deploy/k8s'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => yamlDocs(`deploy/k8s/${f}`));
  const byKind = (kind: string) => docs.filter((d) => d['kind'] === kind);
  assert.equal(byKind('Deployment').length, 1);
  assert.equal(byKind('ConfigMap').length, 1);
  assert.equal(byKind('Service').length, 1);
  const cm = byKind('ConfigMap')[0]! as { metadata: { name: string }; data: Record<string, string> };
  type Pod = {
    terminationGracePeriodSeconds: number;
    shareProcessNamespace?: boolean;
    containers: { args: string[]; volumeMounts: { name: string; mountPath: string; subPath?: string }[]; ports: { containerPort: number }[] }[];
    volumes: { name: string; configMap?: { name: string } }[];
  };
  const pod = (byKind('Deployment')[0]! as { spec: { template: { spec: Pod } } }).spec.template.spec;
  assert.equal(pod.containers.length, 1, 'one container: no sidecar');
  assert.notEqual(pod.shareProcessNamespace, true, 'tini stays PID 1 of its own namespace');
  const c = pod.containers[0]!;
  assert.equal(c.args[0], '--config');
  const volume = pod.volumes.find((v) => v.configMap?.name === cm.metadata.name);
  assert.ok(volume !== undefined, 'the ConfigMap is a volume');
  const mount = c.volumeMounts.find((m) => m.name === volume.name);
  assert.ok(mount !== undefined);
  assert.equal(mount.subPath, undefined, 'a directory mount: subPath mounts never see ConfigMap updates');
  assert.ok(c.args[1]!.startsWith(`${mount.mountPath}/`));
  const key = c.args[1]!.slice(mount.mountPath.length + 1);
  const text = cm.data[key];
  assert.ok(text !== undefined, `the ConfigMap has ${key}`);
  const file = join(mkdtempSync(join(tmpdir(), 'fullproxy-k8s-')), key);
  writeFileSync(file, text);
  const drain = DRAIN_MS(file);
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > drain, 'terminationGracePeriodSeconds outlasts drainTimeout');
  const loaded = loadConfigFile(file);
  assert.ok(loaded.ok);
  const ports = c.ports.map((p) => p.containerPort);
  for (const l of loaded.config.listeners) assert.ok(ports.includes(Number(l.listen.split(':')[1])), `${l.name}: containerPort`);
  assert.ok(ports.includes(Number(loaded.config.admin!.listen.split(':')[1])), 'admin: containerPort');
});

test('.ci/run stops the Debian daemons by service or pid file, never by process name', () => {
  const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8').replace(/#.*$/gm, '');
  assert.doesNotMatch(ci, /\b(pkill|killall)\b/);
});

// The shipped form (issue 18 §11): the container runs dist/fullproxy.mjs, the bundle `npm run build`
// makes, not the .ts sources the rest of the suite starts. This file builds it the same way into a
// temp dir laid out as the image is (/app/dist/), with no node_modules and no package.json anywhere
// above it, and runs it as a child: --version, check, traffic both modes, the admin (dashboard,
// metrics), a reload and the drain on SIGTERM. It reports the idle RSS of both forms.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { echoBackend, httpBackend, type Backend } from './helpers/backends.ts';
import { NODE, ROOT, rssOf, spawnProxy, type ChildProxy } from './helpers/fullproxy.ts';

let app = '';
let bundle = '';

before(() => {
  // /tmp/x/ has no node_modules: a bundle that still needed a package would fail to start here.
  app = mkdtempSync(join(tmpdir(), 'fullproxy-shipped-'));
  const r = spawnSync(NODE, [join(ROOT, 'scripts/build.ts'), join(app, 'dist')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  bundle = join(app, 'dist', 'fullproxy.mjs');
  assert.ok(existsSync(join(app, 'dist', 'dashboard.html')), 'the dashboard page is next to the bundle');
});

after(() => {
  if (app !== '') rmSync(app, { recursive: true, force: true });
});

const run = (...args: string[]) => spawnSync(NODE, [bundle, ...args], { encoding: 'utf8', cwd: app });

test('the bundle answers --version like the sources, and check accepts the container config and refuses a bad one with its path', () => {
  const fromSources = spawnSync(NODE, [join(ROOT, 'src/main.ts'), '--version'], { encoding: 'utf8' });
  const v = run('--version');
  assert.equal(v.status, 0, v.stderr);
  assert.equal(v.stdout, fromSources.stdout);
  assert.match(v.stdout, /^fullproxy \d+\.\d+\.\d+ \(node v24\./);
  const ok = run('check', '--config', join(ROOT, 'config/container.json'));
  assert.equal(ok.status, 0, ok.stderr);
  const badDir = mkdtempSync(join(tmpdir(), 'fullproxy-bad-'));
  const bad = join(badDir, 'bad.json');
  mkdirSync(badDir, { recursive: true });
  spawnSync('sh', ['-c', `printf '%s' '{"listeners":[{"name":"a","listen":"127.0.0.1:0","protocol":"http","pool":"nope"}],"pools":[{"name":"p","servers":[{"address":"10.0.0.1"}]}]}' > ${bad}`]);
  const r = run('check', '--config', bad);
  assert.equal(r.status, 1);
  assert.match(r.stderr + r.stdout, /pools\[0\]\.servers\[0\]\.address/);
  assert.match(r.stderr + r.stdout, /listeners\[0\]\.pool/);
  rmSync(badDir, { recursive: true, force: true });
});

test('the bundle proxies http and tcp, serves the admin (dashboard, stats, metrics), reloads on SIGHUP and drains on SIGTERM', async (t) => {
  const web: Backend = await httpBackend('shipped');
  const echo: Backend = await echoBackend();
  let child: ChildProxy | null = null;
  try {
    const config = {
      admin: { listen: '127.0.0.1:0' },
      listeners: [
        { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'web' },
        { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' },
      ],
      pools: [
        { name: 'web', servers: [{ address: web.address }] },
        { name: 'echo', servers: [{ address: echo.address }] },
      ],
    };
    child = await spawnProxy(config, 10_000, bundle);
    const rssShipped = rssOf(child.child.pid!);
    const webAddr = child.listeners.get('web')!;
    const admin = child.listeners.get('#admin')!;

    const res = await fetch(`http://127.0.0.1:${webAddr.port}/hello`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /shipped/);

    const echoed = await new Promise<string>((resolve, reject) => {
      const s = connect(child!.listeners.get('raw')!.port, '127.0.0.1', () => s.write('ping'));
      s.on('data', (d) => {
        resolve(d.toString());
        s.destroy();
      });
      s.on('error', reject);
    });
    assert.equal(echoed, 'ping');

    const page = await fetch(`http://127.0.0.1:${admin.port}/`);
    assert.equal(page.status, 200);
    assert.equal(await page.text(), readFileSync(join(ROOT, 'src/admin/dashboard.html'), 'utf8'));
    const stats = (await (await fetch(`http://127.0.0.1:${admin.port}/api/v1/stats`)).json()) as { config: { generation: number }; listeners: Record<string, { requestsTotal: number }> };
    assert.equal(stats.config.generation, 1);
    assert.equal(stats.listeners['web']!.requestsTotal, 1);
    const metrics = await (await fetch(`http://127.0.0.1:${admin.port}/metrics`)).text();
    assert.match(metrics, /^fullproxy_/m);

    child.child.kill('SIGHUP');
    const generation = async (): Promise<number> => ((await (await fetch(`http://127.0.0.1:${admin.port}/api/v1/stats`)).json()) as { config: { generation: number } }).config.generation;
    const deadline = Date.now() + 5_000;
    while ((await generation()) !== 2) {
      assert.ok(Date.now() < deadline, 'SIGHUP reloaded within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }

    child.child.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    child = null;

    // The sources' form, for the figure: the same config, started the way the tests start it.
    const src = await spawnProxy(config);
    const rssSources = rssOf(src.child.pid!);
    src.child.kill('SIGTERM');
    await src.exited;
    t.diagnostic(`idle RSS just after start: shipped bundle ${(rssShipped / 1048576).toFixed(1)} MiB, .ts sources (type stripping) ${(rssSources / 1048576).toFixed(1)} MiB`);
  } finally {
    child?.child.kill('SIGKILL');
    await web.close();
    await echo.close();
  }
});

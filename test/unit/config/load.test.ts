// load.ts: file → frozen Config. Read and JSON errors name the file; certificate and CA files
// resolve against the config file's directory and are checked (JSON path and file); the result
// cannot be changed; the configs we ship (config/*.json, config/examples/*.json) load.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makePki } from '../../helpers/certs.ts';
import { deepFreeze, loadConfigFile, loadConfigObject } from '../../../src/config/load.ts';
import { SourceMap } from '../../../src/config/positions.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'fullproxy-load-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function write(relative: string, content: unknown): string {
  const path = join(tmp, relative);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return path;
}

/** A problem line without its " (line L, column C)": for tests about something else. */
const withoutPosition = (line: string): string => line.replace(/ \(line \d+, column \d+\)$/, '');

/** " (line L, column C)" of the `nth` occurrence of `needle` in `text`, computed by hand from the text. */
function where(text: string, needle: string, nth = 0): string {
  let offset = -1;
  for (let i = 0; i <= nth; i++) {
    offset = text.indexOf(needle, offset + 1);
    assert.ok(offset >= 0, `${needle} not in the text`);
  }
  const before = text.slice(0, offset).split('\n');
  return ` (line ${before.length}, column ${(before.at(-1) ?? '').length + 1})`;
}

const plain = {
  listeners: [{ name: 'web', listen: '127.0.0.1:8080', protocol: 'http', pool: 'app', acl: [{ action: 'allow', source: '10.0.0.0/8' }] }],
  pools: [
    { name: 'app', servers: [{ address: '127.0.0.1:9001' }] },
    { name: 'other', servers: [{ address: '127.0.0.1:9002' }] },
  ],
};

// TLS blocks name files relative to the config file.
const withTls = {
  listeners: [
    {
      name: 'web',
      listen: '127.0.0.1:8443',
      protocol: 'http',
      pool: 'app',
      tls: { certificates: [{ cert: 'certs/site.crt', key: '../keys/site.key' }, { cert: '/etc/fullproxy/other.crt', key: 'other.key' }] },
    },
  ],
  pools: [
    { name: 'app', servers: [{ address: '127.0.0.1:9001' }], tls: { ca: 'certs/ca.crt' } },
    { name: 'plain', servers: [{ address: '127.0.0.1:9002' }], tls: { verify: false } },
  ],
};

describe('loadConfigFile', () => {
  it('pool tls: the CA file resolves against the config file; missing, unreadable and non-PEM CA files are errors with the JSON path and the file as written', () => {
    const path = write('site/conf/fullproxy.json', withTls);
    const loaded = loadConfigFile(path);
    assert.deepEqual(loaded.ok ? loaded : { ok: false, errors: loaded.errors.map(withoutPosition) }, {
      ok: false,
      errors: [
        'listeners[0].tls.certificates[0].cert: cannot read certs/site.crt: no such file or directory',
        'listeners[0].tls.certificates[0].key: cannot read ../keys/site.key: no such file or directory',
        'listeners[0].tls.certificates[1].cert: cannot read /etc/fullproxy/other.crt: no such file or directory',
        'listeners[0].tls.certificates[1].key: cannot read other.key: no such file or directory',
        'pools[0].tls.ca: cannot read certs/ca.crt: no such file or directory',
      ],
    });
    const pki = makePki();
    const dir = join(pki.dir, 'conf');
    mkdirSync(dir);
    writeFileSync(join(pki.dir, 'garbage.pem'), 'not a certificate\n');
    const config = (tls: unknown): unknown => ({ listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }], pools: [{ name: 'app', servers: [{ address: '127.0.0.1:9001' }], tls }] });
    const good = loadConfigObject(config({ ca: '../ca.crt', servername: 'app.test' }), dir);
    assert.ok(good.ok, good.ok ? '' : good.errors.join('\n'));
    assert.equal(good.config.pools[0]?.tls?.ca, pki.caCert); // resolved against the config's directory
    assert.equal(good.config.pools[0]?.tls?.verify, true);
    const none = loadConfigObject(config({ verify: false }), dir);
    assert.ok(none.ok);
    for (const [ca, line] of [
      ['ca.crt', 'pools[0].tls.ca: cannot read ca.crt: no such file or directory'],
      ['../garbage.pem', 'pools[0].tls.ca: ../garbage.pem is not a PEM CA certificate bundle'],
      ['..', 'pools[0].tls.ca: cannot read ..: is a directory'],
    ] as const) {
      const bad = loadConfigObject(config({ ca }), dir);
      assert.deepEqual(bad.ok ? [] : bad.errors, [line]);
    }
  });

  it('listener certificates: missing, unreadable and mismatched files are errors with the JSON path and the file as written', () => {
    const pki = makePki();
    const one = pki.leaf('one', ['one.test']);
    const two = pki.leaf('two', ['two.test']);
    const dir = join(pki.dir, 'conf');
    mkdirSync(dir);
    const config = (certificates: unknown): unknown => ({ listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app', tls: { certificates } }], pools: [{ name: 'app', servers: [{ address: '127.0.0.1:9001' }] }] });
    const good = loadConfigObject(config([{ cert: '../one.crt', key: '../one.key' }]), dir);
    assert.ok(good.ok, good.ok ? '' : good.errors.join('\n'));
    assert.equal(good.config.listeners[0]?.tls?.certificates[0]?.cert, one.cert); // resolved against the config's directory
    const bad = loadConfigObject(config([{ cert: '../one.crt', key: '../one.key' }, { cert: 'certs/x.crt', key: 'certs/x.key' }, { cert: two.cert, key: one.key }, { cert: '../one.key', key: '../one.crt' }]), dir);
    assert.deepEqual(bad.ok ? [] : bad.errors, [
      'listeners[0].tls.certificates[1].cert: cannot read certs/x.crt: no such file or directory',
      'listeners[0].tls.certificates[1].key: cannot read certs/x.key: no such file or directory',
      `listeners[0].tls.certificates[2].key: ${one.key} does not match the certificate ${two.cert} (listeners[0].tls.certificates[2].cert)`,
      'listeners[0].tls.certificates[3].cert: ../one.key is not a PEM certificate',
      'listeners[0].tls.certificates[3].key: ../one.crt is not a PEM private key (encrypted keys are not supported)',
    ]);
  });

  it('returns the absolute path even when given a relative one', () => {
    const absolute = join(REPO, 'config/demo.json');
    const result = loadConfigFile(relative(process.cwd(), absolute));
    assert.ok(result.ok);
    assert.equal(result.path, absolute);
  });

  it('freezes the whole result: a write throws in strict mode', () => {
    const result = loadConfigFile(write('frozen.json', plain));
    assert.ok(result.ok);
    const config = result.config;
    assert.ok(Object.isFrozen(config));
    assert.throws(() => {
      (config as { drainTimeout: number }).drainTimeout = 1;
    }, TypeError);
    assert.throws(() => {
      (config.pools[0]?.servers[0] as { weight: number }).weight = 5;
    }, TypeError);
    assert.throws(() => {
      (config.listeners as unknown[]).push({});
    }, TypeError);
    assert.throws(() => {
      (config.listeners[0]?.timeouts as { clientIdle: number }).clientIdle = 0;
    }, TypeError);
    assert.ok(Object.isFrozen(config.listeners[0]?.acl[0]));
  });

  it('reports a missing file in one line naming it', () => {
    const path = join(tmp, 'nope.json');
    assert.deepEqual(loadConfigFile(path), { ok: false, errors: [`${path}: cannot read: no such file or directory`] });
  });

  it('reports a directory in one line naming it', () => {
    assert.deepEqual(loadConfigFile(tmp), { ok: false, errors: [`${tmp}: cannot read: is a directory`] });
  });

  it('reports an unreadable file', { skip: process.getuid?.() === 0 ? 'root reads everything' : false }, () => {
    const path = write('secret.json', plain);
    chmodSync(path, 0o000);
    assert.deepEqual(loadConfigFile(path), { ok: false, errors: [`${path}: cannot read: permission denied`] });
  });

  it('reports invalid JSON with line and column', () => {
    const path = write('broken.json', '{\n  "listeners": [\n    { "name": "web", },\n  ]\n}\n');
    assert.deepEqual(loadConfigFile(path), { ok: false, errors: [`${path}: invalid JSON: Expected double-quoted property name (line 3, column 22)`] });
  });

  it('accepts a UTF-8 byte order mark', () => {
    const result = loadConfigFile(write('bom.json', `\uFEFF${JSON.stringify(plain)}`));
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
  });

  it('reports schema problems without the file name, as SPEC shows them, then where they are', () => {
    const path = write('bad.json', { listeners: [{ name: 'web', listen: '127.0.0.1:80', protocol: 'tcp', pool: 'ap' }], pools: [{ name: 'app', servers: [{ address: '10.0.0.1' }] }] });
    const text = readFileSync(path, 'utf8');
    assert.deepEqual(loadConfigFile(path), {
      ok: false,
      errors: [`listeners[0].pool: no pool named "ap"${where(text, '"ap"')}`, `pools[0].servers[0].address: expected host:port, got "10.0.0.1"${where(text, '"10.0.0.1"')}`],
    });
  });
});

describe('loadConfigObject', () => {
  it('freezes', () => {
    const result = loadConfigObject(structuredClone(plain), '/srv/fp');
    assert.ok(result.ok);
    assert.ok(Object.isFrozen(result.config.pools[1]?.servers[0]));
  });

  it('leaves the caller\'s object alone', () => {
    for (const config of [plain, withTls]) {
      const input = structuredClone(config);
      loadConfigObject(input, '/srv/fp');
      assert.deepEqual(input, config);
      assert.equal(Object.isFrozen(input), false);
    }
  });

  it('returns the validation errors', () => {
    assert.deepEqual(loadConfigObject({}, '/'), { ok: false, errors: ['listeners: required', 'pools: required'] });
  });
});

describe('deepFreeze', () => {
  it('freezes nested objects and arrays and returns its argument', () => {
    const value = { a: [{ b: 1 }], c: { d: { e: 'x' } } };
    assert.equal(deepFreeze(value), value);
    assert.ok(Object.isFrozen(value.a) && Object.isFrozen(value.a[0]) && Object.isFrozen(value.c.d));
  });
  it('passes primitives through and survives cycles', () => {
    assert.equal(deepFreeze(5), 5);
    assert.equal(deepFreeze(null), null);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    assert.equal(deepFreeze(cyclic), cyclic);
  });
});

describe('positions', () => {
  const lines = (text: string): string[] => {
    const r = loadConfigFile(write('positions.json', text));
    return r.ok ? [] : r.errors;
  };
  const base = (listener: string, pool = '"name": "app", "servers": [{ "address": "127.0.0.1:1" }]'): string =>
    `{\n  "listeners": [\n    { ${listener} }\n  ],\n  "pools": [\n    { ${pool} }\n  ]\n}\n`;
  const listener = '"name": "web", "listen": "127.0.0.1:0", "protocol": "tcp", "pool": "app"';
  it('a wrong value: the value; an unknown key: the key; a required key: the object it belongs in', () => {
    let text = base(listener.replace('"127.0.0.1:0"', '"nowhere"'));
    assert.deepEqual(lines(text), [`listeners[0].listen: expected host:port, got "nowhere"${where(text, '"nowhere"')}`]);
    text = base(`${listener}, "bogus": { "a": 1 }`);
    assert.deepEqual(lines(text), [`listeners[0].bogus: unknown key${where(text, '"bogus"')}`]);
    text = base(listener.replace('"name": "web", ', ''));
    assert.deepEqual(lines(text), [`listeners[0].name: required${where(text, '{ "listen"')}`]);
    text = base(listener, '"servers": [{ "address": "127.0.0.1:1" }]');
    assert.deepEqual(lines(text), [`pools[0].name: required${where(text, '{ "servers"')}`]);
    assert.deepEqual(lines('{}'), ['listeners: required (line 1, column 1)', 'pools: required (line 1, column 1)']);
  });
  it('a cross-reference: the value that names what is missing', () => {
    const text = base(listener.replace('"pool": "app"', '"pool": "ap"'));
    assert.deepEqual(lines(text), [`listeners[0].pool: no pool named "ap"${where(text, '"ap"')}`]);
  });
  it('a key written twice: the last one, which JSON.parse keeps', () => {
    const text = base(`${listener}, "listen": "nowhere"`);
    assert.deepEqual(lines(text), [`listeners[0].listen: expected host:port, got "nowhere"${where(text, '"nowhere"')}`]);
  });
  it('columns in UTF-16 code units after a byte order mark, with CRLF line ends and non-ASCII names', () => {
    const text = base(listener.replace('"web"', '"wéb✓"').replace('"127.0.0.1:0"', '"x"')).replaceAll('\n', '\r\n');
    // The BOM is not part of the document: positions are those of the text without it.
    assert.deepEqual(lines(`\uFEFF${text}`), [`listeners[0].listen: expected host:port, got "x"${where(text, '"x"')}`]);
    assert.equal(where(text, '"x"'), ' (line 3, column 33)'); // é and ✓ are one code unit each
  });
  it('lines are sorted by position, a required key where its object starts', () => {
    const text = base('"listen": "x", "protocol": "tcp", "pool": "app"', '"servers": [{ "address": "y" }], "name": "app", "retries": -1');
    assert.deepEqual(lines(text), [
      `listeners[0].name: required${where(text, '{ "listen"')}`,
      `listeners[0].listen: expected host:port, got "x"${where(text, '"x"')}`,
      `pools[0].servers[0].address: expected host:port, got "y"${where(text, '"y"')}`,
      `pools[0].retries: expected an integer >= 0, got -1${where(text, '-1')}`,
    ]);
  });
  it('the lines of the file checks (certificates, CA) carry their position too, in the same run as the rest', () => {
    const text = base(`${listener.replace('"tcp"', '"http"')}, "tls": { "certificates": [{ "cert": "no.crt", "key": "no.key" }] }`, '"name": "app", "servers": [{ "address": "127.0.0.1:1" }], "tls": { "ca": "no-ca.pem" }, "retries": 11');
    assert.deepEqual(lines(text), [
      `listeners[0].tls.certificates[0].cert: cannot read no.crt: no such file or directory${where(text, '"no.crt"')}`,
      `listeners[0].tls.certificates[0].key: cannot read no.key: no such file or directory${where(text, '"no.key"')}`,
      `pools[0].tls.ca: cannot read no-ca.pem: no such file or directory${where(text, '"no-ca.pem"')}`,
      `pools[0].retries: expected an integer <= 10, got 11${where(text, '11')}`,
    ]);
  });
  it('inline objects (tests, loadConfigObject) get no position', () => {
    assert.deepEqual(loadConfigObject({ listeners: [], pools: [] }, '/'), { ok: false, errors: ['listeners: expected a non-empty array, got []', 'pools: expected a non-empty array, got []'] });
  });
});

describe('JSON syntax errors: one line with a position, never a second parser\'s opinion', () => {
  // V8 gives a position for most syntax errors; jsonc-parser's first error places the rest.
  const broken = ['{"a": tru}', '{"a": 1,}', '[1, 2,]', '{"a" 1}', '{"a": "x\ny"}', '{"a": 01}', '{"a": -}', '{"a": 1.}', '{"a": 1e}', '{"a": "\\q"}', '{"a": "\\u12G4"}', '{} x', '{"a": [1, 2}', '', '   ', '{', '"abc', '{"a": nul}', "{'a': 1}", '{\n  // note\n  "a": 1\n}', '{"a": 1 /* x */}', '{"a": NaN}', '{"a": .5}'];
  for (const text of broken) {
    it(JSON.stringify(text), () => {
      const path = write('syntax.json', text);
      const r = loadConfigFile(path);
      assert.equal(r.ok, false);
      const errors = r.ok ? [] : r.errors;
      assert.equal(errors.length, 1);
      assert.match(errors[0] ?? '', new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: invalid JSON: [^\n]+ \\(line \\d+, column \\d+\\)$`));
    });
  }
  it('a comment is refused where it starts (the file is JSON, not JSONC)', () => {
    const path = write('comment.json', '{\n  // note\n  "a": 1\n}');
    assert.deepEqual(loadConfigFile(path), { ok: false, errors: [`${path}: invalid JSON: Expected property name or '}' (line 2, column 3)`] });
  });
  it('counts lines and columns from 1', () => {
    assert.deepEqual(new SourceMap('ab\ncd').at(0), { offset: 0, line: 1, column: 1 });
    assert.deepEqual(new SourceMap('ab\ncd').at(4), { offset: 4, line: 2, column: 2 });
    assert.deepEqual(new SourceMap('ab\n').at(3), { offset: 3, line: 2, column: 1 });
    assert.deepEqual(new SourceMap('').at(5), { offset: 0, line: 1, column: 1 });
  });
});

describe('shipped configs load', () => {
  const files = ['config/fullproxy.json', 'config/demo.json', ...readdirSync(join(REPO, 'config/examples')).filter((f) => f.endsWith('.json')).sort().map((f) => `config/examples/${f}`)];
  it('there are examples to check', () => assert.ok(files.length >= 6));
  for (const file of files) {
    it(file, () => {
      const result = loadConfigFile(join(REPO, file));
      assert.deepEqual(result.ok ? [] : result.errors, []);
    });
  }
  it('demo.json is what `fullproxy demo` expects', () => {
    const result = loadConfigFile(join(REPO, 'config/demo.json'));
    assert.ok(result.ok);
    const { config } = result;
    assert.deepEqual(
      config.listeners.map((l) => [l.name, l.protocol, l.listen, l.pool]),
      [
        ['web', 'http', '127.0.0.1:8080', 'demo'],
        ['tcp', 'tcp', '127.0.0.1:8081', 'demo'],
      ],
    );
    assert.deepEqual(config.pools.map((p) => [p.name, p.scheduler, p.servers.map((s) => s.address)]), [['demo', 'rr', ['127.0.0.1:9001', '127.0.0.1:9002', '127.0.0.1:9003']]]);
    assert.equal(config.admin?.listen, '127.0.0.1:9090');
    assert.equal(config.logging.access, true);
  });
});

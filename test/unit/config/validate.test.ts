// validate.ts: the fixture table (every invalid config yields exactly its expected lines), the valid
// fixtures, defaults, durations as the config sees them, and the round trip Config → validate → same Config.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { loadConfigFile } from '../../../src/config/load.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { checkConfig, formatPath, formatProblems, NOT_IMPLEMENTED, parseProblemLine, validateConfig } from '../../../src/config/validate.ts';
import type { NotImplemented } from '../../../src/config/validate.ts';

const FIXTURES = fileURLToPath(new URL('../../fixtures/config/', import.meta.url));
const INVALID = join(FIXTURES, 'invalid');
const VALID = join(FIXTURES, 'valid');

const jsonFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();

/** The smallest valid config; tests spread over it to vary one thing. */
function minimal(listener: Record<string, unknown> = {}, pool: Record<string, unknown> = {}, root: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    listeners: [{ name: 'web', listen: '127.0.0.1:8080', protocol: 'tcp', pool: 'app', ...listener }],
    pools: [{ name: 'app', servers: [{ address: '127.0.0.1:9001' }], ...pool }],
    ...root,
  };
}

function errorsOf(input: unknown): string[] {
  const result = validateConfig(input);
  assert.equal(result.ok, false, 'expected the config to be rejected');
  return result.ok ? [] : result.errors;
}

describe('invalid fixtures: exactly the expected lines', () => {
  const files = jsonFiles(INVALID);
  it('has at least 15 cases', () => {
    assert.ok(files.length >= 15, `${files.length} fixtures`);
  });
  for (const file of files) {
    it(file, () => {
      const path = join(INVALID, file);
      const expected = readFileSync(path.replace(/\.json$/, '.expected.txt'), 'utf8').split('\n').filter((l) => l !== '');
      const result = loadConfigFile(path);
      assert.equal(result.ok, false);
      if (result.ok) return;
      // Read and JSON errors name the file; the fixtures write it as <file> so they do not depend on the checkout path.
      assert.deepEqual(
        result.errors.map((l) => l.split(path).join('<file>')),
        expected,
      );
    });
  }
});

describe('valid fixtures', () => {
  for (const file of jsonFiles(VALID)) {
    it(file, () => {
      const result = loadConfigFile(join(VALID, file));
      assert.deepEqual(result.ok ? [] : result.errors, []);
    });
  }
});

describe('defaults', () => {
  it('fills every section with the documented defaults, durations in ms', () => {
    const result = validateConfig(minimal());
    assert.ok(result.ok);
    const { config } = result;
    assert.equal(config.drainTimeout, 30_000);
    assert.equal(config.admin, undefined, 'no admin section, no admin server');
    assert.deepEqual(config.limits, { maxSessions: 100_000, onFull: 'refuse' });
    assert.deepEqual(config.logging, { level: 'info', access: true });
    const listener = config.listeners[0];
    assert.ok(listener);
    assert.deepEqual(listener.timeouts, { clientIdle: 300_000, requestHeaders: 10_000, requestBody: 30_000, httpKeepAlive: 5_000 });
    assert.equal(listener.idleReset, undefined, 'absent: the protocol decides (defaultIdleReset)');
    assert.equal(listener.tcpKeepAlive, 60_000);
    assert.deepEqual(listener.routes, []);
    assert.deepEqual(listener.acl, []);
    assert.deepEqual(listener.forwardedHeaders, { xForwardedFor: 'append', trustedProxies: [] });
    assert.deepEqual(listener.limits, { maxConnections: 10_000, maxHeaderBytes: 16_384 });
    const pool = config.pools[0];
    assert.ok(pool);
    assert.equal(pool.scheduler, 'rr');
    assert.deepEqual(pool.servers, [{ address: '127.0.0.1:9001', weight: 1, maxConnections: 0, backup: false }]);
    assert.deepEqual(pool.timeouts, { connect: 3_000, serverIdle: 300_000, response: 60_000, queue: 1_000 });
    assert.deepEqual(pool.connectionPool, { maxIdlePerServer: 64, idleTimeout: 30_000, reuse: 'safe' });
    assert.equal(pool.sendProxyProtocol, 'off');
    assert.equal(pool.retries, 1);
    assert.equal(pool.healthCheck, undefined, 'no active health check by default (SPEC)');
    assert.equal(pool.persistence, undefined);
    assert.equal(pool.source, undefined);
  });

  it('defaults inside optional sections once the section is present', () => {
    const result = validateConfig(minimal({ acceptProxyProtocol: { from: ['10.0.0.0/8'] } }, { source: { addresses: ['127.0.0.2'] } }, { admin: {} }));
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    const { config } = result;
    assert.equal(config.admin?.listen, DEFAULTS.admin.listen);
    assert.equal(config.listeners[0]?.acceptProxyProtocol?.timeout, 3_000);
    assert.deepEqual(config.pools[0]?.source, { addresses: ['127.0.0.2'], portRange: [1024, 65535], onExhausted: 'queue', queueTimeout: 1_000, queueLength: 1024 });
  });

  it('the schema still describes the refused blocks as they will be (validateConfig refuses them first)', () => {
    // What the features of issues 15 and 16 will read; docs/configuration.md documents these defaults.
    const result = configSchema.safeParse(
      minimal({ tls: { certificates: [{ cert: 'a.crt', key: 'a.key' }] } }, { healthCheck: { type: 'http' }, persistence: { type: 'cookie' } }),
    );
    assert.ok(result.success);
    const config = result.data;
    // alpn stays absent: its default depends on the protocol (listener/tls.ts listenerAlpn).
    assert.deepEqual(config.listeners[0]?.tls, { certificates: [{ cert: 'a.crt', key: 'a.key' }], minVersion: 'TLSv1.2', handshakeTimeout: 10_000 });
    assert.deepEqual(config.pools[0]?.healthCheck, { type: 'http', path: '/', interval: 2_000, timeout: 1_000, rise: 2, fall: 3, expectStatus: '200-399' });
    assert.deepEqual(config.pools[0]?.persistence, { type: 'cookie', name: 'FPSRV' });
  });

  it('does not share default arrays between two validations', () => {
    const a = validateConfig(minimal());
    const b = validateConfig(minimal());
    assert.ok(a.ok && b.ok);
    assert.notEqual(a.config.listeners[0]?.routes, b.config.listeners[0]?.routes);
  });
});

describe('durations in the config', () => {
  const accepted: [unknown, number][] = [
    ['250ms', 250],
    ['5s', 5_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    [1500, 1500],
    [0, 0],
    ['1.5s', 1_500],
  ];
  for (const [value, ms] of accepted) {
    it(`accepts ${JSON.stringify(value)} as ${ms} ms`, () => {
      const result = validateConfig(minimal({ timeouts: { clientIdle: value } }));
      assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
      assert.equal(result.config.listeners[0]?.timeouts.clientIdle, ms);
    });
  }
  const rejected: [unknown, string][] = [
    ['5', '"5"'],
    ['-1s', '"-1s"'],
    ['1d', '"1d"'],
    [1.5, '1.5'],
    [true, 'true'],
    [-1, '-1'],
    ['', '""'],
    [null, 'null'],
  ];
  for (const [value, shown] of rejected) {
    it(`rejects ${JSON.stringify(value)}`, () => {
      assert.deepEqual(errorsOf(minimal({ timeouts: { clientIdle: value } })), [
        `listeners[0].timeouts.clientIdle: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got ${shown}`,
      ]);
    });
  }
  it('tcpKeepAlive takes false or a duration', () => {
    const off = validateConfig(minimal({ tcpKeepAlive: false }, { tcpKeepAlive: '30s' }));
    assert.ok(off.ok);
    assert.equal(off.config.listeners[0]?.tcpKeepAlive, false);
    assert.equal(off.config.pools[0]?.tcpKeepAlive, 30_000);
    assert.deepEqual(errorsOf(minimal({}, { tcpKeepAlive: 'on' })), [
      'pools[0].tcpKeepAlive: expected false or a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "on"',
    ]);
  });
});

describe('messages', () => {
  it('the SPEC example, word for word', () => {
    const input = minimal({}, { servers: [{ address: '10.0.0.2:80' }, { address: '10.0.0.3:80' }, { address: '10.0.0.1' }] });
    assert.deepEqual(errorsOf(input), ['pools[0].servers[2].address: expected host:port, got "10.0.0.1"']);
  });
  it('wrong enum, integer as string, missing name, unknown key', () => {
    const input = {
      listeners: [{ name: 'web', listen: '127.0.0.1:8080', protocol: 'htp', pool: 'app', bogus: true, limits: { maxConnections: '5' } }],
      pools: [{ servers: [{ address: '127.0.0.1:9001' }] }],
    };
    assert.deepEqual(errorsOf(input), [
      'listeners[0].protocol: expected one of "tcp", "http", "udp", got "htp"',
      'listeners[0].bogus: unknown key',
      'listeners[0].limits.maxConnections: expected integer, got "5"',
      'pools[0].name: required',
    ]);
  });
  it('a problem at the root', () => {
    assert.deepEqual(errorsOf(null), ['(root): expected object, got null']);
    assert.deepEqual(errorsOf('x'), ['(root): expected object, got "x"']);
    assert.deepEqual(errorsOf({}), ['listeners: required', 'pools: required']);
  });
  it('cross-references are checked in the same pass as the schema', () => {
    // Before, "ap" showed up only once the address was fixed: one run must show everything to fix.
    assert.deepEqual(errorsOf(minimal({ pool: 'ap', listen: 'nowhere' })), ['listeners[0].listen: expected host:port, got "nowhere"', 'listeners[0].pool: no pool named "ap"']);
    assert.deepEqual(errorsOf(minimal({ pool: 'ap' })), ['listeners[0].pool: no pool named "ap"']);
  });
  it('lines follow the order of the document, and are the same every time', () => {
    const input = { pools: [{ name: 'app', servers: [{ address: 'x', weight: -1 }] }], listeners: [{ name: 'web', listen: 'y', protocol: 'tcp', pool: 'app' }] };
    const first = errorsOf(input);
    assert.deepEqual(first, [
      'pools[0].servers[0].address: expected host:port, got "x"',
      'pools[0].servers[0].weight: expected an integer >= 0, got -1',
      'listeners[0].listen: expected host:port, got "y"',
    ]);
    assert.deepEqual(errorsOf(input), first);
  });
  it('long values are shortened to keep one line readable', () => {
    const [line] = errorsOf(minimal({ name: 'x'.repeat(200), protocol: 'x'.repeat(200) }));
    assert.ok(line !== undefined && line.length < 140, line);
    assert.match(line, /\.\.\.$/);
  });
  it('a udp and a tcp listener may share an address; two tcp ones may not', () => {
    const udp = { name: 'dns', listen: '127.0.0.1:8080', protocol: 'udp', pool: 'app' };
    const base = minimal();
    // udp itself is refused (not implemented yet), but its address does not collide with the tcp one.
    assert.deepEqual(errorsOf({ ...base, listeners: [...(base['listeners'] as unknown[]), udp] }), [
      'listeners[1].protocol: "udp" not implemented yet (udp listeners: no open issue plans them); use "tcp" or "http"',
    ]);
    const tcp = { ...udp, protocol: 'http' };
    assert.deepEqual(errorsOf({ ...base, listeners: [...(base['listeners'] as unknown[]), tcp] }), [
      'listeners[1].listen: duplicate address "127.0.0.1:8080" (also used by listeners[0])',
    ]);
  });
});

describe('underscoresInHeaders (issue 13 row 8)', () => {
  it('"drop" or "keep" on an http listener; absent means drop at run time (defaults.ts)', () => {
    for (const v of ['drop', 'keep']) {
      const r = validateConfig(minimal({ protocol: 'http', underscoresInHeaders: v }));
      assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
      assert.equal(r.ok && r.config.listeners[0]!.underscoresInHeaders, v);
    }
    const r = validateConfig(minimal({ protocol: 'http' }));
    assert.ok(r.ok);
    assert.equal(r.ok && r.config.listeners[0]!.underscoresInHeaders, undefined);
    assert.equal(DEFAULTS.listener.underscoresInHeaders, 'drop');
  });
  it('another value is refused with its path', () => {
    assert.deepEqual(errorsOf(minimal({ protocol: 'http', underscoresInHeaders: true })), ['listeners[0].underscoresInHeaders: expected one of "drop", "keep", got true']);
  });
  it('a tcp listener with the key is an error, even with the default value: it would not act on it', () => {
    for (const v of ['drop', 'keep']) assert.deepEqual(errorsOf(minimal({ protocol: 'tcp', underscoresInHeaders: v })), ['listeners[0].underscoresInHeaders: only for protocol "http"']);
  });
});

describe('keys not implemented yet are refused with their JSON path (SPEC: the config never lies)', () => {
  // One row per refused key: [where, listener overrides, pool overrides, the one expected line].
  const cases: [string, Record<string, unknown>, Record<string, unknown>, string][] = [
    ['listeners[].tls.alpn "h2" on http', { protocol: 'http', tls: { certificates: [{ cert: 'site.crt', key: 'site.key' }], alpn: ['http/1.1', 'h2'] } }, {}, 'listeners[0].tls.alpn[1]: "h2" not implemented yet (HTTP/2 to clients: no open issue yet); use "http/1.1"'],
    ['listeners[].protocol "udp"', { protocol: 'udp' }, {}, 'listeners[0].protocol: "udp" not implemented yet (udp listeners: no open issue plans them); use "tcp" or "http"'],
  ];
  for (const [name, listener, pool, line] of cases) {
    it(`${name}: exactly its line`, () => {
      assert.deepEqual(errorsOf(minimal(listener, pool)), [line]);
    });
  }

  // The mechanism for key rows (one line per block, nothing from inside it, the rest checked in
  // the same pass) is tested with a table of its own below: rows leave NOT_IMPLEMENTED as features land.

  it('every listener and pool is checked, not only the first', () => {
    const input = {
      listeners: [
        { name: 'a', listen: '127.0.0.1:8080', protocol: 'tcp', pool: 'app' },
        { name: 'b', listen: '127.0.0.1:8081', protocol: 'udp', pool: 'app' },
      ],
      pools: [
        { name: 'app', servers: [{ address: '127.0.0.1:9001' }] },
        { name: 'other', servers: [{ address: '127.0.0.1:9002' }], healthCheck: { type: 'sctp' } },
      ],
    };
    assert.deepEqual(errorsOf(input), [
      'listeners[1].protocol: "udp" not implemented yet (udp listeners: no open issue plans them); use "tcp" or "http"',
      'pools[1].healthCheck.type: expected one of "tcp", "http", got "sctp"',
    ]);
  });

  it('a tcp listener may offer h2 through ALPN: its server speaks what it is given', () => {
    const r = validateConfig(minimal({ protocol: 'tcp', tls: { certificates: [{ cert: 'a.crt', key: 'a.key' }], alpn: ['h2'] } }));
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  });

  it('implemented neighbours pass: backup servers, PROXY protocol both ways, acl, source, limits without perClient', () => {
    const result = validateConfig(
      minimal(
        { acceptProxyProtocol: { from: ['10.0.0.0/8'] }, acl: [{ action: 'deny', source: '203.0.113.0/24' }], limits: { maxConnections: 5 } },
        {
          servers: [{ address: '127.0.0.1:9001' }, { address: '127.0.0.1:9002', backup: true }],
          sendProxyProtocol: 'v2',
          source: { addresses: ['127.0.0.2'] },
          timeouts: { connect: '1s' },
        },
      ),
    );
    assert.ok(result.ok, result.ok ? '' : result.errors.join('\n'));
    assert.equal(result.config.pools[0]?.healthCheck, undefined);
  });

  it('every key of the schema is either acted on or refused (a new key must be sorted here)', () => {
    // Leaf paths of the schema, as docs.test.ts walks them; a refused block covers everything under it.
    type Def = { type: string; [key: string]: unknown };
    const defOf = (schema: unknown): Def => (schema as { _zod: { def: Def } })._zod.def;
    const leaves = (schema: unknown, prefix: string): string[] => {
      const def = defOf(schema);
      switch (def.type) {
        case 'optional':
        case 'default':
        case 'prefault':
          return leaves(def['innerType'], prefix);
        case 'object':
          return Object.entries(def['shape'] as Record<string, unknown>).flatMap(([k, inner]) => leaves(inner, prefix === '' ? k : `${prefix}.${k}`));
        case 'union': {
          const options = def['options'] as unknown[];
          return options.every((o) => defOf(o).type === 'object') ? [...new Set(options.flatMap((o) => leaves(o, prefix)))] : [prefix];
        }
        case 'array': {
          const inner = leaves(def['element'], `${prefix}[]`);
          return inner.length === 1 && inner[0] === `${prefix}[]` ? [prefix] : inner;
        }
        default:
          return [prefix];
      }
    };
    // Keys the running version acts on (checked against src/ when this list was written). protocol
    // "udp" is refused by value; the key itself is acted on for "tcp" and "http".
    const actedOn = new Set([
      '$schema', // an editor hint, accepted and ignored: it asks nothing of the proxy
      'admin.listen', 'admin.token', 'drainTimeout', 'limits.maxSessions', 'limits.onFull', 'logging.level', 'logging.access',
      'listeners[].name', 'listeners[].listen', 'listeners[].protocol', 'listeners[].pool',
      'listeners[].acceptProxyProtocol.from', 'listeners[].acceptProxyProtocol.timeout',
      'listeners[].routes[].host', 'listeners[].routes[].pathPrefix', 'listeners[].routes[].sni', 'listeners[].routes[].pool',
      'listeners[].forwardedHeaders.xForwardedFor', 'listeners[].forwardedHeaders.trustedProxies', 'listeners[].underscoresInHeaders',
      'listeners[].timeouts.clientIdle', 'listeners[].timeouts.requestHeaders', 'listeners[].timeouts.requestBody', 'listeners[].timeouts.httpKeepAlive',
      'listeners[].idleReset', 'listeners[].tcpKeepAlive', 'listeners[].limits.maxConnections', 'listeners[].limits.maxHeaderBytes',
      'listeners[].acl[].action', 'listeners[].acl[].source', 'listeners[].limits.perClient.maxConnections', 'listeners[].limits.perClient.newPerSecond',
      'listeners[].tls.certificates[].cert', 'listeners[].tls.certificates[].key', 'listeners[].tls.minVersion', 'listeners[].tls.handshakeTimeout', 'listeners[].tls.alpn',
      'pools[].name', 'pools[].scheduler', 'pools[].servers[].address', 'pools[].servers[].weight', 'pools[].servers[].maxConnections', 'pools[].servers[].backup',
      'pools[].sendProxyProtocol', 'pools[].timeouts.connect', 'pools[].timeouts.serverIdle', 'pools[].timeouts.response', 'pools[].timeouts.queue',
      'pools[].tcpKeepAlive', 'pools[].connectionPool.maxIdlePerServer', 'pools[].connectionPool.idleTimeout', 'pools[].connectionPool.reuse',
      'pools[].source.addresses', 'pools[].source.portRange', 'pools[].source.onExhausted', 'pools[].source.queueTimeout', 'pools[].source.queueLength',
      'pools[].retries', 'pools[].slowStart', 'pools[].tls.servername', 'pools[].tls.ca', 'pools[].tls.verify',
      'pools[].healthCheck.type', 'pools[].healthCheck.interval', 'pools[].healthCheck.timeout', 'pools[].healthCheck.rise', 'pools[].healthCheck.fall',
      'pools[].healthCheck.path', 'pools[].healthCheck.host', 'pools[].healthCheck.expectStatus',
      'pools[].persistence.type', 'pools[].persistence.timeout', 'pools[].persistence.netmask', 'pools[].persistence.netmask6', 'pools[].persistence.name',
    ]);
    const refused = NOT_IMPLEMENTED.map((r) => `${r.section}[].${r.key.join('.')}`);
    const all = leaves(configSchema, '');
    const unsorted = all.filter((path) => !actedOn.has(path) && !refused.some((r) => path === r || path.startsWith(`${r}.`)));
    assert.deepEqual(unsorted, []);
    // And every refused block is in the schema (a stale row would refuse nothing).
    for (const r of refused) assert.ok(all.some((path) => path === r || path.startsWith(`${r}.`)), r);
  });
});

describe('pools[].tls (issue 15: re-encryption to servers)', () => {
  it('accepted, verify on by default; servername and ca optional', () => {
    const r = validateConfig(minimal({}, { tls: {} }));
    assert.ok(r.ok);
    assert.deepEqual(r.config.pools[0]?.tls, { verify: true });
    const full = validateConfig(minimal({}, { tls: { servername: 'app.internal', ca: 'ca.crt', verify: false } }));
    assert.ok(full.ok);
  });
  it('shape errors name the key', () => {
    assert.deepEqual(errorsOf(minimal({}, { tls: { servername: '', verify: 'no', sni: 'x' } })), [
      'pools[0].tls.servername: expected a non-empty string, got ""',
      'pools[0].tls.verify: expected true or false, got "no"',
      'pools[0].tls.sni: unknown key',
    ]);
  });
  it('an IP address as servername is refused (SNI carries names only)', () => {
    assert.deepEqual(errorsOf(minimal({}, { tls: { servername: '10.0.0.1' } })), [
      'pools[0].tls.servername: expected a host name, got the IP address "10.0.0.1" (SNI carries names only; leave servername out to check the certificate against the server\'s address)',
    ]);
  });
});

describe('pools[].healthCheck (issue 16: acted on)', () => {
  it('is accepted, tcp and http, with the documented defaults', () => {
    const tcp = validateConfig(minimal({}, { healthCheck: { type: 'tcp' } }));
    assert.ok(tcp.ok, tcp.ok ? '' : tcp.errors.join('\n'));
    assert.deepEqual(tcp.config.pools[0]?.healthCheck, { type: 'tcp', interval: 2_000, timeout: 1_000, rise: 2, fall: 3 });
    const http = validateConfig(minimal({}, { healthCheck: { type: 'http', path: '/healthz', host: 'app.internal', interval: '100ms', timeout: '1s', rise: 1, fall: 5, expectStatus: '204' } }));
    assert.ok(http.ok, http.ok ? '' : http.errors.join('\n'));
    assert.deepEqual(http.config.pools[0]?.healthCheck, { type: 'http', path: '/healthz', host: 'app.internal', interval: 100, timeout: 1_000, rise: 1, fall: 5, expectStatus: '204' });
  });

  it('bad values name their JSON path', () => {
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'icmp' } })), ['pools[0].healthCheck.type: expected one of "tcp", "http", got "icmp"']);
    // In the order of the document (the keys as written).
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'tcp', path: '/x', rise: 0, interval: 'soon' } })), [
      'pools[0].healthCheck.path: unknown key',
      'pools[0].healthCheck.rise: expected an integer >= 1, got 0',
      'pools[0].healthCheck.interval: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "soon"',
    ]);
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'http', path: 'healthz' } })), ['pools[0].healthCheck.path: expected a string starting with "/", got "healthz"']);
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'http', path: '/a b' } })), ['pools[0].healthCheck.path: expected a path without spaces or control characters, got "/a b"']);
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'http', host: 'a\r\nX-Evil: 1' } })), ['pools[0].healthCheck.host: expected a host name without spaces or control characters, got "a\\r\\nX-Evil: 1"']);
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'http', expectStatus: '2xx' } })), ['pools[0].healthCheck.expectStatus: expected a status or range like "200-399", got "2xx"']);
    assert.deepEqual(errorsOf(minimal({}, { healthCheck: { type: 'http', expectStatus: '399-200' } })), ['pools[0].healthCheck.expectStatus: expected a range from low to high like "200-399", got "399-200"']);
  });

  it('persistence and slowStart pass beside it (issue 16: acted on)', () => {
    const r = validateConfig(minimal({}, { healthCheck: { type: 'tcp' }, slowStart: '30s', persistence: { type: 'source-ip' } }));
    assert.ok(r.ok, r.ok ? '' : r.errors.join('\n'));
  });
});

describe('one pass: cross-references beside schema problems, never a consequence twice', () => {
  it('a bad duration, an unknown key and a route to a missing pool: three lines', () => {
    const input = minimal({ protocol: 'http', routes: [{ host: 'api.test', pool: 'api' }], tiemouts: {} }, { timeouts: { connect: '3 s' } });
    assert.deepEqual(errorsOf(input), [
      'listeners[0].routes[0].pool: no pool named "api"',
      'listeners[0].tiemouts: unknown key',
      'pools[0].timeouts.connect: expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got "3 s"',
    ]);
  });
  it('a pool whose name is wrong or missing: no "no pool named" guesses, its own line says it', () => {
    assert.deepEqual(errorsOf(minimal({}, { name: '' })), ['pools[0].name: expected a non-empty string, got ""']);
    assert.deepEqual(errorsOf(minimal({}, { name: undefined, nmae: 'app' })), ['pools[0].name: required', 'pools[0].nmae: unknown key']);
    assert.deepEqual(errorsOf({ listeners: minimal()['listeners'] }), ['pools: required']);
    assert.deepEqual(errorsOf({ ...minimal(), pools: [] }), ['pools: expected a non-empty array, got []']);
    assert.deepEqual(errorsOf({ ...minimal(), pools: ['app'] }), ['pools[0]: expected object, got "app"']);
  });
  it('a pool with other problems still has its name: references to it are fine, and to others are checked', () => {
    const input = { listeners: [{ name: 'a', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }, { name: 'b', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'nope' }], pools: [{ name: 'app', servers: [{ address: 'x' }] }] };
    assert.deepEqual(errorsOf(input), ['listeners[1].pool: no pool named "nope"', 'pools[0].servers[0].address: expected host:port, got "x"']);
  });
  it('an empty or ill-formed servers list is not also "only backups"', () => {
    assert.deepEqual(errorsOf(minimal({}, { servers: [] })), ['pools[0].servers: expected a non-empty array, got []']);
    assert.deepEqual(errorsOf(minimal({}, { servers: [{ address: '127.0.0.1:1', backup: 'yes' }] })), ['pools[0].servers[0].backup: expected true or false, got "yes"']);
    assert.deepEqual(errorsOf(minimal({}, { servers: [{ address: '127.0.0.1:1', backup: true }] })), ['pools[0].servers: expected at least one server with "backup": false, got only backups']);
  });
  it('duplicates are counted among the values that are well formed', () => {
    const input = minimal({}, { servers: [{ address: '127.0.0.1:1' }, { address: '127.0.0.1:1', weight: -1 }, { address: 7 }] });
    assert.deepEqual(errorsOf(input), [
      'pools[0].servers[1].address: duplicate server "127.0.0.1:1"',
      'pools[0].servers[1].weight: expected an integer >= 0, got -1',
      'pools[0].servers[2].address: expected host:port, got 7',
    ]);
  });
  it('a listener whose protocol is wrong gets no protocol rule lines, its references are still checked', () => {
    assert.deepEqual(errorsOf(minimal({ protocol: 'htp', pool: 'ap', routes: [{ host: 'a.test', pool: 'b' }], underscoresInHeaders: 'keep' })), [
      'listeners[0].protocol: expected one of "tcp", "http", "udp", got "htp"',
      'listeners[0].pool: no pool named "ap"',
      'listeners[0].routes[0].pool: no pool named "b"',
    ]);
  });
  it('a tcp route with a typo\'d key is not also "sni required"', () => {
    assert.deepEqual(errorsOf(minimal({ routes: [{ sin: 'a.test', pool: 'app' }] })), ['listeners[0].routes[0].sin: unknown key']);
    assert.deepEqual(errorsOf(minimal({ routes: [{ pool: 'app' }] })), ['listeners[0].routes[0].sni: required on a tcp listener']);
  });
  it('an address that is wrong is not compared with the others', () => {
    const input = { ...minimal(), listeners: [{ name: 'a', listen: '127.0.0.1:80', protocol: 'tcp', pool: 'app' }, { name: 'a', listen: '127.0.0.1:80x', protocol: 'tcp', pool: 'app' }] };
    assert.deepEqual(errorsOf(input), ['listeners[1].name: duplicate name "a"', 'listeners[1].listen: expected host:port, got "127.0.0.1:80x"']);
  });
});

describe('the refusal mechanism (a table of its own: rows leave NOT_IMPLEMENTED as features land)', () => {
  const table: NotImplemented[] = [
    { section: 'listeners', key: ['limits', 'maxHeaderBytes'], until: 'big heads: issue 99' },
    { section: 'pools', key: ['connectionPool'], until: 'pooling: issue 98' },
  ];
  const errors = (input: unknown): string[] => {
    const checked = checkConfig(input, table);
    assert.equal(checked.config, null);
    return formatProblems(input, checked.problems);
  };
  it('one line per refused key, never also what is wrong inside it; the rest checked in the same pass', () => {
    assert.deepEqual(errors(minimal({ pool: 'ap', limits: { maxHeaderBytes: 'big' } }, { connectionPool: { bogus: 1 }, retries: 11 })), [
      'listeners[0].pool: no pool named "ap"',
      'listeners[0].limits.maxHeaderBytes: not implemented yet (big heads: issue 99); remove it',
      'pools[0].connectionPool: not implemented yet (pooling: issue 98); remove it',
      'pools[0].retries: expected an integer <= 10, got 11',
    ]);
  });
  it('every listener and pool, not only the first; the caller\'s object stays as it was', () => {
    const input = {
      listeners: [minimal()['listeners'] as unknown[]][0]!.concat([{ name: 'b', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app', limits: { maxHeaderBytes: 2048 } }]),
      pools: [{ name: 'app', servers: [{ address: '127.0.0.1:1' }] }, { name: 'other', servers: [{ address: '127.0.0.1:2' }], connectionPool: {} }],
    };
    const before = structuredClone(input);
    assert.deepEqual(errors(input), [
      'listeners[1].limits.maxHeaderBytes: not implemented yet (big heads: issue 99); remove it',
      'pools[1].connectionPool: not implemented yet (pooling: issue 98); remove it',
    ]);
    assert.deepEqual(input, before);
  });
  it('the config passes once the keys are gone', () => {
    assert.notEqual(checkConfig(minimal(), table).config, null);
  });
});

describe('parseProblemLine (the lines the file checks word themselves)', () => {
  it('reads back what formatPath writes', () => {
    for (const path of [['pools', 0, 'tls', 'ca'], ['listeners', 12, 'tls', 'certificates', 3, 'key'], ['listeners', 1, 'max connections'], ['$schema']]) {
      assert.deepEqual(parseProblemLine(`${formatPath(path)}: it: is wrong`), { path, message: 'it: is wrong' });
    }
  });
  it('null for a line that does not start with a path', () => {
    for (const line of ['(root): x', 'no colon', '.a: x', 'a..b: x', '[0]a: x', ': x']) assert.equal(parseProblemLine(line), null, line);
  });
});

describe('formatPath', () => {
  it('formats keys, indexes and awkward keys', () => {
    assert.equal(formatPath([]), '(root)');
    assert.equal(formatPath(['pools', 0, 'servers', 2, 'address']), 'pools[0].servers[2].address');
    assert.equal(formatPath(['listeners', 1, 'max connections']), 'listeners[1]["max connections"]');
    assert.equal(formatPath(['a.b']), '["a.b"]');
  });
});

describe('round trip', () => {
  // A validated Config is itself valid input (durations in ms, defaults written out) and validates
  // to the same thing: nothing is lost or reinterpreted on the way through (grpc-js config tests).
  const REPO = fileURLToPath(new URL('../../../', import.meta.url));
  const examples = join(REPO, 'config/examples');
  const sources = [
    ...jsonFiles(VALID).map((f) => join(VALID, f)),
    join(REPO, 'config/fullproxy.json'),
    join(REPO, 'config/demo.json'),
    ...jsonFiles(examples).map((f) => join(examples, f)),
  ];
  for (const path of sources) {
    it(path.startsWith(FIXTURES) ? path.slice(FIXTURES.length) : path.slice(REPO.length), () => {
      const first = validateConfig(JSON.parse(readFileSync(path, 'utf8')));
      assert.ok(first.ok, first.ok ? '' : first.errors.join('\n'));
      const second = validateConfig(JSON.parse(JSON.stringify(first.config)));
      assert.ok(second.ok, second.ok ? '' : second.errors.join('\n'));
      assert.deepEqual(second.config, first.config);
    });
  }
});

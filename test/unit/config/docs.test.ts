// docs/configuration.md documents every key of the schema, and the defaults it quotes are the ones
// in defaults.ts: the reference cannot fall behind the code (fastify's errors.test.js idea).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DEFAULTS } from '../../../src/config/defaults.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { NOT_IMPLEMENTED } from '../../../src/config/validate.ts';

const DOC = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');

type Def = { type: string; [key: string]: unknown };
function defOf(schema: unknown): Def {
  return (schema as { _zod: { def: Def } })._zod.def;
}

/** Leaf key paths of a schema: "timeouts.clientIdle", "servers[].address"; objects and arrays of objects are walked. */
function leaves(schema: unknown, prefix: string): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
    case 'nullable':
      return leaves(def['innerType'], prefix);
    case 'object': {
      const shape = def['shape'] as Record<string, unknown>;
      return Object.entries(shape).flatMap(([key, inner]) => leaves(inner, prefix === '' ? key : `${prefix}.${key}`));
    }
    case 'union': {
      const options = def['options'] as unknown[];
      if (options.every((o) => defOf(o).type === 'object')) return [...new Set(options.flatMap((o) => leaves(o, prefix)))];
      return [prefix];
    }
    case 'array': {
      const element = def['element'];
      const inner = leaves(element, `${prefix}[]`);
      return inner.length === 1 && inner[0] === `${prefix}[]` ? [prefix] : inner;
    }
    default:
      return [prefix];
  }
}

describe('docs/configuration.md', () => {
  const all = leaves(configSchema, '');
  it('finds the keys of the schema', () => {
    assert.ok(all.includes('listeners[].timeouts.clientIdle'));
    assert.ok(all.includes('pools[].servers[].address'));
    assert.ok(all.includes('pools[].healthCheck.expectStatus'));
  });
  // The tables name keys relative to their section: listener and pool keys without the
  // "listeners[]." / "pools[]." prefix.
  for (const path of all) {
    const relative = path.replace(/^(listeners|pools)\[\]\./, '');
    it(`documents ${path}`, () => {
      assert.ok(DOC.includes(`| \`${relative}\` |`), `no table row for \`${relative}\``);
    });
  }

  it('marks every refused key "(not implemented yet: refused)", and nothing else', () => {
    const MARK = '(not implemented yet: refused)';
    const row = (key: string): string => DOC.split('\n').find((l) => l.startsWith(`| \`${key}\` |`)) ?? '';
    // Listener and pool keys share names (tls): the row of the right section's table.
    const sectionOf = (name: string): string => {
      const start = DOC.indexOf(`\n## ${name}\n`);
      assert.ok(start >= 0, `no section "## ${name}"`);
      const end = DOC.indexOf('\n## ', start + 1);
      return DOC.slice(start, end === -1 ? undefined : end);
    };
    let rows = 0;
    for (const { section: s, key } of NOT_IMPLEMENTED) {
      const table = sectionOf(s);
      const leaf = key.join('.');
      const line = table.split('\n').find((l) => l.startsWith(`| \`${leaf}\` |`)) ?? '';
      // A block documented by its own table (limits.perClient by its keys) carries the mark on those rows.
      const lines = line !== '' ? [line] : table.split('\n').filter((l) => l.startsWith(`| \`${leaf}.`));
      assert.ok(lines.length > 0, `no row for ${s}[].${leaf}`);
      for (const l of lines) assert.ok(l.includes(MARK), `${s}[].${leaf}: expected ${MARK} in "${l}"`);
      rows += lines.length;
    }
    assert.ok(row('protocol').includes(`\`udp\`: L4 datagrams ${MARK}`), row('protocol'));
    assert.equal(DOC.includes('not yet implemented'), false, 'the old mark, which said the keys were accepted');
    // Only those: a mark on an implemented key would turn users away from it.
    const marked = DOC.split('\n').filter((l) => l.startsWith('| `') && l.includes(MARK)).length;
    assert.equal(marked, rows + 1); // + protocol (udp)
  });

  it('quotes the defaults of defaults.ts', () => {
    const row = (key: string): string => DOC.split('\n').find((l) => l.startsWith(`| \`${key}\` |`)) ?? '';
    const ms = (key: string, value: number): void => assert.ok(row(key).includes(`(${value})`), `${key}: expected (${value}) in "${row(key)}"`);
    ms('drainTimeout', DEFAULTS.drainTimeout);
    for (const [key, value] of Object.entries(DEFAULTS.listener.timeouts)) ms(`timeouts.${key}`, value);
    ms('tls.handshakeTimeout', DEFAULTS.listener.tls.handshakeTimeout);
    ms('acceptProxyProtocol.timeout', DEFAULTS.listener.acceptProxyProtocol.timeout);
    for (const [key, value] of Object.entries(DEFAULTS.pool.timeouts)) ms(`timeouts.${key}`, value);
    ms('connectionPool.idleTimeout', DEFAULTS.pool.connectionPool.idleTimeout);
    ms('source.queueTimeout', DEFAULTS.pool.source.queueTimeout);
    ms('healthCheck.interval', DEFAULTS.pool.healthCheck.interval);
    ms('healthCheck.timeout', DEFAULTS.pool.healthCheck.timeout);
    ms('persistence.timeout', DEFAULTS.pool.persistence.timeout);
    const plain = (key: string, value: unknown): void => {
      const text = `\`${JSON.stringify(value).replaceAll(',', ', ')}\``; // arrays as the docs write them: [1024, 65535]
      assert.ok(row(key).includes(text), `${key}: expected ${text} in "${row(key)}"`);
    };
    plain('admin.listen', DEFAULTS.admin.listen);
    plain('limits.maxSessions', DEFAULTS.limits.maxSessions);
    plain('limits.onFull', DEFAULTS.limits.onFull);
    plain('logging.level', DEFAULTS.logging.level);
    plain('logging.access', DEFAULTS.logging.access);
    plain('limits.maxConnections', DEFAULTS.listener.limits.maxConnections);
    plain('limits.maxHeaderBytes', DEFAULTS.listener.limits.maxHeaderBytes);
    plain('forwardedHeaders.xForwardedFor', DEFAULTS.listener.forwardedHeaders.xForwardedFor);
    plain('underscoresInHeaders', DEFAULTS.listener.underscoresInHeaders);
    plain('tls.minVersion', DEFAULTS.listener.tls.minVersion);
    plain('tls.alpn', DEFAULTS.listener.tls.alpn);
    plain('scheduler', DEFAULTS.pool.scheduler);
    plain('servers[].weight', DEFAULTS.pool.server.weight);
    plain('servers[].maxConnections', DEFAULTS.pool.server.maxConnections);
    plain('servers[].backup', DEFAULTS.pool.server.backup);
    plain('sendProxyProtocol', DEFAULTS.pool.sendProxyProtocol);
    plain('retries', DEFAULTS.pool.retries);
    plain('connectionPool.maxIdlePerServer', DEFAULTS.pool.connectionPool.maxIdlePerServer);
    plain('connectionPool.reuse', DEFAULTS.pool.connectionPool.reuse);
    plain('source.portRange', DEFAULTS.pool.source.portRange);
    plain('source.onExhausted', DEFAULTS.pool.source.onExhausted);
    plain('source.queueLength', DEFAULTS.pool.source.queueLength);
    plain('healthCheck.rise', DEFAULTS.pool.healthCheck.rise);
    plain('healthCheck.fall', DEFAULTS.pool.healthCheck.fall);
    plain('healthCheck.path', DEFAULTS.pool.healthCheck.path);
    plain('healthCheck.expectStatus', DEFAULTS.pool.healthCheck.expectStatus);
    plain('persistence.name', DEFAULTS.pool.persistence.cookieName);
  });
});

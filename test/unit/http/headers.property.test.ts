// A property test (fast-check) of buildRequestHeaders over random header lists with random
// Connection tokens (issue 13 row 3 "Proof"): whenever the builder accepts a request, the head it
// forwards has exactly one Host (the absolute-form authority when there is one, else the received
// Host), never an `undefined` name or value, and no value moved to another field: every output
// pair is an input pair unchanged, in the input's order, or one the proxy adds itself. Plus the
// rules around it: hop-by-hop and Connection-named fields gone (but never Host, framing or the
// proxy's fields), Content-Length as canonical digits, names with `_` as the listener says.
// Bounded: a fixed seed and run count (FC_SEED / FC_RUNS override them to explore).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { buildRequestHeaders, forwardingContext, HOP_BY_HOP, VIA } from '../../../src/http/headers.ts';
import { ForwardedPolicy } from '../../../src/http/forwarded.ts';

const SEED = Number(process.env['FC_SEED'] ?? 0x13c0de);
const RUNS = Number(process.env['FC_RUNS'] ?? 3000);

/** Names the header pass treats specially, in assorted cases, and names with `_`. */
const SPECIAL = ['Connection', 'connection', 'X-Forwarded-For', 'x-forwarded-for', 'X-Forwarded-Proto', 'X-Forwarded-Port', 'Via', 'via', 'Upgrade',
  'Keep-Alive', 'TE', 'Expect', 'Proxy-Connection', 'Proxy-Authorization', 'X_Forwarded_For', 'x_forwarded_proto', 'Content_Length', 'Host_'] as const;
/** Host and framing names: also drawn at random, rarely (a second Host or a random Content-Length is a 400). */
const FRAMING = ['Host', 'host', 'HOST', 'Content-Length', 'content-length', 'Transfer-Encoding', 'transfer-encoding'] as const;
const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^`|~-]{1,10}$/);
const underscored = fc.tuple(token, token).map(([a, b]) => `${a}_${b}`);
const name = fc
  .oneof({ weight: 6, arbitrary: fc.constantFrom(...SPECIAL) }, { weight: 4, arbitrary: token }, { weight: 2, arbitrary: underscored }, { weight: 1, arbitrary: fc.constantFrom(...FRAMING) })
  .filter((n) => n !== 'undefined');

/** A field value as message-head.ts hands it on: field-vchar/obs-text/SP/HTAB, no leading or trailing OWS. */
const VALUE_CHARS = ['\t', ' ', ...Array.from({ length: 0x7f - 0x21 }, (_, i) => String.fromCharCode(0x21 + i)), '\x80', '\xe9', '\xff'];
const value = fc
  .oneof(
    fc.string({ unit: fc.constantFrom(...VALUE_CHARS), maxLength: 16 }),
    fc.constantFrom('5', '0005', `${'0'.repeat(43)}7`, '0', 'chunked', 'a.test', 'b.test:8080', 'close', 'websocket', '100-continue', '1.1.1.1'),
  )
  .map((v) => v.replace(/^[ \t]+|[ \t]+$/g, ''))
  .filter((v) => v !== 'undefined');

/** Connection values: lists of names from the pool (host, framing, proxy fields, random ones) and options. */
const connectionValue = fc
  .array(fc.oneof(name, fc.constantFrom(...FRAMING), fc.constantFrom('close', 'keep-alive', 'Upgrade', 'host', 'content-length', 'transfer-encoding', 'x-forwarded-for', 'via')), { minLength: 1, maxLength: 5 })
  .chain((toks) => fc.constantFrom(', ', ',', ' ,').map((sep) => toks.join(sep)));

/** A request's field list: random fields, usually one Host, maybe a framing, Connection lines, in random order. */
const fields = fc
  .record({
    rest: fc.array(fc.tuple(name, value), { maxLength: 10 }),
    host: fc.option(fc.tuple(fc.constantFrom('Host', 'host', 'HOST'), fc.constantFrom('a.test', 'b.test:8080', '[::1]:80', 'a.test.', '', 'x y')), { nil: null, freq: 8 }),
    framing: fc.oneof(
      fc.constant<string[]>([]),
      fc.constantFrom('5', '0005', `${'0'.repeat(43)}7`, '0', '00').chain((v) => fc.integer({ min: 1, max: 2 }).map((n) => Array.from({ length: n }, () => ['Content-Length', v]).flat())),
      fc.constant(['Transfer-Encoding', 'chunked']),
    ),
    connections: fc.array(connectionValue, { maxLength: 2 }),
    order: fc.array(fc.nat(), { maxLength: 20 }),
  })
  .map(({ rest, host, framing, connections, order }) => {
    const pairs: Array<[string, string]> = [...rest];
    const extra: Array<[string, string]> = [];
    if (host !== null) extra.push(host);
    for (let i = 0; i < framing.length; i += 2) extra.push([framing[i]!, framing[i + 1]!]);
    for (const c of connections) extra.push(['Connection', c]);
    extra.forEach((p, i) => pairs.splice((order[i] ?? 0) % (pairs.length + 1), 0, p));
    return pairs.flat();
  });

const authority = fc.option(fc.constantFrom('target.test', 'target.test:8080', '[2001:db8::1]:443', 'bad host', 'a.test'), { nil: null, freq: 2 });
const policies = [new ForwardedPolicy({ xForwardedFor: 'append', trustedProxies: ['10.0.0.0/8'] }), new ForwardedPolicy({ xForwardedFor: 'replace', trustedProxies: [] }), new ForwardedPolicy({ xForwardedFor: 'off', trustedProxies: [] })];
const context = fc.record({ policy: fc.constantFrom(0, 1, 2), peer: fc.constantFrom('192.0.2.1', '10.1.2.3'), underscores: fc.constantFrom('drop' as const, 'keep' as const) });

const PROTECTED = new Set(['host', 'content-length', 'transfer-encoding', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'via', 'expect']);

test('buildRequestHeaders: one Host, no undefined, nothing shifted, whatever Connection names (property, fast-check)', () => {
  let accepted = 0;
  let namedHost = 0;
  let total = 0;
  fc.assert(
    fc.property(fields, authority, fc.constantFrom('1.1', '1.0'), context, (raw, auth, version, c) => {
      total++;
      const fcx = forwardingContext(policies[c.policy]!, { clientAddress: c.peer, clientPort: 40000, localAddress: '198.51.100.5', localPort: 8080 }, 'http', c.underscores);
      const r = buildRequestHeaders(raw, version, auth, fcx);
      if (r.error !== null) {
        assert.equal(r.headers, null);
        return;
      }
      accepted++;
      const out = r.headers!;
      assert.equal(out.length % 2, 0, 'flat pairs');
      for (const s of out) {
        assert.equal(typeof s, 'string');
        assert.notEqual(s, 'undefined');
      }
      const inPairs: Array<[string, string]> = [];
      for (let i = 0; i < raw.length; i += 2) inPairs.push([raw[i]!, raw[i + 1]!]);
      const named = new Set(inPairs.filter(([n]) => n.toLowerCase() === 'connection').flatMap(([, v]) => v.split(',').map((t) => t.trim().toLowerCase())));
      if (named.has('host')) namedHost++;
      // Only HTTP/1.0 may come without Host: then the proxy writes the address the client connected to.
      const receivedHost = inPairs.find(([n]) => n.toLowerCase() === 'host');
      if (receivedHost === undefined) assert.equal(version, '1.0', 'HTTP/1.1 without Host accepted');
      const expectedHost = auth ?? receivedHost?.[1] ?? '198.51.100.5:8080';

      // Exactly one Host: the authority if any, else the received one; the builder says the same.
      const hosts = [];
      for (let i = 0; i < out.length; i += 2) if (out[i]!.toLowerCase() === 'host') hosts.push(out[i + 1]);
      assert.deepEqual(hosts, [expectedHost]);
      assert.equal(r.host, expectedHost);

      // Every output pair: an input pair unchanged (in input order), or one the proxy adds.
      let cursor = 0;
      const added = new Map<string, number>();
      for (let i = 0; i < out.length; i += 2) {
        const n = out[i]!;
        const v = out[i + 1]!;
        const lower = n.toLowerCase();
        if (lower === 'host') {
          if (receivedHost === undefined) continue; // the proxy's own, for a Host-less HTTP/1.0 request
          // Host at its own input position, under its own name.
          const at = inPairs.indexOf(receivedHost, cursor);
          assert.ok(at >= 0 && n === receivedHost[0], `Host out of place: ${JSON.stringify(out)}`);
          cursor = at + 1;
          continue;
        }
        let at = -1;
        for (let k = cursor; k < inPairs.length; k++) {
          if (inPairs[k]![0] === n && inPairs[k]![1] === v) {
            at = k;
            break;
          }
        }
        if (at >= 0 && !PROTECTED.has(lower)) {
          cursor = at + 1;
          assert.ok(!HOP_BY_HOP.has(lower), `hop-by-hop ${n} forwarded`);
          assert.ok(!named.has(lower), `${n} is named in Connection but forwarded`);
          if (c.underscores === 'drop') assert.ok(!n.includes('_'), `${n} has _ but was forwarded`);
          continue;
        }
        // Added by the proxy: known names, lowercase, known values.
        added.set(lower, (added.get(lower) ?? 0) + 1);
        switch (n) {
          case 'content-length':
            assert.match(v, /^(0|[1-9][0-9]*)$/, 'canonical digits');
            assert.equal(v, String(r.contentLength));
            break;
          case 'transfer-encoding':
            assert.equal(v, 'chunked');
            break;
          case 'x-forwarded-proto':
            assert.equal(v, 'http');
            break;
          case 'x-forwarded-port':
            assert.equal(v, '8080');
            break;
          case 'via':
            assert.ok(v === VIA || v.endsWith(`, ${VIA}`), v);
            break;
          case 'x-forwarded-for':
            assert.ok(v === c.peer || v.endsWith(`, ${c.peer}`) || c.policy === 2, v);
            break;
          default:
            assert.fail(`pair ${JSON.stringify([n, v])} neither from the input (in order) nor added by the proxy: ${JSON.stringify(out)}`);
        }
      }
      for (const [n, count] of added) assert.equal(count, 1, `${n} added ${count} times`);
      assert.equal(added.get('x-forwarded-proto'), 1);
      assert.equal(added.get('x-forwarded-port'), 1);
      assert.equal(added.get('via'), 1);
      assert.equal(added.has('content-length') && added.has('transfer-encoding'), false, 'one framing');
      // Every input field with `_` in its name that nothing else drops is kept with "keep".
      if (c.underscores === 'keep') {
        for (const [n, v] of inPairs) {
          const lower = n.toLowerCase();
          if (n.includes('_') && !named.has(lower) && !HOP_BY_HOP.has(lower)) assert.ok(out.some((x, i) => i % 2 === 0 && x === n && out[i + 1] === v), `${n} dropped with "keep"`);
        }
      }
    }),
    { seed: SEED, numRuns: RUNS, endOnFailure: true },
  );
  // Not vacuous: most runs are accepted, and Connection named Host in many of those.
  assert.equal(total, RUNS);
  assert.ok(accepted > RUNS * 0.25, `only ${accepted} of ${RUNS} accepted`);
  assert.ok(namedHost > RUNS * 0.02, `Connection named Host in only ${namedHost} accepted runs`);
});

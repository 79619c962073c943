// What routing compares (router.ts, issue 13 row 11): dot-segments removed per RFC 3986 §5.2.4,
// encoded unreserved characters (%2e among them) decoded, %2F kept as data, the query cut; Host
// without port, trailing dots and case. The WHATWG URL parser (which also resolves %2e dots) is a
// second judge for the dot-segment removal over random paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Router, normalizePath } from '../../../src/http/router.ts';
import type { ListenerConfig } from '../../../src/config/schema.ts';

const router = new Router({
  pool: 'default',
  routes: [
    { pathPrefix: '/raw/', pool: 'raw' },
    { host: 'api.example.com', pool: 'api' },
    { host: 'dots.example.', pathPrefix: '/a%2fb/', pool: 'encoded' },
  ],
} as unknown as ListenerConfig);

test('RFC 3986 §5.2.4: dot-segments are removed before a path prefix is compared', () => {
  const cases: Array<[string, string]> = [
    ['/raw/x', 'raw'],
    ['/raw/../secret', 'default'],
    ['/raw/./../secret', 'default'],
    ['/raw/..', 'default'],
    ['/raw/.', 'raw'],
    ['/raw/x/..', 'raw'],
    ['/x/../raw/y', 'raw'],
    ['/./raw/y', 'raw'],
    ['/../raw/y', 'raw'],
    ['/x/y/../../raw/', 'raw'],
    ['/raw/x/../../raw/y', 'raw'],
    ['/raw/..x/y', 'raw'], // "..x" is an ordinary segment
    ['/raw/.../y', 'raw'],
    ['/raw/.hidden', 'raw'],
  ];
  for (const [target, pool] of cases) assert.equal(router.match('www.example.com', target), pool, target);
});

test('%2e and %2E count as dots; other encoded unreserved characters are decoded; %2F is not a separator', () => {
  const cases: Array<[string, string]> = [
    ['/raw/%2e%2e/secret', 'default'],
    ['/raw/%2E%2E/secret', 'default'],
    ['/raw/.%2e/secret', 'default'],
    ['/raw/%2e/x', 'raw'],
    ['/x/%2e%2e/raw/y', 'raw'],
    ['/r%61w/x', 'raw'], // %61 is "a"
    ['/%72aw/x', 'raw'],
    ['/raw%2F..%2Fsecret', 'default'], // one segment: "raw%2F..%2Fsecret"
    ['/x%2F..%2Fraw/y', 'default'],
    ['/raw/%zz/../x', 'raw'], // a "%" without hex digits stays as it is
    ['/raw/x%', 'raw'],
  ];
  for (const [target, pool] of cases) assert.equal(router.match('www.example.com', target), pool, target);
});

test('the query (and a stray fragment) take no part in path matching', () => {
  assert.equal(router.match('www.example.com', '/raw/?q=1'), 'raw');
  assert.equal(router.match('www.example.com', '/raw?/../raw/'), 'default');
  assert.equal(router.match('www.example.com', '/secret?x=/raw/'), 'default');
  assert.equal(router.match('www.example.com', '/raw/x?a=/../../'), 'raw');
  assert.equal(router.match('www.example.com', '/raw/../secret?x'), 'default');
  assert.equal(router.match('www.example.com', '/x#/../raw/y'), 'default');
  assert.equal(router.match('www.example.com', '*'), 'default');
});

test('Host: case, port and trailing dots do not matter; a missing Host matches no host route', () => {
  for (const host of ['api.example.com', 'API.example.com', 'api.example.com.', 'API.EXAMPLE.COM.', 'api.example.com.:8080', 'Api.Example.Com:80', 'api.example.com..']) {
    assert.equal(router.match(host, '/'), 'api', host);
  }
  for (const host of ['api.example.co', 'xapi.example.com', 'api.example.com.x', '.api.example.com', '']) {
    assert.equal(router.match(host, '/'), 'default', host);
  }
  assert.equal(router.match(undefined, '/'), 'default');
  const dot = new Router({ pool: 'd', routes: [{ host: '.', pool: 'dot' }] } as unknown as ListenerConfig);
  for (const host of [undefined, '', '.', ':80']) assert.equal(dot.match(host, '/'), 'd', String(host));
});

test('a route is compiled the same way: its host without trailing dot, its prefix normalized', () => {
  assert.equal(router.match('dots.example', '/a%2Fb/c'), 'encoded');
  assert.equal(router.match('DOTS.example.', '/a%2fb/c'), 'encoded');
  assert.equal(router.match('dots.example', '/a/b/c'), 'default');
});

test('normalizePath: the RFC 3986 examples, and what is left alone', () => {
  assert.equal(normalizePath('/a/b/c/./../../g'), '/a/g'); // §5.2.4
  assert.equal(normalizePath('/b/c/./../../g'), '/g');
  assert.equal(normalizePath('/a/b/..'), '/a/');
  assert.equal(normalizePath('/..'), '/');
  assert.equal(normalizePath('/a//../b'), '/a/b');
  assert.equal(normalizePath('/%7Euser/%2e/%41%5a'), '/~user/AZ'); // §6.2.2.2
  assert.equal(normalizePath('/a%2fb%3f'), '/a%2Fb%3F'); // §6.2.2.1: reserved stay encoded, hex uppercase
  assert.equal(normalizePath('/%252e%252e/x'), '/%252e%252e/x'); // decoded once only
  assert.equal(normalizePath('*'), '*');
  assert.equal(normalizePath('/plain/path.css'), '/plain/path.css');
});

test('IPv6 literal hosts keep their brackets; the port is cut after them', () => {
  const r = new Router({ pool: 'd', routes: [{ host: '[::1]', pool: 'v6' }] } as unknown as ListenerConfig);
  assert.equal(r.match('[::1]:80', '/'), 'v6');
  assert.equal(r.match('[::1]', '/'), 'v6');
  assert.equal(r.match('[::2]', '/'), 'd');
});

test('dot-segment removal agrees with the WHATWG URL parser on random paths', () => {
  const segment = fc.constantFrom('a', 'b', 'raw', '.', '..', '%2e', '%2E', '.%2e', '%2e.', '', 'x.y', '...');
  fc.assert(
    fc.property(fc.array(segment, { maxLength: 8 }), (segs) => {
      const path = `/${segs.join('/')}`;
      const whatwg = new URL(`http://h${path}`).pathname;
      // WHATWG keeps non-dot %2e as it is written; ours decodes it: compare with those decoded.
      assert.equal(normalizePath(path), whatwg.replace(/%2e/gi, '.'), path);
    }),
    { numRuns: 2000 },
  );
});

test('the common request is compared in place: the same answers with and without the fast scan', () => {
  // A prefix route with a dot in the path but no dot-segment takes the in-place comparison.
  const r = new Router({ pool: 'd', routes: [{ pathPrefix: '/static/', pool: 's' }] } as unknown as ListenerConfig);
  assert.equal(r.match('h', '/static/app.css'), 's');
  assert.equal(r.match('h', '/static/.well-known'), 's');
  assert.equal(r.match('h', '/static'), 'd');
  assert.equal(r.match('h', '/static?x'), 'd');
  assert.equal(r.match('h', '/stati'), 'd');
});

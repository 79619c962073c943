// Content switching: first match wins, host without port and case, listener pool otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Router } from '../../../src/http/router.ts';
import type { ListenerConfig } from '../../../src/config/schema.ts';

const router = new Router({
  pool: 'default',
  routes: [
    { host: 'api.example.com', pathPrefix: '/v1/', pool: 'api-v1' },
    { host: 'API.example.com', pool: 'api' },
    { pathPrefix: '/static/', pool: 'static' },
    { host: '[::1]', pool: 'v6' },
  ],
} as unknown as ListenerConfig);

test('routes: first match wins; host compared without port and case; default pool otherwise', () => {
  assert.equal(router.match('api.example.com', '/v1/users'), 'api-v1');
  assert.equal(router.match('Api.Example.com:8443', '/v1/users'), 'api-v1');
  assert.equal(router.match('api.example.com', '/v2/users'), 'api');
  assert.equal(router.match('www.example.com', '/static/a.css'), 'static');
  assert.equal(router.match('www.example.com', '/'), 'default');
  assert.equal(router.match(undefined, '/static/x'), 'static');
  assert.equal(router.match('[::1]:80', '/'), 'v6');
});

test('absolute-form targets route by their own host and path (RFC 9112 §3.2.2), origin-form by Host', () => {
  assert.equal(router.route('other.test', 'http://api.example.com/v1/x'), 'api-v1');
  assert.equal(router.route('api.example.com', 'http://other.test/v1/x'), 'default');
  assert.equal(router.route('api.example.com', '/v1/x'), 'api-v1');
  assert.equal(router.route('x', 'http://api.example.com:8080'), 'api', 'no path: "/" does not match /v1/');
  assert.equal(router.route('x', 'https://www.example.com/static/a'), 'static');
});

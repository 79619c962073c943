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

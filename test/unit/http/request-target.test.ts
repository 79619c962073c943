// The request-target the server gets (RFC 9112 §3.2): origin-form as is, absolute-form turned
// into origin-form with its authority as the Host, everything else a 400 before routing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { forwardedTarget } from '../../../src/http/request-target.ts';
import { Router } from '../../../src/http/router.ts';
import type { ListenerConfig } from '../../../src/config/schema.ts';

test('origin-form and OPTIONS * go out unchanged, with the received Host (null: nothing to change)', () => {
  for (const [method, target] of [['GET', '/'], ['GET', '/a/b?c=d&e'], ['POST', '//double'], ['OPTIONS', '*'], ['OPTIONS', '/x']] as const) {
    assert.equal(forwardedTarget(method, target), null, `${method} ${target}`);
  }
});

test('absolute-form: origin-form path (query kept, fragment dropped, "/" or "*" for an empty path) and its authority', () => {
  const cases: Array<[string, string, string, string]> = [
    ['GET', 'http://a.test/x/y?z=1', 'a.test', '/x/y?z=1'],
    ['GET', 'HTTPS://A.test:8443/x', 'A.test:8443', '/x'],
    ['GET', 'http://a.test', 'a.test', '/'],
    ['GET', 'http://a.test?q=1', 'a.test', '/?q=1'],
    ['GET', 'http://a.test/p#frag', 'a.test', '/p'],
    ['GET', 'http://a.test#frag', 'a.test', '/'],
    ['GET', 'http://[::1]:8080/v6', '[::1]:8080', '/v6'],
    ['OPTIONS', 'http://a.test', 'a.test', '*'],
    ['OPTIONS', 'http://a.test?q', 'a.test', '/?q'],
    ['OPTIONS', 'http://a.test/', 'a.test', '/'],
  ];
  for (const [method, target, authority, path] of cases) {
    assert.deepEqual(forwardedTarget(method, target), { authority, target: path, error: null }, `${method} ${target}`);
  }
});

test('targets of no RFC 9112 form, other schemes, userinfo and empty hosts are errors', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['GET', '*', /asterisk-form/],
    ['GET', 'a.test/x', /malformed request target/],
    ['GET', 'a.test:80', /malformed request target/],
    ['GET', '?q', /malformed request target/],
    ['GET', 'ftp://a.test/x', /unsupported scheme in request target: ftp/],
    ['GET', 'http:/a.test/x', /malformed request target/],
    ['GET', 'http://user:pw@a.test/', /userinfo/],
    ['GET', 'http:///x', /without a host/],
    ['GET', 'http://:80/x', /without a host/],
    ['GET', 'http://', /without a host/],
  ];
  for (const [method, target, why] of cases) {
    assert.match(forwardedTarget(method, target)?.error ?? '', why, `${method} ${target}`);
  }
});

test('routing sees the absolute-form target\'s host and path, not the Host header', () => {
  const router = new Router({ pool: 'default', routes: [{ host: 'api.example.com', pathPrefix: '/v1/', pool: 'api-v1' }, { host: 'api.example.com', pool: 'api' }] } as unknown as ListenerConfig);
  const route = (host: string, method: string, target: string): string => {
    const t = forwardedTarget(method, target);
    return t === null ? router.match(host, target) : router.match(t.authority ?? host, t.target);
  };
  assert.equal(route('other.test', 'GET', 'http://api.example.com/v1/x'), 'api-v1');
  assert.equal(route('api.example.com', 'GET', 'http://other.test/v1/x'), 'default');
  assert.equal(route('api.example.com', 'GET', '/v1/x'), 'api-v1');
  assert.equal(route('x', 'GET', 'http://api.example.com:8080'), 'api', 'no path: "/" does not match /v1/');
});

// Regression (found by test/fuzz/proxy-protocol.test.ts, issue 17 §5): a trusted peer sends a
// complete PROXY header and its FIN with nothing after it. Reading the header resumed the socket,
// so Node read the FIN too and emitted 'end' while the server connection was still being made;
// the tcp session forwarded the FIN only to a server socket that did not exist yet, and the
// session stayed open until clientIdle (5 minutes by default), holding a server connection.
// Now the FIN reaches the server once it is connected, and the session ends as it should.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildProxyV1, buildProxyV2 } from '../../../src/net/proxy-protocol.ts';
import { echoBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { exchange } from '../../helpers/pp-backends.ts';
import { waitFor } from '../../helpers/wait.ts';

const HEADERS: Array<[string, Buffer]> = [
  ['v1 UNKNOWN', buildProxyV1(null)],
  ['v1 TCP4', buildProxyV1({ family: 'tcp4', sourceAddress: '192.0.2.7', sourcePort: 4711, destinationAddress: '198.51.100.1', destinationPort: 443 })],
  ['v2 LOCAL', buildProxyV2(null)],
  ['v2 PROXY', buildProxyV2({ family: 'tcp6', sourceAddress: '2001:db8::7', sourcePort: 4711, destinationAddress: '2001:db8::1', destinationPort: 443 })],
];

test('tcp: a PROXY header then FIN, nothing after → the server gets the FIN, the session ends', async () => {
  const b = await echoBackend();
  const p = await startProxy({
    logging: { level: 'info', access: false },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', acceptProxyProtocol: { from: ['127.0.0.0/8'] }, timeouts: { clientIdle: '30s' } }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    for (const [name, header] of HEADERS) {
      const t0 = Date.now();
      const r = await Promise.race([exchange(p.addr('t').port, header), new Promise<null>((res) => setTimeout(() => res(null), 3_000).unref())]);
      assert.ok(r !== null, `${name}: the connection is still open after 3 s: the FIN never reached the server`);
      assert.equal(r.how, 'end', name);
      assert.equal(r.data.length, 0, `${name}: nothing to echo`);
      assert.ok(Date.now() - t0 < 2_000, `${name}: ended after ${Date.now() - t0} ms`);
    }
    await waitFor(() => p.proxy.sessions.size === 0, 2_000, 'no session left');
    assert.equal(b.accepted, HEADERS.length, 'each one reached the server');
  } finally {
    await p.stop();
    await b.close();
  }
});

// close (FIN) then reset (RST) of one socket in the same tick: the reset must still free the
// socket. libuv refuses a reset once a shutdown is under way, and Node then dropped the handle
// without closing it: the fd stayed in the event loop, which spun at full CPU and never exited
// (seen when a drain closed idle http connections and reset them in the same tick).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { closeSocket, resetSocket } from '../../../src/net/socket.ts';
import { socketPair } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

test('resetSocket after closeSocket frees the socket (close event, handle gone)', async (t) => {
  const { accepted, client } = await socketPair(t, false);
  client.on('error', () => {});
  accepted.on('error', () => {});
  const closed = once(accepted, 'close');
  const before = process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
  closeSocket(accepted);
  resetSocket(accepted);
  await closed;
  // Our side's handle is closed: one TCPSocketWrap fewer than before.
  await waitFor(() => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length === before - 1, 2_000, 'the handle to close');
  assert.ok(accepted.destroyed);
});

test('resetSocket on an open socket sends RST (the peer sees ECONNRESET)', async (t) => {
  const { accepted, client } = await socketPair(t, false);
  const err = new Promise<string>((resolve) => {
    client.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    client.on('close', () => resolve('close'));
  });
  resetSocket(accepted);
  assert.equal(await err, 'ECONNRESET');
});

// The http check's reading of a status line: the quick path on the first read (13 bytes) and the
// general one (interim responses, a line in pieces, not HTTP) must agree wherever both decide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finalStatus, quickStatus } from '../../../src/health/http-check.ts';

test('quickStatus reads a final status from the first 13 bytes, else leaves it to finalStatus (0)', () => {
  const cases: Array<[string, number, number | null]> = [
    // [bytes, quickStatus, finalStatus]
    ['HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n', 200, 200],
    ['HTTP/1.0 503 Service Unavailable\r\n\r\n', 503, 503],
    ['HTTP/1.1 204\r\n\r\n', 204, 204],
    ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n', 0, 200],
    ['HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n', 0, 404],
    ['HTTP/1.1 20', 0, null],
    ['HTTP/2 200 OK\r\n\r\n', 0, 0],
    ['HTTP/1.1 2000 OK\r\n\r\n', 0, 0],
    ['SSH-2.0-OpenSSH_9.2\r\n', 0, 0],
    ['HTTP/1.1 600 Odd\r\n\r\n', 0, 0],
  ];
  for (const [bytes, quick, final] of cases) {
    assert.equal(quickStatus(Buffer.from(bytes, 'latin1')), quick, JSON.stringify(bytes));
    assert.equal(finalStatus(bytes), final, JSON.stringify(bytes));
    if (quick !== 0) assert.equal(quick, final, `both paths agree on ${JSON.stringify(bytes)}`);
  }
});

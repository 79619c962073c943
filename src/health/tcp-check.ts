// The tcp check: the connect succeeding is the pass (HAProxy's plain `check`). The connection is
// then closed with a FIN, after the PROXY header the connector queued at connect, so a server that
// requires the header sees a well-formed LOCAL connection rather than a reset.
import type { HealthCheck } from './health-checker.ts';

const TCP: HealthCheck = {
  probe(run) {
    run.finish('pass', 'connected');
  },
};

export function tcpCheck(): HealthCheck {
  return TCP;
}

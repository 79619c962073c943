// The tcp check: the connect succeeding is the pass (HAProxy's plain `check`). The connection is
// then closed at once (health-checker.ts closeCheck): with a RST, as HAProxy closes its checks,
// unless a PROXY header went out first — then with a FIN after it, so a server that requires the
// header sees a well-formed LOCAL connection rather than a reset.
import type { HealthCheck } from './health-checker.ts';

const TCP: HealthCheck = {
  probe(run) {
    run.finish('pass', 'connected');
  },
};

export function tcpCheck(): HealthCheck {
  return TCP;
}

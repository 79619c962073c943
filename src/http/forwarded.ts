// X-Forwarded-For policy (SPEC "Decisions"): `append` keeps the incoming value only when the peer
// is a trusted proxy, then appends the peer; from anyone else it is replaced by the peer.
// `replace` always replaces; `off` leaves the header alone. The last element is always the real
// peer — the TCP peer, or the address a trusted inbound PROXY header gave.
import type { ListenerConfig } from '../config/schema.ts';
import { CidrList } from '../net/cidr.ts';

export class ForwardedPolicy {
  readonly #mode: 'append' | 'replace' | 'off';
  readonly #trusted: CidrList;

  constructor(cfg: ListenerConfig['forwardedHeaders']) {
    this.#mode = cfg.xForwardedFor;
    this.#trusted = new CidrList(cfg.trustedProxies);
  }

  /** The X-Forwarded-For value to send, or null for `off`. `incoming` joins all received XFF headers. */
  forwardedFor(incoming: string | null, peer: string): string | null {
    switch (this.#mode) {
      case 'off':
        return null;
      case 'replace':
        return peer;
      case 'append':
        return incoming !== null && this.#trusted.has(peer) ? `${incoming}, ${peer}` : peer;
    }
  }
}

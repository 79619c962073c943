// A listener's allow/deny rules on the client address: first match wins, no match = allow (SPEC).
import { CidrList } from '../net/cidr.ts';

export class Acl {
  readonly #rules: ReadonlyArray<{ allow: boolean; list: CidrList }>;

  constructor(rules: ReadonlyArray<{ action: 'allow' | 'deny'; source: string }>) {
    this.#rules = rules.map((r) => ({ allow: r.action === 'allow', list: new CidrList([r.source]) }));
  }

  allows(address: string): boolean {
    for (const r of this.#rules) if (r.list.has(address)) return r.allow;
    return true;
  }
}

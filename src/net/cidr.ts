// CIDR lists compiled once into node:net BlockList: "is this peer in the list" on the hot path.
import { BlockList, isIP } from 'node:net';
import { normalizeAddress } from './address.ts';

export class CidrList {
  readonly #list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr = '', bits] = c.split('/');
      const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#list.addAddress(addr, family);
      else this.#list.addSubnet(addr, Number(bits), family);
    }
    this.size = cidrs.length;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const a = normalizeAddress(address);
    const family = isIP(a);
    if (family === 0) return false;
    return this.#list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }
}

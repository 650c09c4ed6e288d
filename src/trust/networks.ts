// Where a module host resolves to, checked against the denied networks before anything is fetched from it.
// An IPv4-mapped IPv6 address (::ffff:169.254.169.254) is checked as the IPv4 address it is.

import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

export function blockListOf(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const c of cidrs) {
    const [addr, bits] = c.split('/');
    const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
    list.addSubnet(addr, prefix, family);
  }
  return list;
}

function plain(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/**
 * The addresses of `host` (a name or an IP literal, IPv6 with or without brackets) that the list denies.
 * A name that does not resolve denies nothing here: the fetch itself reports it.
 */
export async function deniedAddresses(host: string, denied: BlockList): Promise<string[]> {
  const h = host.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(h)) addresses = [h];
  else {
    try {
      addresses = (await lookup(h, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      return [];
    }
  }
  return addresses.filter((a) => {
    const p = plain(a);
    return denied.check(p.address, p.family);
  });
}

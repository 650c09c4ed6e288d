// Networks no fetch may connect to (the load policy's deniedNetworks: cloud metadata and link-local by
// default, as Istio's fetcher), enforced where the connection is made. Checking a name once before the
// fetch is not enough: its answer can change by the time the socket connects (DNS rebinding), and a
// registry or download server can redirect anywhere. So every connection's own lookup goes through the
// guard, and IP-literal URLs (connected without a lookup) are checked per request and per redirect.

import {
  lookup as dnsLookup,
  type LookupAddress,
  type LookupAllOptions,
  type LookupOneOptions,
} from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { OciError } from './errors.js';

/** An IPv4-mapped IPv6 address (::ffff:169.254.169.254) is checked as the IPv4 address it is. */
function plain(address: string): { address: string; family: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1], family: 'ipv4' };
  return { address, family: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

export class ConnectGuard {
  private readonly list = new BlockList();

  /** `cidrs`: addresses or CIDR blocks, IPv4 or IPv6 (validated by the policy schema). */
  constructor(readonly cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, bits] = c.split('/');
      const family = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      const prefix = bits === undefined ? (family === 'ipv4' ? 32 : 128) : Number(bits);
      this.list.addSubnet(addr, prefix, family);
    }
  }

  denies(address: string): boolean {
    const p = plain(address);
    return this.list.check(p.address, p.family);
  }

  /** The refusal for a connection of `host` to `address`. */
  refusal(host: string, address: string): OciError {
    return new OciError(
      'denied-network',
      `${host} resolves to ${address}, in a denied network (${this.cidrs.join(', ')}): refused at connect`,
    );
  }

  /** Throws when `hostname` is an IP address (with or without brackets) in a denied network. */
  checkLiteral(hostname: string): void {
    const h = hostname.replace(/^\[|\]$/g, '');
    if (isIP(h) && this.denies(h)) throw this.refusal(h, h);
  }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for net/tls.connect: resolves as dns.lookup does, then fails the connection when any address
 * it would use is denied. `guard` is read per lookup, so a new policy applies to the next connection.
 */
export function guardedLookup(guard: () => ConnectGuard | undefined) {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true } as LookupAllOptions, (err, addresses) => {
      if (err) return callback(err, []);
      const g = guard();
      const bad = g ? addresses.find((a) => g.denies(a.address)) : undefined;
      if (g && bad) return callback(g.refusal(hostname, bad.address) as NodeJS.ErrnoException, []);
      if ((options as LookupAllOptions).all) return callback(null, addresses);
      const first = addresses[0];
      callback(null, first.address, first.family);
    });
  };
}

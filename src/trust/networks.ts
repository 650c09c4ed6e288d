// Where a module host resolves to, checked against the denied networks before anything is fetched from
// it (a clear refusal up front); the transport checks again at every connection (src/oci/connect-guard.ts).

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { ConnectGuard } from '../oci/connect-guard.js';

/**
 * The addresses of `host` (a name or an IP literal, IPv6 with or without brackets) that the guard denies.
 * A name that does not resolve denies nothing here: the fetch itself reports it.
 */
export async function deniedAddresses(host: string, denied: ConnectGuard): Promise<string[]> {
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
  return addresses.filter((a) => denied.denies(a));
}

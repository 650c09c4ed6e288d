// Passwords and personal access tokens verified recently, so a client that signs in on every request
// (Basic credentials, a token as the password, /token for each new scope) costs one scrypt per lifetime
// of an entry instead of one per request. Only the verification is remembered, keyed by an HMAC (with a
// key that never leaves the process) of the secret and the stored hash it matched: the account or token
// is still read from the database on every request, so a deleted token, a changed password or a removed
// user takes effect at once, on every hub sharing the database. Failures are never remembered.

import { createHmac, randomBytes } from 'node:crypto';
import { verifySecret } from './secrets.js';

/** Most entries kept (the oldest go first). */
export const VERIFIED_SECRETS_MAX = 10_000;

export class VerifiedSecrets {
  private readonly key = randomBytes(32);
  /** HMAC → when the entry lapses (ms since the epoch), oldest first. */
  private readonly entries = new Map<string, number>();

  /** `ttlMs` 0: remember nothing. */
  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = VERIFIED_SECRETS_MAX,
  ) {}

  /** verifySecret(secret, stored), answered from memory when this pair verified within the TTL. */
  async verify(secret: string, stored: string): Promise<boolean> {
    if (this.ttlMs <= 0) return verifySecret(secret, stored);
    const k = createHmac('sha256', this.key).update(stored).update('\0').update(secret).digest('base64');
    const now = Date.now();
    const until = this.entries.get(k);
    if (until !== undefined && until > now) return true;
    const ok = await verifySecret(secret, stored);
    this.entries.delete(k);
    if (ok) {
      this.evict(now);
      this.entries.set(k, now + this.ttlMs);
    }
    return ok;
  }

  /** How many are remembered (tests). */
  get size(): number {
    return this.entries.size;
  }

  private evict(now: number): void {
    for (const [k, until] of this.entries) {
      if (this.entries.size < this.maxEntries && until > now) break;
      this.entries.delete(k);
    }
  }
}

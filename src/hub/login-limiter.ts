// Failed logins, counted per user name and client address: after maxFailures within the window, further
// attempts are refused (429) until the window has passed, so passwords cannot be guessed at speed.

const MAX_KEYS = 100_000;

export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
  ) {}

  private recent(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length) this.failures.set(key, list);
    else this.failures.delete(key);
    return list;
  }

  /** Seconds until the next attempt may be made, or 0 when it may be made now. */
  retryAfter(user: string, address: string, now = Date.now()): number {
    const list = this.recent(`${user}\0${address}`, now);
    if (list.length < this.maxFailures) return 0;
    return Math.ceil((list[0] + this.windowMs - now) / 1000);
  }

  fail(user: string, address: string, now = Date.now()): void {
    const key = `${user}\0${address}`;
    const list = this.recent(key, now);
    list.push(now);
    this.failures.set(key, list);
    // Bounded memory under a spray of names: the oldest keys go first.
    for (const k of this.failures.keys()) {
      if (this.failures.size <= MAX_KEYS) break;
      this.failures.delete(k);
    }
  }

  succeed(user: string, address: string): void {
    this.failures.delete(`${user}\0${address}`);
  }
}

// rate-limit: a token bucket per client key, kept in shared data so every worker (every VM with the
// same vm_id) draws from the same bucket. Updates use compare-and-swap: read the bucket and its
// CAS, compute, write back with that CAS, and start over if another worker wrote in between.
//
//   pluginConfig: { capacity: 10, refillPerSecond: 5, keyHeader: x-api-key }
//
// A request that finds the bucket empty gets 429 with `retry-after` (seconds until a token is
// back); the others get `x-ratelimit-limit` and `x-ratelimit-remaining` on their response.

import {
  Action,
  Configuration,
  currentTimeNanos,
  Header,
  HttpContext,
  log,
  RootContext,
  registerRootContext,
  Status,
  sharedData,
  statusName,
} from '@wasmgate/sdk';

export * from '@wasmgate/sdk/exports';

/** Tokens are counted in thousandths, so that a slow refill still adds up. */
const MILLI: u64 = 1000;
/** How many times a request retries after a CAS mismatch before it is let through. */
const MAX_ATTEMPTS = 16;

class RateLimitConfig extends RootContext {
  capacity: u64 = 10;
  refillPerSecond: f64 = 1;
  keyHeader: string = '';

  onConfigure(config: Configuration): bool {
    if (config.isEmpty) return true;
    const json = config.json();
    if (json === null || !json.isObject) {
      log.error('rate-limit: the configuration must be a JSON object');
      return false;
    }
    const capacity = json.getInt('capacity', <i64>this.capacity);
    const refill = json.getNumber('refillPerSecond', this.refillPerSecond);
    if (capacity < 1 || !(refill >= 0)) {
      log.error('rate-limit: capacity must be at least 1 and refillPerSecond at least 0');
      return false;
    }
    this.capacity = <u64>capacity;
    this.refillPerSecond = refill;
    this.keyHeader = json.getString('keyHeader', '')!;
    return true;
  }

  newHttpContext(id: u32): HttpContext {
    return new RateLimit(id, this);
  }
}

/** A bucket as stored: "<milli-tokens>:<last refill, ns>". */
class Bucket {
  constructor(
    public milliTokens: u64,
    public updatedNs: u64,
  ) {}

  static parse(text: string, fallback: Bucket): Bucket {
    const sep = text.indexOf(':');
    if (sep <= 0) return fallback;
    return new Bucket(U64.parseInt(text.substring(0, sep)), U64.parseInt(text.substring(sep + 1)));
  }

  toString(): string {
    return this.milliTokens.toString() + ':' + this.updatedNs.toString();
  }
}

class RateLimit extends HttpContext {
  remaining: i64 = -1;

  constructor(
    id: u32,
    readonly config: RateLimitConfig,
  ) {
    super(id, config);
  }

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const c = this.config;
    let client = 'global';
    if (c.keyHeader.length > 0) {
      const v = this.request.headers.get(c.keyHeader);
      if (v !== null) client = v;
    }
    const key = 'rate-limit:' + client;
    const full = c.capacity * MILLI;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const now = currentTimeNanos();
      const stored = sharedData.get(key);
      if (!stored.ok && stored.status != Status.NotFound) {
        log.error('rate-limit: cannot read the bucket: ' + statusName(stored.status));
        return Action.Continue; // fail open
      }
      const bucket = stored.ok ? Bucket.parse(stored.text, new Bucket(full, now)) : new Bucket(full, now);
      // Refill for the time since the last update.
      if (now > bucket.updatedNs) {
        const added = (<f64>(now - bucket.updatedNs) * c.refillPerSecond) / 1e6; // ns × tokens/s → milli-tokens
        bucket.milliTokens = added >= <f64>(full - bucket.milliTokens) ? full : bucket.milliTokens + <u64>added;
        bucket.updatedNs = now;
      }
      if (bucket.milliTokens < MILLI) return this.reject(bucket);
      bucket.milliTokens -= MILLI;
      const written = sharedData.setText(key, bucket.toString(), stored.cas);
      if (written == Status.Ok) {
        this.remaining = <i64>(bucket.milliTokens / MILLI);
        return Action.Continue;
      }
      if (written != Status.CasMismatch) {
        log.error('rate-limit: cannot write the bucket: ' + statusName(written));
        return Action.Continue;
      }
      // Another worker updated the bucket since we read it: read it again.
    }
    log.warn('rate-limit: the bucket kept changing; letting the request through');
    return Action.Continue;
  }

  reject(bucket: Bucket): Action {
    const c = this.config;
    // Seconds until one whole token is back (at least 1).
    let retryAfter: u64 = 1;
    if (c.refillPerSecond > 0) {
      const seconds = Math.ceil(<f64>(MILLI - bucket.milliTokens) / <f64>MILLI / c.refillPerSecond);
      if (seconds > 1) retryAfter = <u64>seconds;
    } else retryAfter = 3600;
    this.sendLocalResponse(
      429,
      'rate limit exceeded\n',
      [
        new Header('retry-after', retryAfter.toString()),
        new Header('x-ratelimit-limit', c.capacity.toString()),
        new Header('x-ratelimit-remaining', '0'),
        new Header('content-type', 'text/plain'),
      ],
      'rate_limited',
    );
    return Action.Pause;
  }

  onResponseHeaders(numHeaders: u32, endOfStream: bool): Action {
    if (this.remaining >= 0) {
      this.response.headers.set('x-ratelimit-limit', this.config.capacity.toString());
      this.response.headers.set('x-ratelimit-remaining', this.remaining.toString());
    }
    return Action.Continue;
  }
}

registerRootContext((id: u32): RootContext => new RateLimitConfig(id));

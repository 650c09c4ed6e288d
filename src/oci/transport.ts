// HTTP for registries and module downloads, in one place: which hosts may be spoken to over plain HTTP or
// unverified TLS (loopback always, as in Docker), redirects (credentials never follow to another origin),
// retries with backoff on network errors and 5xx answers, and timeouts.

import { Agent, type Dispatcher, request } from 'undici';
import { OciError } from './errors.js';
import { isLoopbackHost } from './reference.js';

export interface TransportOptions {
  /** Hosts (host[:port], or * for all) that may be reached over plain HTTP or unverified TLS; true for all. */
  insecure?: boolean | readonly string[];
  /** Retries after the first attempt on 5xx and network errors (default 3). */
  retries?: number;
  /** First backoff delay; doubles each retry (default 200 ms). */
  backoffMs?: number;
  /** Timeout for response headers and between body chunks (default 30 s). */
  timeoutMs?: number;
  userAgent?: string;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TransportRequest {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Plain HTTP / unverified TLS allowed, decided by the caller (a registry decides for its token service and blob storage); default: by the URL's host. */
  insecure?: boolean;
}

export interface TransportResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  /** The URL that answered (after redirects). */
  url: string;
  /** Attempts made (1 when the first one answered). */
  attempts: number;
}

/** The network failed on every attempt. */
export class NetworkFailure extends Error {
  constructor(
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(networkMessage(cause), { cause });
    this.name = 'NetworkFailure';
  }
}

const REDIRECTS = [301, 302, 303, 307, 308];
const MAX_REDIRECTS = 5;

const RETRYABLE_NETWORK =
  /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|UND_ERR_CLOSED/;

/** A network error's code and message, for error messages ("ECONNREFUSED (connect ECONNREFUSED …)"). */
export function networkMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const c = err.cause ?? err;
  return c.code
    ? `${c.code}${c.message && !c.message.includes(c.code) ? ` (${c.message})` : ''}`
    : String(c.message ?? e);
}

/** Just the code of a network error (ECONNREFUSED), else its message. */
export function networkCode(e: unknown): string {
  const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  return err.cause?.code ?? err.code ?? err.message;
}

export function isNetworkError(e: unknown): boolean {
  if (e instanceof OciError) return false;
  const err = e as { code?: string; cause?: { code?: string }; message?: string; name?: string };
  return (
    RETRYABLE_NETWORK.test(`${err.code ?? ''} ${err.cause?.code ?? ''} ${err.message ?? ''}`) ||
    err.name === 'SocketError'
  );
}

/** What a TLS client sees when the server speaks plain HTTP (or closes on the hello). */
export function isTlsProtocolError(e: unknown): boolean {
  const err = e as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return /ERR_SSL|EPROTO|wrong version number|packet length too long|ECONNRESET|UND_ERR_SOCKET|other side closed/i.test(
    `${err.code ?? ''} ${err.message ?? ''} ${err.cause?.code ?? ''} ${err.cause?.message ?? ''}`,
  );
}

/** A 5xx worth asking again (not "not implemented", "version not supported", "network auth required"). */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 && ![501, 505, 511].includes(status);
}

/** WASMGATE_INSECURE_REGISTRIES: comma-separated hosts (host[:port]), * for all. */
export function insecureFromEnv(env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  const v = env.WASMGATE_INSECURE_REGISTRIES;
  if (!v) return undefined;
  const hosts = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return hosts.length > 0 ? hosts : undefined;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Transport {
  readonly retries: number;
  readonly backoffMs: number;
  readonly timeoutMs: number;
  readonly userAgent: string;
  private readonly insecure: boolean | readonly string[] | undefined;
  private readonly secure = new Agent();
  private readonly lax = new Agent({ connect: { rejectUnauthorized: false } });

  constructor(options: TransportOptions = {}) {
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 200;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'wasmgate';
    this.insecure = options.insecure;
  }

  async close(): Promise<void> {
    await Promise.all([this.secure.close(), this.lax.close()]);
  }

  /** May this host (host[:port] and its hostname) be spoken to over plain HTTP or unverified TLS? */
  allowsInsecure(host: string, hostname: string): boolean {
    const i = this.insecure;
    if (i === true || isLoopbackHost(hostname)) return true;
    return Array.isArray(i) && (i.includes(host) || i.includes('*'));
  }

  /** The delay before retry number `attempt` (0-based): backoffMs, doubling. */
  backoff(attempt: number): Promise<void> {
    return sleep(this.backoffMs * 2 ** attempt);
  }

  private dispatcherFor(url: URL, insecure: boolean | undefined): Dispatcher {
    return (insecure ?? this.allowsInsecure(url.host, url.hostname)) ? this.lax : this.secure;
  }

  /**
   * One exchange. GET and HEAD follow redirects; the authorization header is not sent to another origin
   * (blob storage behind a registry must not see its credentials).
   */
  async exchange(req: TransportRequest): Promise<Omit<TransportResponse, 'attempts'>> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...req.headers };
    let url = new URL(req.url);
    const follows = req.method === 'GET' || req.method === 'HEAD';
    for (let hops = 0; ; hops++) {
      const res = await request(url, {
        method: req.method,
        headers,
        body: req.body,
        dispatcher: this.dispatcherFor(url, req.insecure),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const loc = res.headers.location;
      if (!follows || !REDIRECTS.includes(res.statusCode) || !loc || hops >= MAX_REDIRECTS)
        return { status: res.statusCode, headers: res.headers, body: res.body, url: url.toString() };
      await res.body.dump();
      const next = new URL(Array.isArray(loc) ? loc[0] : loc, url);
      if (next.origin !== url.origin) delete headers.authorization;
      url = next;
    }
  }

  /**
   * exchange() with retries: a network error or a retryable 5xx is tried again after a backoff. The last
   * answer is returned (a 5xx too, once the retries are spent); when the network failed every time, throws
   * NetworkFailure.
   */
  async send(req: TransportRequest): Promise<TransportResponse> {
    for (let attempt = 0; ; attempt++) {
      const last = attempt >= this.retries;
      try {
        const res = await this.exchange(req);
        if (!last && isRetryableStatus(res.status)) {
          await res.body.dump();
          await this.backoff(attempt);
          continue;
        }
        return { ...res, attempts: attempt + 1 };
      } catch (e) {
        if (!isNetworkError(e)) throw e;
        if (last) throw new NetworkFailure(attempt + 1, e);
        await this.backoff(attempt);
      }
    }
  }
}

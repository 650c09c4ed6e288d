// HTTP for registries and module downloads, in one place: which hosts may be spoken to over plain HTTP or
// unverified TLS (loopback always, as in Docker), the CA bundle for the others, redirects (credentials
// never follow to another origin), retries with backoff on network errors and 5xx answers, a timeout per
// request and an overall deadline (an AbortSignal, which also cancels), and notices while waiting.

import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher, request } from 'undici';
import { type ConnectGuard, guardedLookup } from './connect-guard.js';
import { OciError } from './errors.js';
import { isLoopbackHost } from './reference.js';

/** What a caller may show while a request is slow or retried (`wasmgate pull` prints them, the proxy logs them). */
export type TransportNotice =
  | { kind: 'waiting'; host: string; what: string; elapsedMs: number }
  | {
      kind: 'retry';
      host: string;
      what: string;
      attempt: number;
      attempts: number;
      error: string;
      delayMs: number;
    };

export function formatNotice(n: TransportNotice): string {
  return n.kind === 'waiting'
    ? `waiting for ${n.host} (${n.what}): no answer for ${Math.round(n.elapsedMs / 1000)} s…`
    : `${n.host} (${n.what}): ${n.error}; retrying in ${n.delayMs} ms (attempt ${n.attempt + 1} of ${n.attempts})`;
}

/** The first "waiting for" notice comes after this long without an answer, then every WAIT_REPEAT_MS. */
export const WAIT_NOTICE_MS = 1000;
const WAIT_REPEAT_MS = 5000;

export interface TransportOptions {
  /** Hosts (host[:port], or * for all) that may be reached over plain HTTP or unverified TLS; true for all. */
  insecure?: boolean | readonly string[];
  /** Retries after the first attempt on 5xx and network errors (default 3). */
  retries?: number;
  /** First backoff delay; doubles each retry (default 200 ms). */
  backoffMs?: number;
  /** Timeout for response headers and between body chunks, per request (default 30 s). */
  timeoutMs?: number;
  /** CA certificates (PEM) trusted besides Node's bundled ones, for registries with a private CA. */
  ca?: string;
  userAgent?: string;
  onNotice?: (notice: TransportNotice) => void;
  /** Networks no connection may go to, checked on the addresses each connection actually uses. */
  deniedNetworks?: ConnectGuard;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TransportRequest {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Plain HTTP / unverified TLS allowed, decided by the caller (a registry decides for its token service and blob storage); default: by the URL's host. */
  insecure?: boolean;
  /** Aborts the request (and the retries' waits); its reason is thrown. */
  signal?: AbortSignal;
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

/** What a TLS client sees when the server answers in plain HTTP. */
export function isPlainHttpAnswer(e: unknown): boolean {
  const err = e as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  return /ERR_SSL_WRONG_VERSION_NUMBER|wrong version number|ERR_SSL_PACKET_LENGTH_TOO_LONG|packet length too long|ERR_SSL_HTTP_REQUEST/i.test(
    `${err.code ?? ''} ${err.message ?? ''} ${err.cause?.code ?? ''} ${err.cause?.message ?? ''}`,
  );
}

/** A certificate Node does not trust (self-signed, or signed by a CA it does not know). */
export function isUntrustedCertificate(e: unknown): boolean {
  const err = e as { code?: string; cause?: { code?: string } };
  return /SELF_SIGNED|UNABLE_TO_GET_ISSUER_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_UNTRUSTED|ERR_TLS_CERT_ALTNAME_INVALID|CERT_HAS_EXPIRED/.test(
    `${err.code ?? ''} ${err.cause?.code ?? ''}`,
  );
}

/**
 * A clear sentence for the TLS failures users can fix — a plain-HTTP server, an untrusted certificate —
 * naming the settings that fix them; undefined for any other error.
 */
export function tlsAdvice(
  e: unknown,
  host: string,
  plainHttpFix = 'to speak plain HTTP to it, list it in WASMGATE_INSECURE_REGISTRIES (or fetch.insecureRegistries, or give --insecure)',
): string | undefined {
  if (isPlainHttpAnswer(e)) return `${host} answered in plain HTTP, not TLS: ${plainHttpFix}`;
  if (isUntrustedCertificate(e))
    return (
      `${host}'s TLS certificate is not trusted (${networkCode(e)}): for a registry with a private CA, ` +
      'give its CA with --registry-ca, fetch.caFile or WASMGATE_REGISTRY_CA_FILE (or NODE_EXTRA_CA_CERTS)'
    );
  return undefined;
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

/** Waits ms, or rejects with the signal's reason once it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * An overall deadline: a signal that aborts after ms (or with `parent`), whose reason is an unreachable
 * error naming the limit and the setting that sets it. Call clear() once done.
 */
export function deadline(
  ms: number,
  what: string,
  setting: string,
  parent?: AbortSignal,
): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () =>
      controller.abort(
        new OciError('unreachable', `${what}: gave up after ${ms} ms (the overall deadline, ${setting})`),
      ),
    ms,
  );
  // A deadline never keeps a process alive by itself.
  timer.unref();
  const onParent = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onParent);
    },
  };
}

export class Transport {
  readonly retries: number;
  readonly backoffMs: number;
  readonly timeoutMs: number;
  readonly userAgent: string;
  private readonly insecure: boolean | readonly string[] | undefined;
  private secure: Agent;
  private lax: Agent;
  private readonly ca: string | undefined;
  private readonly onNotice: ((n: TransportNotice) => void) | undefined;
  private denied: ConnectGuard | undefined;

  constructor(options: TransportOptions = {}) {
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 200;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.userAgent = options.userAgent ?? 'wasmgate';
    this.insecure = options.insecure;
    this.onNotice = options.onNotice;
    this.denied = options.deniedNetworks;
    this.ca = options.ca;
    [this.secure, this.lax] = this.agents();
  }

  /**
   * Connection pools whose every connection resolves its host through the guard, so a name that changes
   * its answer between a policy's check and the connection (DNS rebinding) is still refused.
   */
  private agents(): [Agent, Agent] {
    const lookup = guardedLookup(() => this.denied);
    return [
      new Agent({ connect: { lookup, ...(this.ca ? { ca: [...rootCertificates, this.ca] } : {}) } }),
      new Agent({ connect: { lookup, rejectUnauthorized: false } }),
    ];
  }

  /**
   * Replaces the denied networks (each load policy sets its own). When they change, the pools start
   * afresh: a kept-alive connection made under the old list must not carry a request the new one denies.
   */
  setDeniedNetworks(guard: ConnectGuard | undefined): void {
    const changed = guard?.cidrs.join() !== this.denied?.cidrs.join();
    this.denied = guard;
    if (!changed) return;
    const old = [this.secure, this.lax];
    [this.secure, this.lax] = this.agents();
    // Requests under way on the old pools finish; their connections close after.
    for (const a of old) a.close().catch(() => undefined);
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

  /** The delay before retry number `attempt` (0-based): backoffMs, doubling; cut short by the signal. */
  backoff(attempt: number, signal?: AbortSignal): Promise<void> {
    return sleep(this.backoffMs * 2 ** attempt, signal);
  }

  /** Tells the caller a request is slow: after WAIT_NOTICE_MS without an answer, then every few seconds. */
  private watch(url: URL, what: string): () => void {
    const notify = this.onNotice;
    if (!notify) return () => undefined;
    const start = performance.now();
    const tell = () =>
      notify({ kind: 'waiting', host: url.host, what, elapsedMs: performance.now() - start });
    let repeat: NodeJS.Timeout | undefined;
    const first = setTimeout(() => {
      tell();
      repeat = setInterval(tell, WAIT_REPEAT_MS);
    }, WAIT_NOTICE_MS);
    return () => {
      clearTimeout(first);
      clearInterval(repeat);
    };
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
      // An IP address is connected to without a lookup: checked here, for the URL and every redirect.
      this.denied?.checkLiteral(url.hostname);
      const stopWatching = this.watch(url, `${req.method} ${url.pathname}`);
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: req.method,
          headers,
          body: req.body,
          dispatcher: this.dispatcherFor(url, req.insecure),
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          signal: req.signal,
        });
      } catch (e) {
        // Aborted: the signal's reason (a deadline names itself) rather than undici's AbortError.
        if (req.signal?.aborted) throw req.signal.reason;
        throw e;
      } finally {
        stopWatching();
      }
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
      let error: string;
      try {
        const res = await this.exchange(req);
        if (last || !isRetryableStatus(res.status)) return { ...res, attempts: attempt + 1 };
        await res.body.dump();
        error = `HTTP ${res.status}`;
      } catch (e) {
        if (!isNetworkError(e)) throw e;
        if (last) throw new NetworkFailure(attempt + 1, e);
        error = networkMessage(e);
      }
      const delayMs = this.backoffMs * 2 ** attempt;
      const url = new URL(req.url);
      this.onNotice?.({
        kind: 'retry',
        host: url.host,
        what: `${req.method} ${url.pathname}`,
        attempt: attempt + 1,
        attempts: this.retries + 1,
        error,
        delayMs,
      });
      await sleep(delayMs, req.signal);
    }
  }
}

// A client for the OCI distribution API: ping, anonymous/basic/bearer-token auth, manifests and image
// indexes, blobs (verified by digest and size), push with monolithic or chunked uploads, cross-repository
// mounts and existing-blob skips. Retries, redirects and insecure hosts are the transport's (transport.ts);
// an insecure registry is probed for https first, then spoken to over plain HTTP.

import { CredentialStore, type Credentials, parseChallenge } from './auth.js';
import { digestOf, verifyBlob } from './digest.js';
import { isOciError, OciError } from './errors.js';
import {
  type Descriptor,
  type ImageIndex,
  isIndex,
  type Manifest,
  parseManifestJson,
  selectPlatform,
} from './image.js';
import { MAX_MANIFEST_BYTES } from './limits.js';
import { MANIFEST_ACCEPT, MediaType } from './media-types.js';
import type { ImageReference } from './reference.js';
import {
  isNetworkError,
  isTlsProtocolError,
  NetworkFailure,
  networkMessage,
  Transport,
  type TransportOptions,
  type TransportResponse,
  tlsAdvice,
} from './transport.js';

export interface ProgressEvent {
  direction: 'push' | 'pull';
  digest: string;
  done: number;
  total: number;
}

/** The transport's settings (insecure hosts, retries, backoff, timeouts) and the registry's own. */
export interface RegistryClientOptions extends TransportOptions {
  /** A transport to share (its settings then replace the ones given here); default: one of its own. */
  transport?: Transport;
  /** Where credentials come from (default: a CredentialStore with its defaults). */
  credentials?: CredentialStore | ((registry: string) => Promise<Credentials | undefined>);
  /** Blobs larger than this are uploaded in chunks of this size (default 8 MiB). */
  chunkSize?: number;
  /** Refuse blobs and manifests larger than this (default 256 MiB). */
  maxBlobBytes?: number;
  onProgress?: (e: ProgressEvent) => void;
  /** Aborts every request that was not given a signal of its own (a command's overall deadline). */
  signal?: AbortSignal;
}

export interface FetchedManifest {
  /** Digest of the bytes (what a pull by digest names). */
  digest: string;
  mediaType: string;
  bytes: Uint8Array;
  value: Manifest | ImageIndex;
}

export interface ResolvedImage {
  manifest: Manifest;
  manifestBytes: Uint8Array;
  /** Digest of the image manifest (after choosing a platform from an index). */
  digest: string;
  /** Digest the reference resolved to first: the index's when there was one, else the manifest's. */
  resolvedDigest: string;
}

export interface PushableImage {
  manifest: Manifest;
  manifestBytes: Uint8Array;
  blobs: ReadonlyMap<string, Uint8Array>;
}

export interface PushResult {
  digest: string;
  uploaded: string[];
  skipped: string[];
  mounted: string[];
}

interface AuthState {
  scheme?: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  tokens: Map<string, { token: string; expires: number }>;
}

interface Req {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path under the registry (/v2/…) or an absolute URL (upload locations). */
  url: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  scopes: string[];
  /** For messages: what this request is about. */
  what: string;
  /** Default: the client's. */
  signal?: AbortSignal;
}

/** An answer, with the signal its request ran under (its body reads stop with it). */
type Res = TransportResponse & { signal?: AbortSignal };

function header(res: Res, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class RegistryClient {
  private readonly options: Required<
    Omit<
      RegistryClientOptions,
      keyof TransportOptions | 'transport' | 'credentials' | 'onProgress' | 'signal'
    >
  > &
    Pick<RegistryClientOptions, 'onProgress' | 'signal'>;
  private readonly transport: Transport;
  private readonly ownsTransport: boolean;
  private readonly getCredentials: (registry: string) => Promise<Credentials | undefined>;
  private readonly bases = new Map<string, Promise<string>>();
  private readonly auth = new Map<string, AuthState>();
  private readonly creds = new Map<string, Promise<Credentials | undefined>>();

  constructor(options: RegistryClientOptions = {}) {
    this.options = {
      chunkSize: options.chunkSize ?? 8 * 1024 * 1024,
      maxBlobBytes: options.maxBlobBytes ?? 256 * 1024 * 1024,
      onProgress: options.onProgress,
      signal: options.signal,
    };
    this.ownsTransport = !options.transport;
    this.transport = options.transport ?? new Transport(options);
    const c = options.credentials ?? new CredentialStore();
    this.getCredentials = typeof c === 'function' ? c : (r) => c.get(r);
  }

  async close(): Promise<void> {
    if (this.ownsTransport) await this.transport.close();
  }

  allowsInsecure(ref: ImageReference): boolean {
    return this.transport.allowsInsecure(ref.registry, ref.hostname);
  }

  /** https://host, or for an insecure registry whichever of https and http answers. */
  private base(ref: ImageReference, signal: AbortSignal | undefined): Promise<string> {
    let p = this.bases.get(ref.apiHost);
    if (!p) {
      p = this.probe(ref, signal);
      this.bases.set(ref.apiHost, p);
      p.catch(() => this.bases.delete(ref.apiHost));
    }
    return p;
  }

  private async probe(ref: ImageReference, signal: AbortSignal | undefined): Promise<string> {
    const https = `https://${ref.apiHost}`;
    if (!this.allowsInsecure(ref)) return https;
    try {
      const res = await this.transport.exchange({
        method: 'GET',
        url: `${https}/v2/`,
        insecure: true,
        signal,
      });
      await res.body.dump();
      return https;
    } catch (e) {
      // A plain-HTTP server answers a TLS hello with garbage or a reset; a closed port refuses both
      // alike, so fall back to http and let the retries report it.
      if (isTlsProtocolError(e)) return `http://${ref.apiHost}`;
      if (isNetworkError(e)) {
        // Nothing answered: use http for now, and probe again next time.
        setImmediate(() => this.bases.delete(ref.apiHost));
        return `http://${ref.apiHost}`;
      }
      throw e;
    }
  }

  private credentialsFor(registry: string): Promise<Credentials | undefined> {
    let p = this.creds.get(registry);
    if (!p) {
      p = this.getCredentials(registry);
      this.creds.set(registry, p);
    }
    return p;
  }

  private authState(registry: string): AuthState {
    let s = this.auth.get(registry);
    if (!s) {
      s = { tokens: new Map() };
      this.auth.set(registry, s);
    }
    return s;
  }

  private async authorization(
    ref: ImageReference,
    scopes: string[],
    signal: AbortSignal | undefined,
  ): Promise<string | undefined> {
    const s = this.authState(ref.registry);
    if (s.scheme === 'basic') {
      const c = await this.credentialsFor(ref.registry);
      if (c?.username !== undefined && c.password !== undefined)
        return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
      return undefined;
    }
    if (s.scheme === 'bearer') {
      const key = [...new Set(scopes)].sort().join(' ');
      const t = s.tokens.get(key);
      if (t && t.expires > Date.now()) return `Bearer ${t.token}`;
      const token = await this.fetchToken(ref, s, scopes, signal);
      return `Bearer ${token}`;
    }
    return undefined;
  }

  private async fetchToken(
    ref: ImageReference,
    s: AuthState,
    scopes: string[],
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const c = await this.credentialsFor(ref.registry);
    if (c?.registryToken) return c.registryToken;
    if (!s.realm) throw new OciError('auth', `${ref.registry}: bearer challenge without a realm`);
    const key = [...new Set(scopes)].sort().join(' ');
    const url = new URL(s.realm);
    const who = c ? ` as ${c.username ?? 'token'} (credentials from ${c.source})` : ' anonymously';
    let res: Res | Omit<Res, 'attempts'>;
    try {
      if (c?.identityToken) {
        const form = new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: c.identityToken,
          client_id: 'wasmgate',
          ...(s.service ? { service: s.service } : {}),
        });
        if (scopes.length) form.set('scope', scopes.join(' '));
        res = await this.transport.exchange({
          method: 'POST',
          url: url.toString(),
          insecure: this.allowsInsecure(ref),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form.toString(),
          signal,
        });
      } else {
        if (s.service) url.searchParams.set('service', s.service);
        for (const scope of new Set(scopes)) url.searchParams.append('scope', scope);
        const headers: Record<string, string> = {};
        if (c?.username !== undefined && c.password !== undefined)
          headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
        res = await this.transport.exchange({
          method: 'GET',
          url: url.toString(),
          insecure: this.allowsInsecure(ref),
          headers,
          signal,
        });
      }
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      if (isOciError(e, 'denied-network')) throw e;
      throw new OciError(
        'unreachable',
        `${ref.registry}: token service ${url.origin} is unreachable: ${networkMessage(e)}`,
        {
          cause: e,
        },
      );
    }
    const text = await res.body.text();
    if (res.status === 401 || res.status === 403)
      throw new OciError(
        'auth',
        `${ref.registry}: authentication failed${who}: the token service answered ${res.status}`,
      );
    if (res.status !== 200)
      throw new OciError(
        'registry',
        `${ref.registry}: the token service answered ${res.status}: ${text.slice(0, 200)}`,
      );
    let v: { token?: string; access_token?: string; expires_in?: number };
    try {
      v = JSON.parse(text);
    } catch {
      throw new OciError(
        'registry',
        `${ref.registry}: the token service answered something that is not JSON`,
      );
    }
    const token = v.token ?? v.access_token;
    if (!token) throw new OciError('registry', `${ref.registry}: the token service answered no token`);
    const ttl = Math.max(30, v.expires_in ?? 60) * 1000;
    s.tokens.set(key, { token, expires: Date.now() + ttl - 10_000 });
    return token;
  }

  /** One request with auth, retries and redirects; the caller consumes the body. */
  private async send(ref: ImageReference, req: Req): Promise<Res> {
    const signal = req.signal ?? this.options.signal;
    const base = await this.base(ref, signal);
    const url = req.url.startsWith('http') ? req.url : `${base}${req.url}`;
    let authRetried = false;
    for (;;) {
      const headers: Record<string, string> = { ...req.headers };
      const authz = await this.authorization(ref, req.scopes, signal);
      if (authz) headers.authorization = authz;
      let r: Res;
      try {
        r = await this.transport.send({
          method: req.method,
          url,
          headers,
          body: req.body,
          insecure: this.allowsInsecure(ref),
          signal,
        });
        r.signal = signal;
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        if (e instanceof OciError) throw e;
        const advice = tlsAdvice(e, `registry ${ref.registry}`);
        if (advice) throw new OciError('unreachable', advice, { cause: e });
        const attempts = e instanceof NetworkFailure ? e.attempts : 1;
        throw new OciError(
          'unreachable',
          `registry ${ref.registry} is unreachable (${req.what}, ${attempts} attempt${attempts > 1 ? 's' : ''}): ${networkMessage(e instanceof NetworkFailure ? e.cause : e)}`,
          { cause: e },
        );
      }
      if (r.status === 401 && !authRetried) {
        const challenge = parseChallenge(header(r, 'www-authenticate') ?? '');
        await r.body.dump();
        authRetried = true;
        const s = this.authState(ref.registry);
        if (challenge?.scheme === 'bearer') {
          s.scheme = 'bearer';
          s.realm = challenge.params.realm;
          s.service = challenge.params.service;
          if (challenge.params.scope)
            for (const sc of challenge.params.scope.split(' '))
              if (!req.scopes.includes(sc)) req.scopes.push(sc);
          s.tokens.clear();
          continue;
        }
        if (challenge?.scheme === 'basic') {
          s.scheme = 'basic';
          const c = await this.credentialsFor(ref.registry);
          if (!c) throw this.authError(ref, req, undefined, 401);
          continue;
        }
        throw this.authError(ref, req, undefined, 401);
      }
      if (r.status === 401 || r.status === 403) {
        await r.body.dump();
        throw this.authError(ref, req, await this.credentialsFor(ref.registry), r.status);
      }
      return r;
    }
  }

  private authError(ref: ImageReference, req: Req, c: Credentials | undefined, status: number): OciError {
    const who = c ? `with the credentials from ${c.source}` : 'without credentials (wasmgate login?)';
    return new OciError(
      'auth',
      `${ref.registry}: ${status === 403 ? 'access denied' : 'authentication required'} for ${req.what} ${who}`,
    );
  }

  /** Turns an unexpected answer into an error, naming the registry's error code when it sent one. */
  private async fail(ref: ImageReference, req: Req, res: Res): Promise<never> {
    let detail = '';
    let code = '';
    try {
      const text = await res.body.text();
      const v = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
      const e = v.errors?.[0];
      if (e) {
        code = e.code ?? '';
        detail = `: ${e.code ?? ''}${e.message ? ` ${e.message}` : ''}`;
      } else detail = text ? `: ${text.slice(0, 200)}` : '';
    } catch {
      // no body or not JSON
    }
    const notFound = res.status === 404 || /_UNKNOWN$/.test(code);
    const whatFailed = notFound ? 'not found' : `failed with HTTP ${res.status}`;
    throw new OciError(
      notFound ? 'not-found' : res.status >= 500 ? 'unreachable' : 'registry',
      `${ref.name}: ${req.what} ${whatFailed}${detail}`,
    );
  }

  private async readBody(
    res: Res,
    limit: number,
    what: string,
    total: number,
    progress?: string,
    over: (n: number) => OciError = (n) =>
      new OciError('too-large', `${what} is ${n} bytes or more, over the limit of ${limit}`),
  ): Promise<Uint8Array> {
    const length = Number(header(res, 'content-length') ?? Number.NaN);
    if (length > limit) {
      await res.body.dump();
      throw over(length);
    }
    const chunks: Buffer[] = [];
    let n = 0;
    let last = 0;
    try {
      for await (const chunk of res.body) {
        n += (chunk as Buffer).length;
        if (n > limit) {
          res.body.destroy();
          throw over(n);
        }
        chunks.push(chunk as Buffer);
        if (progress && this.options.onProgress && (n - last > 256 * 1024 || n === total)) {
          last = n;
          this.options.onProgress({ direction: 'pull', digest: progress, done: n, total });
        }
      }
    } catch (e) {
      if (res.signal?.aborted) throw res.signal.reason;
      if (e instanceof OciError) throw e;
      throw new OciError(
        'integrity',
        `${what}: the download was cut short after ${n} bytes: ${networkMessage(e)}`,
        {
          cause: e,
        },
      );
    }
    return new Uint8Array(Buffer.concat(chunks));
  }

  /** GET /v2/: the registry answers, and accepts our credentials if it wants some. */
  async ping(ref: ImageReference, signal?: AbortSignal): Promise<void> {
    const req: Req = { method: 'GET', url: '/v2/', scopes: [], what: 'ping', signal };
    const res = await this.send(ref, req);
    if (res.status !== 200) await this.fail(ref, req, res);
    await res.body.dump();
  }

  async getManifest(ref: ImageReference, push = false, signal?: AbortSignal): Promise<FetchedManifest> {
    const req: Req = {
      signal,
      method: 'GET',
      url: `/v2/${ref.repository}/manifests/${ref.reference}`,
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [`repository:${ref.repository}:${push ? 'pull,push' : 'pull'}`],
      what: `manifest ${ref.reference}`,
    };
    const res = await this.send(ref, req);
    if (res.status !== 200) await this.fail(ref, req, res);
    const bytes = await this.readBody(res, MAX_MANIFEST_BYTES, `manifest ${ref}`, 0);
    const digest = digestOf(bytes);
    if (ref.digest && digest !== ref.digest)
      throw new OciError(
        'integrity',
        `${ref}: manifest digest mismatch: expected ${ref.digest}, got ${digest}`,
      );
    const claimed = header(res, 'docker-content-digest');
    if (claimed?.startsWith('sha256:') && claimed !== digest)
      throw new OciError(
        'integrity',
        `${ref}: manifest digest mismatch: the registry says ${claimed}, the bytes are ${digest}`,
      );
    const value = parseManifestJson(bytes, ref.toString());
    const mediaType = value.mediaType ?? header(res, 'content-type')?.split(';')[0] ?? '';
    return { digest, mediaType, bytes, value };
  }

  /** The image manifest for a reference, choosing a platform when it names an index. */
  async resolve(ref: ImageReference, signal?: AbortSignal): Promise<ResolvedImage> {
    const first = await this.getManifest(ref, false, signal);
    if (!isIndex(first.value, first.mediaType))
      return {
        manifest: first.value,
        manifestBytes: first.bytes,
        digest: first.digest,
        resolvedDigest: first.digest,
      };
    const chosen = selectPlatform(first.value, ref.toString());
    const m = await this.getManifest(ref.withDigest(chosen.digest), false, signal);
    if (isIndex(m.value, m.mediaType))
      throw new OciError('format', `${ref}: nested image indexes are not supported`);
    return { manifest: m.value, manifestBytes: m.bytes, digest: m.digest, resolvedDigest: first.digest };
  }

  async getBlob(
    ref: ImageReference,
    desc: Descriptor,
    maxBytes = this.options.maxBlobBytes,
    signal?: AbortSignal,
  ): Promise<Uint8Array> {
    if (desc.size > maxBytes)
      throw new OciError(
        'too-large',
        `${ref.name}: blob ${desc.digest} is ${desc.size} bytes, over the limit of ${maxBytes}`,
      );
    const req: Req = {
      method: 'GET',
      url: `/v2/${ref.repository}/blobs/${desc.digest}`,
      scopes: [`repository:${ref.repository}:pull`],
      what: `blob ${desc.digest}`,
      signal,
    };
    // A body cut short is retried like a network error; a complete body with the wrong bytes is not.
    for (let attempt = 0; ; attempt++) {
      const res = await this.send(ref, req);
      if (res.status !== 200) await this.fail(ref, req, res);
      try {
        const what = `${ref.name}: blob ${desc.digest}`;
        const bytes = await this.readBody(res, desc.size, what, desc.size, desc.digest, (n) => {
          return new OciError(
            'integrity',
            `${what}: the registry sent ${n} bytes or more, the manifest says ${desc.size}`,
          );
        });
        verifyBlob(bytes, desc.digest, `${ref.name}: blob ${desc.digest}`, desc.size);
        return bytes;
      } catch (e) {
        const retry =
          e instanceof OciError &&
          e.kind === 'integrity' &&
          /cut short/.test(e.message) &&
          attempt < this.transport.retries;
        if (!retry) throw e;
        await this.transport.backoff(attempt, signal ?? this.options.signal);
      }
    }
  }

  async hasBlob(ref: ImageReference, digest: string): Promise<boolean> {
    const req: Req = {
      method: 'HEAD',
      url: `/v2/${ref.repository}/blobs/${digest}`,
      scopes: [`repository:${ref.repository}:pull,push`],
      what: `blob ${digest}`,
    };
    const res = await this.send(ref, req);
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    return this.fail(ref, req, res);
  }

  private async startUpload(
    ref: ImageReference,
    query: string,
    scopes: string[],
    what: string,
  ): Promise<Res> {
    const req: Req = { method: 'POST', url: `/v2/${ref.repository}/blobs/uploads/${query}`, scopes, what };
    const res = await this.send(ref, { ...req, headers: { 'content-length': '0' } });
    if (res.status !== 202 && res.status !== 201) await this.fail(ref, req, res);
    await res.body.dump();
    return res;
  }

  private location(res: Res, ref: ImageReference, what: string): string {
    const loc = header(res, 'location');
    if (!loc) throw new OciError('registry', `${ref.name}: ${what}: the registry gave no upload location`);
    return new URL(loc, res.url).toString();
  }

  /** Mounts a blob from another repository of the same registry; false when the registry declined. */
  async mountBlob(
    ref: ImageReference,
    digest: string,
    from: string,
  ): Promise<{ mounted: boolean; location?: string }> {
    const res = await this.startUpload(
      ref,
      `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`,
      [`repository:${ref.repository}:pull,push`, `repository:${from}:pull`],
      `mount of ${digest} from ${from}`,
    );
    if (res.status === 201) return { mounted: true };
    return { mounted: false, location: this.location(res, ref, 'mount') };
  }

  /** Uploads a blob: in one PUT up to chunkSize, else PATCH chunks then PUT. */
  async uploadBlob(ref: ImageReference, bytes: Uint8Array, digest: string, location?: string): Promise<void> {
    const scopes = [`repository:${ref.repository}:pull,push`];
    const what = `upload of ${digest}`;
    let loc = location ?? this.location(await this.startUpload(ref, '', scopes, what), ref, what);
    const withDigest = (u: string) => {
      const url = new URL(u);
      url.searchParams.set('digest', digest);
      return url.toString();
    };
    const progress = (done: number) =>
      this.options.onProgress?.({ direction: 'push', digest, done, total: bytes.length });
    const chunk = this.options.chunkSize;
    if (bytes.length <= chunk) {
      const req: Req = {
        method: 'PUT',
        url: withDigest(loc),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
        body: bytes,
        scopes,
        what,
      };
      const res = await this.send(ref, req);
      if (res.status !== 201) await this.fail(ref, req, res);
      await res.body.dump();
      progress(bytes.length);
      return;
    }
    for (let start = 0; start < bytes.length; start += chunk) {
      const part = bytes.subarray(start, Math.min(bytes.length, start + chunk));
      const req: Req = {
        method: 'PATCH',
        url: loc,
        headers: {
          'content-type': 'application/octet-stream',
          'content-length': String(part.length),
          'content-range': `${start}-${start + part.length - 1}`,
        },
        body: part,
        scopes,
        what: `${what} (chunk at ${start})`,
      };
      const res = await this.send(ref, req);
      if (res.status !== 202) await this.fail(ref, req, res);
      await res.body.dump();
      loc = this.location(res, ref, what);
      progress(start + part.length);
    }
    const req: Req = {
      method: 'PUT',
      url: withDigest(loc),
      headers: { 'content-length': '0' },
      scopes,
      what,
    };
    const res = await this.send(ref, req);
    if (res.status !== 201) await this.fail(ref, req, res);
    await res.body.dump();
  }

  async putManifest(ref: ImageReference, bytes: Uint8Array, mediaType: string): Promise<string> {
    const digest = digestOf(bytes);
    const req: Req = {
      method: 'PUT',
      url: `/v2/${ref.repository}/manifests/${ref.reference}`,
      headers: { 'content-type': mediaType },
      body: bytes,
      scopes: [`repository:${ref.repository}:pull,push`],
      what: `manifest ${ref.reference}`,
    };
    const res = await this.send(ref, req);
    if (res.status !== 201 && res.status !== 200) await this.fail(ref, req, res);
    await res.body.dump();
    const claimed = header(res, 'docker-content-digest');
    if (claimed && claimed !== digest)
      throw new OciError(
        'integrity',
        `${ref}: the registry stored the manifest as ${claimed}, expected ${digest}`,
      );
    return digest;
  }

  /**
   * Pushes an image: each blob is skipped when the repository has it, mounted when `mountFrom` (a
   * repository on the same registry) has it, else uploaded; then the manifest under ref's tag or digest.
   */
  async push(
    ref: ImageReference,
    image: PushableImage,
    options: { mountFrom?: string } = {},
  ): Promise<PushResult> {
    const result: PushResult = { digest: '', uploaded: [], skipped: [], mounted: [] };
    const descs = [image.manifest.config, ...image.manifest.layers];
    const seen = new Set<string>();
    for (const d of descs) {
      if (seen.has(d.digest)) continue;
      seen.add(d.digest);
      const bytes = image.blobs.get(d.digest);
      if (await this.hasBlob(ref, d.digest)) {
        result.skipped.push(d.digest);
        continue;
      }
      let location: string | undefined;
      if (options.mountFrom && options.mountFrom !== ref.repository) {
        const m = await this.mountBlob(ref, d.digest, options.mountFrom);
        if (m.mounted) {
          result.mounted.push(d.digest);
          continue;
        }
        location = m.location;
      }
      if (!bytes)
        throw new OciError('not-found', `${ref}: blob ${d.digest} is missing locally and in the registry`);
      verifyBlob(bytes, d.digest, `local blob ${d.digest}`, d.size);
      await this.uploadBlob(ref, bytes, d.digest, location);
      result.uploaded.push(d.digest);
    }
    const mediaType = image.manifest.mediaType ?? MediaType.ociManifest;
    result.digest = await this.putManifest(
      ref.digest ? ref : ref.normalized(),
      image.manifestBytes,
      mediaType,
    );
    return result;
  }

  /** Pulls an image: its manifest and every blob it references, each verified. */
  async pull(ref: ImageReference): Promise<ResolvedImage & { blobs: Map<string, Uint8Array> }> {
    const image = await this.resolve(ref);
    const blobs = new Map<string, Uint8Array>();
    for (const d of [image.manifest.config, ...image.manifest.layers]) {
      if (!blobs.has(d.digest)) blobs.set(d.digest, await this.getBlob(ref, d));
    }
    return { ...image, blobs };
  }

  /**
   * The OCI 1.1 referrers of a digest (an image index), or undefined when the registry has no referrers API
   * (it answers 404: use the referrers tag scheme).
   */
  async referrers(ref: ImageReference, digest: string): Promise<ImageIndex | undefined> {
    const req: Req = {
      method: 'GET',
      url: `/v2/${ref.repository}/referrers/${digest}`,
      headers: { accept: MediaType.ociIndex },
      scopes: [`repository:${ref.repository}:pull`],
      what: `referrers of ${digest}`,
    };
    const res = await this.send(ref, req);
    if (res.status === 404) {
      await res.body.dump();
      return undefined;
    }
    if (res.status !== 200) await this.fail(ref, req, res);
    const bytes = await this.readBody(res, 4 * 1024 * 1024, `referrers of ${ref.name}@${digest}`, 0);
    const value = parseManifestJson(bytes, `referrers of ${ref.name}@${digest}`);
    if (!isIndex(value))
      throw new OciError('format', `${ref.name}: the referrers API answered no image index`);
    return value;
  }

  async listTags(ref: ImageReference): Promise<string[]> {
    const req: Req = {
      method: 'GET',
      url: `/v2/${ref.repository}/tags/list`,
      scopes: [`repository:${ref.repository}:pull`],
      what: 'tag list',
    };
    const res = await this.send(ref, req);
    if (res.status !== 200) await this.fail(ref, req, res);
    const v = JSON.parse(await res.body.text()) as { tags?: string[] | null };
    return v.tags ?? [];
  }
}

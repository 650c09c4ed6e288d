// Fetching a module's bytes from a plugin URL, checking its sha256 pin, and caching what came from afar.
//
//   file:// and plain paths   read as they are (never cached)
//   oci://registry/repo:tag   pulled with src/oci (either Wasm image format), cached by digest
//   https:// and http://      downloaded (a .tar/.tar.gz/.gz holding the module is unpacked), cached
//
// Istio's rules: imagePullPolicy IfNotPresent uses a cached module (or the local image store) without
// asking the registry; Always asks every time (a manifest that did not change costs no blob download);
// with no policy, a reference without a tag or with :latest means Always, any other IfNotPresent.
// http(s) URLs are always downloaded, unless a sha256 pin names a module already in the cache.
// The pin may be the module's own sha256, or for oci:// the image manifest's digest (what Istio compares).
// Concurrent fetches of the same URL share one download. A failed fetch throws; it never touches
// plugins already loaded (see applyPluginSpecs in plugin-set.ts).

import { AbiVersion } from '../abi/constants.js';
import type { CredentialStore } from '../oci/auth.js';
import { ConnectGuard } from '../oci/connect-guard.js';
import { normalizeSha256, sha256Hex } from '../oci/digest.js';
import { isOciError, type OciErrorKind } from '../oci/errors.js';
import { readFileLimited } from '../oci/fs-util.js';
import { gunzipLimited, isGzip } from '../oci/gzip.js';
import { normalizeAbiVersion, type RuntimeConfig } from '../oci/image.js';
import { ModuleCache } from '../oci/module-cache.js';
import { defaultCacheDir, defaultStoreDir } from '../oci/paths.js';
import { ImageReference } from '../oci/reference.js';
import { RegistryClient } from '../oci/registry.js';
import { type FetchSettings, readCaFile, resolveFetchSettings } from '../oci/settings.js';
import { ImageStore } from '../oci/store.js';
import { readTar } from '../oci/tar.js';
import {
  deadline,
  isNetworkError,
  isRetryableStatus,
  NetworkFailure,
  networkCode,
  Transport,
  type TransportNotice,
  type TransportResponse,
  tlsAdvice,
} from '../oci/transport.js';
import { readWasmImage } from '../oci/wasm-image.js';
import { isWasmBinary } from '../oci/wasm-meta.js';
import { DEFAULT_DENIED_NETWORKS } from '../trust/policy.js';

export class ModuleFetchError extends Error {
  constructor(
    readonly url: string,
    message: string,
    readonly kind: OciErrorKind | 'io' = 'io',
  ) {
    super(`${url}: ${message}`);
    this.name = 'ModuleFetchError';
  }
}

/** The connection broke while a download's body was being read: worth another attempt. */
class BodyCutShort extends Error {
  constructor(
    readonly bytes: number,
    override readonly cause: unknown,
  ) {
    super(`cut short after ${bytes} bytes`);
  }
}

export type PullPolicy = 'IfNotPresent' | 'Always';

export interface FetchModuleOptions {
  /** WasmPlugin imagePullPolicy: IfNotPresent, Always, or unset/UNSPECIFIED_POLICY for Istio's default. */
  pullPolicy?: string;
  /** The fetcher to use (default: one shared fetcher configured from the environment). */
  fetcher?: ModuleFetcher;
  /** Cancels the fetch (see ModuleFetcher.fetch). */
  signal?: AbortSignal;
}

export interface FetchedModule {
  bytes: Uint8Array;
  /** Hex sha256 of the module. */
  sha256: string;
  from: 'file' | 'cache' | 'store' | 'registry' | 'http';
  /** oci://: the digest the reference resolved to. */
  manifestDigest?: string;
  /** oci://: what the image says about the module (ABI versions, root ids), when it says anything. */
  runtimeConfig?: RuntimeConfig;
}

/**
 * The fetch settings (overall deadline, request timeout, CA file, insecure hosts, size limit: unset ones
 * from the environment, then the defaults), and the fetcher's own.
 */
export interface ModuleFetcherOptions extends Partial<FetchSettings> {
  /** Module cache directory (default $WASMGATE_CACHE_DIR or ~/.cache/wasmgate); false: no cache. */
  cacheDir?: string | false;
  /** Local image store consulted for IfNotPresent (default $WASMGATE_STORE_DIR or ~/.local/share/wasmgate/images); false: never. */
  storeDir?: string | false;
  credentials?: CredentialStore;
  /** Retries after a network error or a 5xx (default 3), the first after backoffMs (default 200), doubling. */
  retries?: number;
  backoffMs?: number;
  /** ABI versions this host runs (default all wasmgate supports). */
  abiVersions?: readonly string[];
}

/** One fetch in flight, shared by every caller asking for the same URL, pin and policy. */
interface Inflight {
  promise: Promise<FetchedModule>;
  /** Aborts the fetch: when every caller gave up. */
  controller: AbortController;
  waiters: number;
}

const SUPPORTED_ABI: readonly string[] = Object.values(AbiVersion);

/** Istio's rule: should a cached copy be used without asking the registry? */
export function pullIfNotPresent(url: string, policy?: string): boolean {
  if (!url.startsWith('oci://')) return false;
  if (policy === 'Always') return false;
  if (policy === 'IfNotPresent') return true;
  try {
    return !ImageReference.parse(url).isLatest;
  } catch {
    return false;
  }
}

/** Does the module (hex sha256) or one of its image's digests match the pin (none: anything does)? */
function pinMatches(pin: string | undefined, hex: string, digests: Array<string | undefined>): boolean {
  if (!pin || pin === hex) return true;
  return digests.some((d) => d?.replace(/^sha256:/, '') === pin);
}

/** Checks an image's declared ABI versions against the host's: refuse what the host cannot run. */
export function checkAbi(
  url: string,
  rc: RuntimeConfig | undefined,
  supported: readonly string[] = SUPPORTED_ABI,
): void {
  if (!rc || rc.abiVersions.length === 0) return;
  const versions = rc.abiVersions.map(normalizeAbiVersion);
  if (!versions.some((v) => supported.includes(v)))
    throw new ModuleFetchError(
      url,
      `the image declares Proxy-Wasm ABI ${versions.join(', ')}; this host runs ${supported.join(', ')}`,
      'format',
    );
}

export class ModuleFetcher {
  readonly cache: ModuleCache | undefined;
  readonly store: ImageStore | undefined;
  readonly maxBytes: number;
  readonly settings: FetchSettings;
  private readonly client: RegistryClient;
  private readonly inflight = new Map<string, Inflight>();
  private readonly options: ModuleFetcherOptions;
  private readonly transport: Transport;
  private readonly noticeListeners = new Set<(n: TransportNotice) => void>();

  constructor(options: ModuleFetcherOptions = {}, env: NodeJS.ProcessEnv = process.env) {
    this.options = options;
    this.settings = resolveFetchSettings([options], env);
    const cacheDir = options.cacheDir ?? defaultCacheDir(env);
    this.maxBytes = this.settings.maxModuleBytes;
    this.cache = cacheDir === false ? undefined : new ModuleCache(cacheDir, this.maxBytes);
    const storeDir = options.storeDir ?? defaultStoreDir(env);
    this.store = storeDir === false ? undefined : new ImageStore(storeDir);
    this.transport = new Transport({
      insecure: this.settings.insecureRegistries,
      timeoutMs: this.settings.requestTimeoutMs,
      ca: this.settings.caFile ? readCaFile(this.settings.caFile) : undefined,
      retries: options.retries,
      backoffMs: options.backoffMs,
      deniedNetworks: new ConnectGuard(DEFAULT_DENIED_NETWORKS),
      onNotice: (n) => {
        for (const l of this.noticeListeners) l(n);
      },
    });
    this.client = new RegistryClient({
      transport: this.transport,
      credentials: options.credentials,
      maxBlobBytes: this.maxBytes,
    });
  }

  /** The registry client the fetcher pulls with (the load policy reads signatures through it). */
  get registry(): RegistryClient {
    return this.client;
  }

  /**
   * The networks no connection of this fetcher may reach (a load policy's deniedNetworks); the default
   * policy's until a policy sets its own. Applies to connections made from now on.
   */
  setDeniedNetworks(guard: ConnectGuard): void {
    this.transport.setDeniedNetworks(guard);
  }

  /** Calls `listener` while a fetch waits for a slow server or retries; returns the unsubscribe. */
  onNotice(listener: (n: TransportNotice) => void): () => void {
    this.noticeListeners.add(listener);
    return () => this.noticeListeners.delete(listener);
  }

  async close(): Promise<void> {
    await Promise.all([this.client.close(), this.transport.close()]);
  }

  /**
   * Fetches a module within the overall deadline (settings.timeoutMs). Concurrent calls for the same URL,
   * pin and policy share one fetch; `signal` cancels this call's wait, and the fetch itself once every
   * caller has cancelled.
   */
  fetch(url: string, sha256?: string, pullPolicy?: string, signal?: AbortSignal): Promise<FetchedModule> {
    const key = `${url}\0${sha256 ?? ''}\0${pullPolicy ?? ''}`;
    let entry = this.inflight.get(key);
    if (!entry) {
      const controller = new AbortController();
      const limit = deadline(
        this.settings.timeoutMs,
        'fetching the module',
        'fetch.timeoutMs, WASMGATE_FETCH_TIMEOUT_MS',
        controller.signal,
      );
      const promise = this.fetchUncoalesced(url, sha256, pullPolicy, limit.signal).finally(() => {
        limit.clear();
        this.inflight.delete(key);
      });
      entry = { promise, controller, waiters: 0 };
      this.inflight.set(key, entry);
    }
    return this.waitFor(entry, signal);
  }

  private waitFor(entry: Inflight, signal: AbortSignal | undefined): Promise<FetchedModule> {
    entry.waiters++;
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        entry.waiters--;
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      const onAbort = () => {
        if (!settle()) return;
        if (entry.waiters === 0) entry.controller.abort(signal?.reason);
        reject(signal?.reason);
      };
      entry.promise.then(
        (m) => settle() && resolve(m),
        (e) => settle() && reject(e),
      );
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private async fetchUncoalesced(
    url: string,
    sha256: string | undefined,
    pullPolicy: string | undefined,
    signal: AbortSignal,
  ): Promise<FetchedModule> {
    let pin: string | undefined;
    try {
      pin = sha256 ? normalizeSha256(sha256) : undefined;
    } catch (e) {
      throw new ModuleFetchError(url, (e as Error).message, 'usage');
    }
    try {
      if (url.startsWith('oci://')) return await this.fetchOci(url, pin, pullPolicy, signal);
      if (/^https?:\/\//i.test(url)) return await this.fetchHttp(url, pin, signal);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && !url.startsWith('file://')) {
        const scheme = url.slice(0, url.indexOf(':'));
        throw new ModuleFetchError(
          url,
          `the ${scheme}:// scheme is not supported (use oci://, https://, http://, file:// or a path)`,
          'usage',
        );
      }
      return await this.fetchFile(url, pin);
    } catch (e) {
      if (e instanceof ModuleFetchError) throw e;
      if (isOciError(e)) throw new ModuleFetchError(url, e.message, e.kind);
      throw new ModuleFetchError(url, (e as Error).message);
    }
  }

  private async fetchFile(url: string, pin?: string): Promise<FetchedModule> {
    const path = url.startsWith('file://') ? new URL(url).pathname : url;
    let bytes: Uint8Array;
    try {
      bytes = await readFileLimited(path, this.maxBytes, 'the module');
    } catch (e) {
      if (isOciError(e)) throw e;
      throw new ModuleFetchError(
        url,
        `cannot read the module: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    const hex = sha256Hex(bytes);
    if (pin && pin !== hex)
      throw new ModuleFetchError(url, `sha256 mismatch: expected ${pin}, got ${hex}`, 'integrity');
    return { bytes, sha256: hex, from: 'file' };
  }

  private checkPin(
    url: string,
    pin: string | undefined,
    hex: string,
    digests: Array<string | undefined>,
  ): void {
    if (pinMatches(pin, hex, digests)) return;
    const d = digests.filter((x): x is string => !!x).map((x) => x.replace(/^sha256:/, ''));
    throw new ModuleFetchError(
      url,
      `sha256 mismatch: expected ${pin}, got ${hex} (the module)` +
        (d.length ? ` and ${[...new Set(d)].join(', ')} (the image manifest)` : '') +
        '; refusing to load it',
      'integrity',
    );
  }

  private async cachePut(
    bytes: Uint8Array,
    url: string,
    extra: { manifestDigest?: string; runtimeConfig?: RuntimeConfig },
  ) {
    // The cache is an optimization: a cache that cannot be written never fails a fetch.
    try {
      await this.cache?.put(bytes, url, extra);
    } catch {
      // ignored
    }
  }

  private async fromCache(
    url: string,
  ): Promise<
    { bytes: Uint8Array; entry: NonNullable<Awaited<ReturnType<ModuleCache['lookupUrl']>>> } | undefined
  > {
    if (!this.cache) return undefined;
    const entry = await this.cache.lookupUrl(url).catch(() => undefined);
    if (!entry) return undefined;
    const bytes = await this.cache.readModule(entry.module);
    return bytes ? { bytes, entry } : undefined;
  }

  private async fetchOci(
    url: string,
    pin: string | undefined,
    pullPolicy: string | undefined,
    signal: AbortSignal,
  ): Promise<FetchedModule> {
    const ref = ImageReference.parse(url);
    const supported = this.options.abiVersions ?? SUPPORTED_ABI;
    // A copy kept locally serves IfNotPresent only when it is what the pin names: a pin changed to a new
    // digest means a new module, fetched from the registry (Istio keys its cache on the checksum).
    if (pullIfNotPresent(url, pullPolicy)) {
      const hit = await this.fromCache(url);
      if (hit && pinMatches(pin, hit.entry.module, [hit.entry.manifestDigest, ref.digest])) {
        checkAbi(url, hit.entry.runtimeConfig, supported);
        await this.cache?.touch(url, hit.entry.module).catch(() => undefined);
        return {
          bytes: hit.bytes,
          sha256: hit.entry.module,
          from: 'cache',
          manifestDigest: hit.entry.manifestDigest,
          runtimeConfig: hit.entry.runtimeConfig,
        };
      }
      const local = await this.fromStore(ref);
      if (local && pinMatches(pin, local.sha256, [local.manifestDigest])) {
        checkAbi(url, local.runtimeConfig, supported);
        await this.cachePut(local.bytes, url, local);
        return local;
      }
    }
    const image = await this.client.resolve(ref, signal);
    const what = ref.toString();
    // The same manifest as last time: the module is in the cache, no blob to download.
    const hit = await this.fromCache(url);
    if (
      hit &&
      (hit.entry.manifestDigest === image.resolvedDigest || hit.entry.manifestDigest === image.digest)
    ) {
      this.checkPin(url, pin, hit.entry.module, [image.digest, image.resolvedDigest]);
      checkAbi(url, hit.entry.runtimeConfig, supported);
      await this.cachePut(hit.bytes, url, {
        manifestDigest: image.resolvedDigest,
        runtimeConfig: hit.entry.runtimeConfig,
      });
      return {
        bytes: hit.bytes,
        sha256: hit.entry.module,
        from: 'cache',
        manifestDigest: image.resolvedDigest,
        runtimeConfig: hit.entry.runtimeConfig,
      };
    }
    // Refused before the module is downloaded when the image says the host cannot run it.
    const extracted = await readWasmImage(
      image.manifest,
      (d) => this.client.getBlob(ref, d, undefined, signal),
      what,
      {
        maxBytes: this.maxBytes,
        checkRuntimeConfig: (rc) => checkAbi(url, rc, supported),
      },
    );
    const { runtimeConfig } = extracted;
    const hex = sha256Hex(extracted.wasm);
    this.checkPin(url, pin, hex, [image.digest, image.resolvedDigest]);
    await this.cachePut(extracted.wasm, url, { manifestDigest: image.resolvedDigest, runtimeConfig });
    return {
      bytes: extracted.wasm,
      sha256: hex,
      from: 'registry',
      manifestDigest: image.resolvedDigest,
      runtimeConfig,
    };
  }

  private async fromStore(ref: ImageReference): Promise<FetchedModule | undefined> {
    if (!this.store) return undefined;
    try {
      const image = await this.store.get(ref.toString());
      const { wasm, runtimeConfig } = await this.store.readWasm(image, { maxBytes: this.maxBytes });
      return {
        bytes: wasm,
        sha256: sha256Hex(wasm),
        from: 'store',
        manifestDigest: image.digest,
        runtimeConfig,
      };
    } catch (e) {
      if (isOciError(e, 'not-found')) return undefined;
      throw e;
    }
  }

  private async fetchHttp(url: string, pin: string | undefined, signal: AbortSignal): Promise<FetchedModule> {
    if (pin && this.cache) {
      const bytes = await this.cache.readModule(pin);
      if (bytes) {
        await this.cache.touch(url, pin).catch(() => undefined);
        return { bytes, sha256: pin, from: 'cache' };
      }
    }
    const body = await this.download(url, signal);
    const bodyHex = sha256Hex(body);
    const wasm = await unbox(url, body, this.maxBytes);
    const hex = wasm === body ? bodyHex : sha256Hex(wasm);
    this.checkPin(url, pin, hex, [bodyHex]);
    await this.cachePut(wasm, url, {});
    return { bytes: wasm, sha256: hex, from: 'http' };
  }

  /** A download whose body is cut short (the connection reset mid-way) is tried again, as a failed request is. */
  private async download(url: string, signal: AbortSignal): Promise<Uint8Array> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.downloadOnce(url, signal);
      } catch (e) {
        if (!(e instanceof BodyCutShort)) throw e;
        if (attempt >= this.transport.retries)
          throw new ModuleFetchError(
            url,
            `download failed after ${attempt + 1} attempts: cut short after ${e.bytes} bytes: ${networkCode(e.cause)}`,
            'unreachable',
          );
        await this.transport.backoff(attempt, signal);
      }
    }
  }

  private async downloadOnce(url: string, signal: AbortSignal): Promise<Uint8Array> {
    let res: TransportResponse;
    try {
      res = await this.transport.send({ method: 'GET', url, signal });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isOciError(e, 'denied-network')) throw e;
      const advice = tlsAdvice(e, new URL(url).host, 'use an http:// URL for it');
      if (advice) throw new ModuleFetchError(url, advice, 'unreachable');
      const attempts = e instanceof NetworkFailure ? e.attempts : 1;
      const cause = e instanceof NetworkFailure ? e.cause : e;
      throw new ModuleFetchError(
        url,
        `download failed${attempts > 1 ? ` after ${attempts} attempts` : ''}: ${networkCode(cause)}`,
        'unreachable',
      );
    }
    if (res.status !== 200) {
      await res.body.dump();
      const retried = isRetryableStatus(res.status);
      throw new ModuleFetchError(
        url,
        retried
          ? `download failed after ${res.attempts} attempts: HTTP ${res.status}`
          : `download failed: HTTP ${res.status}`,
        retried ? 'unreachable' : res.status === 404 ? 'not-found' : 'registry',
      );
    }
    const len = Number(res.headers['content-length'] ?? Number.NaN);
    if (len > this.maxBytes) {
      await res.body.dump();
      throw new ModuleFetchError(
        url,
        `the download is ${len} bytes, over the limit of ${this.maxBytes}`,
        'too-large',
      );
    }
    const chunks: Buffer[] = [];
    let n = 0;
    try {
      for await (const c of res.body) {
        signal.throwIfAborted();
        n += (c as Buffer).length;
        if (n > this.maxBytes) {
          res.body.destroy();
          throw new ModuleFetchError(
            url,
            `the download is over the limit of ${this.maxBytes} bytes`,
            'too-large',
          );
        }
        chunks.push(c as Buffer);
      }
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (e instanceof ModuleFetchError || !isNetworkError(e)) throw e;
      throw new BodyCutShort(n, e);
    }
    return new Uint8Array(Buffer.concat(chunks));
  }

  /** Removes cached modules not used for maxAgeMs; returns their hashes. */
  purge(maxAgeMs: number): Promise<string[]> {
    return this.cache ? this.cache.purge(maxAgeMs) : Promise.resolve([]);
  }
}

/**
 * A download may be the module, or a .gz / .tar / .tar.gz holding it (plugin.wasm, else the only .wasm);
 * what it unpacks to may not pass maxBytes.
 */
async function unbox(url: string, body: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  if (isWasmBinary(body)) return body;
  let files: ReturnType<typeof readTar>;
  try {
    if (isGzip(body)) {
      const inner = await gunzipLimited(body, maxBytes, 'the download');
      if (isWasmBinary(inner)) return inner;
      files = readTar(inner);
    } else files = readTar(body);
  } catch (e) {
    if (isOciError(e, 'too-large')) throw e;
    throw new ModuleFetchError(
      url,
      'the download is not a WebAssembly module (nor a .gz/.tar holding one)',
      'format',
    );
  }
  if (files.length === 0)
    throw new ModuleFetchError(
      url,
      'the download is not a WebAssembly module (nor a .gz/.tar holding one)',
      'format',
    );
  const wasm = files.filter((f) => f.name.endsWith('.wasm'));
  const chosen =
    wasm.find((f) => f.name.split('/').pop() === 'plugin.wasm') ?? (wasm.length === 1 ? wasm[0] : undefined);
  if (!chosen || !isWasmBinary(chosen.data))
    throw new ModuleFetchError(url, 'the archive holds no plugin.wasm (or single .wasm) module', 'format');
  return chosen.data;
}

let shared: ModuleFetcher | undefined;

/** The fetcher fetchModule uses by default, configured from the environment. */
export function defaultFetcher(): ModuleFetcher {
  shared ??= new ModuleFetcher();
  return shared;
}

/** Replaces the default fetcher (tests, embeddings); returns the previous one. */
export function setDefaultFetcher(f: ModuleFetcher | undefined): ModuleFetcher | undefined {
  const prev = shared;
  shared = f;
  return prev;
}

export async function fetchModule(
  url: string,
  sha256?: string,
  options: FetchModuleOptions = {},
): Promise<Uint8Array> {
  return (await fetchModuleDetailed(url, sha256, options)).bytes;
}

export function fetchModuleDetailed(
  url: string,
  sha256?: string,
  options: FetchModuleOptions = {},
): Promise<FetchedModule> {
  return (options.fetcher ?? defaultFetcher()).fetch(url, sha256, options.pullPolicy, options.signal);
}

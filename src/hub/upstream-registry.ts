// The registry a hub in `--registry` mode sits in front of, as the hub itself reads it: manifests and blobs
// by digest, with a pull token the hub signs for itself (subject HUB_SUBJECT, so the pulls it makes are not
// counted). Every answer is checked against its digest and the size limit.

import { digestOf } from '../oci/digest.js';
import { MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { ImageSource } from './image-source.js';
import type { TokenSigner } from './jwt.js';
import { RegistryError } from './registry-error.js';

/** The subject of the hub's own tokens: not a valid account name, so no user can be mistaken for it. */
export const HUB_SUBJECT = '@wasmgate-hub';
/** How long the hub's own pull tokens live. */
const OWN_TOKEN_SECONDS = 60;

export interface UpstreamOptions {
  /** http(s)://host[:port] of the registry. */
  url: string;
  signer: TokenSigner;
  /** The registry's `service` (the tokens' audience). */
  service: string;
  /** The token header: the x5c certificate chain the registry trusts. */
  header: Record<string, unknown>;
  maxBytes: number;
  timeoutMs: number;
}

export class UpstreamRegistry implements ImageSource {
  readonly url: string;
  readonly remote = true;

  constructor(private readonly o: UpstreamOptions) {
    this.url = o.url.replace(/\/+$/, '');
  }

  /** host[:port], as image references name the registry. */
  get host(): string {
    return new URL(this.url).host;
  }

  manifest(repository: string, digest: string): Promise<Buffer> {
    return this.get(repository, 'manifests', digest, MANIFEST_ACCEPT);
  }

  blob(repository: string, digest: string): Promise<Buffer> {
    return this.get(repository, 'blobs', digest);
  }

  private async get(repository: string, kind: string, digest: string, accept?: string): Promise<Buffer> {
    const what = `${this.host}/${repository}@${digest}`;
    const token = this.o.signer.sign(
      HUB_SUBJECT,
      this.o.service,
      [{ type: 'repository', name: repository, actions: ['pull'] }],
      OWN_TOKEN_SECONDS,
      this.o.header,
    );
    let res: Response;
    try {
      res = await fetch(`${this.url}/v2/${repository}/${kind}/${digest}`, {
        headers: { authorization: `Bearer ${token}`, ...(accept ? { accept } : {}) },
        signal: AbortSignal.timeout(this.o.timeoutMs),
      });
    } catch (e) {
      throw new Error(`the registry ${this.url} did not answer for ${what}: ${(e as Error).message}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      // Gone (deleted since): a caller handling an old event passes over it rather than retrying.
      throw new RegistryError('NOT_FOUND', `the registry ${this.url} has no ${what}`);
    }
    if (!res.ok) {
      const text = (await res.text()).slice(0, 500);
      throw new Error(`the registry ${this.url} answered ${res.status} for ${what}: ${text}`);
    }
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > this.o.maxBytes) {
      await res.body?.cancel();
      throw new Error(
        `${what} is ${declared} bytes, over the hub's limit of ${this.o.maxBytes} (--max-blob-mib)`,
      );
    }
    const parts: Uint8Array[] = [];
    let n = 0;
    for await (const chunk of (res.body ?? []) as unknown as AsyncIterable<Uint8Array>) {
      n += chunk.length;
      if (n > this.o.maxBytes)
        throw new Error(`${what} is over the hub's limit of ${this.o.maxBytes} bytes (--max-blob-mib)`);
      parts.push(chunk);
    }
    const bytes = Buffer.concat(parts);
    const actual = digestOf(bytes);
    if (actual !== digest) throw new Error(`the registry sent ${actual} for ${what}`);
    return bytes;
  }
}

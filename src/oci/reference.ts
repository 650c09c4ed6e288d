// Image references as Docker and Istio read them: [registry/]repository[:tag][@sha256:hex].
// The first path component is a registry when it has a dot or a port, or is "localhost"; otherwise the
// registry is docker.io and a one-component repository lives under library/.

import { OciError } from './errors.js';

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REGISTRY = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::\d{1,5})?$/;

export class ImageReference {
  constructor(
    /** As written, host[:port], or docker.io. */
    readonly registry: string,
    readonly repository: string,
    readonly tag?: string,
    readonly digest?: string,
  ) {}

  static parse(input: string): ImageReference {
    const fail = (why: string): never => {
      throw new OciError('usage', `invalid image reference "${input}": ${why}`);
    };
    let rest = input.trim();
    if (rest.startsWith('oci://')) rest = rest.slice(6);
    if (rest === '') fail('empty');
    let digest: string | undefined;
    const at = rest.indexOf('@');
    if (at >= 0) {
      digest = rest.slice(at + 1);
      rest = rest.slice(0, at);
      if (!DIGEST.test(digest)) fail('the digest must be sha256: followed by 64 lowercase hex digits');
    }
    let tag: string | undefined;
    const slash = rest.lastIndexOf('/');
    const colon = rest.lastIndexOf(':');
    if (colon > slash) {
      tag = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
      if (!TAG.test(tag)) fail(`bad tag "${tag}"`);
    }
    const parts = rest.split('/');
    let registry = DOCKER_HUB;
    const first = parts[0];
    if (
      parts.length > 1 &&
      (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))
    ) {
      registry = first;
      parts.shift();
      if (!REGISTRY.test(registry)) fail(`bad registry "${registry}"`);
    }
    if (registry === 'index.docker.io') registry = DOCKER_HUB;
    if (parts.length === 0 || parts.some((p) => !COMPONENT.test(p)))
      fail('repository names are lowercase letters, digits and separators (. _ __ -) between slashes');
    if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
    return new ImageReference(registry, parts.join('/'), tag, digest);
  }

  /** The host the distribution API is served from. */
  get apiHost(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_API : this.registry;
  }

  /** The host without its port (for loopback checks). */
  get hostname(): string {
    const r = this.registry;
    if (r.startsWith('[')) return r.slice(1, r.indexOf(']'));
    const c = r.lastIndexOf(':');
    return c >= 0 ? r.slice(0, c) : r;
  }

  get isLoopback(): boolean {
    return isLoopbackHost(this.hostname);
  }

  /** What a manifest request names: the digest when there is one, else the tag (default latest). */
  get reference(): string {
    return this.digest ?? this.tag ?? 'latest';
  }

  /** True when no digest pins the reference and the tag is absent or "latest" (Istio: pull Always). */
  get isLatest(): boolean {
    return !this.digest && (this.tag === undefined || this.tag === 'latest');
  }

  /** registry/repository, no tag or digest. */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  withTag(tag: string): ImageReference {
    return new ImageReference(this.registry, this.repository, tag, undefined);
  }

  withDigest(digest: string): ImageReference {
    return new ImageReference(this.registry, this.repository, undefined, digest);
  }

  /** With the default tag filled in when there is neither tag nor digest. */
  normalized(): ImageReference {
    return this.tag || this.digest ? this : this.withTag('latest');
  }

  toString(): string {
    return `${this.name}${this.tag ? `:${this.tag}` : ''}${this.digest ? `@${this.digest}` : ''}`;
  }
}

export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

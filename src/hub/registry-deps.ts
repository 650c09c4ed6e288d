// What the registry routes share, and small helpers for their requests and answers.

import type { Context } from 'hono';
import type { AccessControl } from './access.js';
import type { BlobStore } from './blob-store.js';
import type { PushDescription } from './catalogue-events.js';
import type { HubLimits } from './limits.js';
import type { HubMetadata } from './metadata.js';
import { checkRepositoryName } from './names.js';
import { RegistryError } from './registry-error.js';

export interface RegistryDeps {
  blobs: BlobStore;
  meta: HubMetadata;
  limits: HubLimits;
  access: AccessControl;
  /** Called after a manifest was fetched (the catalogue counts pulls) or deleted (the audit log). */
  events?: RegistryEvents;
  /** What the catalogue records of a push (total size, module), written in the manifest's transaction. */
  describePush?: PushDescriber;
  /** Pushes go to the audit log (hubs with accounts), in the manifest's transaction. */
  auditPushes?: boolean;
}

/** The catalogue's description of a manifest being pushed (`doc` its parsed JSON, `size` its length). */
export type PushDescriber = (
  repository: string,
  digest: string,
  size: number,
  doc: object,
) => Promise<PushDescription>;

export interface RegistryEvents {
  pulled?(repository: string, digest: string, user: string | undefined): Promise<void>;
  /** A tag, or a manifest (by digest) with its tags, was deleted. */
  deleted?(repository: string, reference: string, user: string | undefined): Promise<void>;
}

export function repoParam(c: Context): string {
  return checkRepositoryName(c.req.param('name') ?? '');
}

/** The request body as chunks (undefined when there is none). */
export function bodyChunks(c: Context): AsyncIterable<Uint8Array> | undefined {
  const b = c.req.raw.body;
  return b ? (b as unknown as AsyncIterable<Uint8Array>) : undefined;
}

/** Refuses a declared Content-Length above the limit before reading anything. */
export function checkDeclaredLength(c: Context, max: number, what: string, flag: string): void {
  const len = c.req.header('content-length');
  if (len !== undefined && Number(len) > max)
    throw new RegistryError(
      'SIZE_INVALID',
      `${what} of ${len} bytes is larger than the hub's limit of ${max} bytes (${flag})`,
      undefined,
      {},
      413,
    );
}

/** The whole body, refusing more than max bytes. */
export async function readBody(c: Context, max: number, what: string, flag: string): Promise<Uint8Array> {
  checkDeclaredLength(c, max, what, flag);
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const chunk of bodyChunks(c) ?? []) {
    n += chunk.length;
    if (n > max)
      throw new RegistryError(
        'SIZE_INVALID',
        `${what} is larger than the hub's limit of ${max} bytes (${flag})`,
        undefined,
        {},
        413,
      );
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/** ?n= and ?last= of the list endpoints, n capped at the limit. */
export function pageParams(c: Context, limits: HubLimits): { n: number; last?: string } {
  const raw = c.req.query('n');
  let n = limits.maxPageEntries;
  if (raw !== undefined && raw !== '') {
    const v = Number(raw);
    if (!Number.isInteger(v) || v < 0)
      throw new RegistryError(
        'UNSUPPORTED',
        `?n=${raw}: expected a non-negative integer`,
        undefined,
        {},
        400,
      );
    n = Math.min(v, limits.maxPageEntries);
  }
  return { n, last: c.req.query('last') || undefined };
}

/** RFC 5988 Link to the next page, as distribution sends it. */
export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}

// POST /api/v1/registry-events: the notifications of the registry a hub in `--registry` mode sits in front
// of (distribution's `notifications: endpoints:`), which keep the hub's catalogue current. A manifest push
// records the manifest and its tag (read from the registry) with who pushed it; a manifest GET counts a
// pull; a delete removes the manifest or the tag. Blob events are not needed. Only a request carrying the
// shared secret is read; each event is handled once, however often the registry redelivers it (it does
// until it gets a 2xx); an event that fails is answered 500 so the registry sends it again.

import { timingSafeEqual } from 'node:crypto';
import type { Hono } from 'hono';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../oci/media-types.js';
import type { HubLimits } from './limits.js';
import { checkManifest, manifestRecord } from './manifest-check.js';
import type { HubMetadata } from './metadata.js';
import { checkDigest, checkRepositoryName, isTag } from './names.js';
import type { PushDescriber, RegistryEvents } from './registry-deps.js';
import { readBody } from './registry-deps.js';
import { RegistryError } from './registry-error.js';
import { HUB_SUBJECT, type UpstreamRegistry } from './upstream-registry.js';

export const REGISTRY_EVENTS_PATH = '/api/v1/registry-events';

/** What the hub reads of distribution's event envelope ({"events": [...]}). */
export interface RegistryEvent {
  id: string;
  timestamp?: string;
  action: string;
  target: { mediaType?: string; digest?: string; repository: string; tag?: string };
  request?: { method?: string };
  actor?: { name?: string };
}

export interface RegistryEventDeps {
  meta: HubMetadata;
  upstream: UpstreamRegistry;
  /** The catalogue's and the audit log's listeners (pulls, deletes). */
  events: RegistryEvents;
  /** What the catalogue records of a push, written with the manifest. */
  describePush: PushDescriber;
  secret: string;
  limits: HubLimits;
  /** Events the hub skips because they make no sense (told, never silently dropped). */
  onError: (e: unknown) => void;
}

const MANIFEST_TYPES = [...MANIFEST_MEDIA_TYPES, ...INDEX_MEDIA_TYPES];

function invalid(message: string): never {
  throw new RegistryError('INVALID', `registry notification: ${message}`);
}

function secretMatches(header: string | undefined, secret: string): boolean {
  const given = Buffer.from(header?.startsWith('Bearer ') ? header.slice(7).trim() : '');
  const wanted = Buffer.from(secret);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The envelope's events, each checked for the fields the hub reads. */
export function parseEnvelope(bytes: Uint8Array): RegistryEvent[] {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    invalid(`the body is not JSON: ${(e as Error).message}`);
  }
  const events = (v as { events?: unknown } | null)?.events;
  if (!Array.isArray(events)) invalid('expected {"events": [...]}');
  return events.map((e, i) => {
    const ev = e as Partial<RegistryEvent> | null;
    if (typeof ev?.id !== 'string' || ev.id === '') invalid(`events[${i}].id: expected a string`);
    if (typeof ev.action !== 'string') invalid(`events[${i}].action: expected a string`);
    if (typeof ev.target?.repository !== 'string')
      invalid(`events[${i}].target.repository: expected a string`);
    return ev as RegistryEvent;
  });
}

export function registerRegistryEventRoutes(app: Hono, d: RegistryEventDeps): void {
  const handle = async (e: RegistryEvent): Promise<void> => {
    const { target } = e;
    const repository = checkRepositoryName(target.repository);
    const actor = e.actor?.name || undefined;
    if (e.action === 'delete') {
      if (target.tag !== undefined) {
        if (!isTag(target.tag)) invalid(`event ${e.id}: invalid tag "${target.tag}"`);
        await d.meta.deleteTag(repository, target.tag);
        await d.events.deleted?.(repository, target.tag, actor);
      } else {
        const digest = checkDigest(target.digest ?? '');
        await d.meta.deleteManifest(repository, digest);
        await d.events.deleted?.(repository, digest, actor);
      }
      return;
    }
    // Blobs (and mounts) say nothing the catalogue keeps: the manifest's own push event names them.
    if (!MANIFEST_TYPES.includes(target.mediaType ?? '')) return;
    const digest = checkDigest(target.digest ?? '');
    if (target.tag !== undefined && !isTag(target.tag)) invalid(`event ${e.id}: invalid tag "${target.tag}"`);
    if (e.action === 'push') {
      const bytes = await d.upstream.manifest(repository, digest);
      const m = checkManifest(bytes, target.mediaType);
      const at = Date.parse(e.timestamp ?? '');
      const pushedAt = Number.isFinite(at) ? at : Date.now();
      const description = await d.describePush(repository, digest, bytes.length, m.value);
      // One transaction: the catalogue never shows the tag without who pushed it and what it holds. The
      // registry checked the references itself.
      await d.meta.putManifest(manifestRecord(repository, digest, bytes.length, m, pushedAt), target.tag, {
        blobs: [],
        manifests: [],
        pusher: actor,
        totalSize: description.totalSize,
        module: description.module,
        audit: {
          at: pushedAt,
          actor,
          action: 'push',
          target: repository,
          detail: { digest, tag: target.tag },
        },
      });
    } else if (e.action === 'pull') {
      // A HEAD only checks; the hub's own reads (module info, the module route) are not pulls.
      if (e.request?.method === 'GET' && actor !== HUB_SUBJECT)
        await d.events.pulled?.(repository, digest, actor);
    }
  };

  app.post(REGISTRY_EVENTS_PATH, async (c) => {
    if (!secretMatches(c.req.header('authorization'), d.secret))
      throw new RegistryError(
        'UNAUTHORIZED',
        "registry notifications need the shared secret (Authorization: Bearer <secret> in the registry's notifications endpoint headers; see `wasmgate hub registry-config`)",
      );
    const events = parseEnvelope(
      await readBody(c, d.limits.maxEventBytes, 'the notification', '--max-event-kib'),
    );
    let handled = 0;
    for (const e of events) {
      if (!(await d.meta.claimEvent(e.id, Date.now()))) continue;
      try {
        await handle(e);
        handled++;
      } catch (err) {
        if (err instanceof RegistryError) {
          // The event itself is wrong: sending it again cannot help, so it is reported and passed over.
          d.onError(
            new Error(`registry notification ${e.id} (${e.action} ${e.target.repository}): ${err.message}`),
          );
          continue;
        }
        // The registry (or the database) failed: forget the event, so its redelivery is handled.
        await d.meta.releaseEvent(e.id);
        throw err;
      }
    }
    return c.json({ received: events.length, handled });
  });
}

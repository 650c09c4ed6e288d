// The hub as a server: the registry at /v2/ on a metadata backend and the filesystem blob store under
// --data, served by hono on Node's http server. startHub() is what `wasmgate hub` runs and what tests use.

import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { type AccessControl, openAccess } from './access.js';
import { AccountActions } from './account-actions.js';
import { registerAccountRoutes } from './account-routes.js';
import { registerBlobRoutes } from './blob-routes.js';
import { BlobStore } from './blob-store.js';
import { auditEvents, bootstrapAdmin } from './bootstrap.js';
import { catalogueEvents, combineEvents } from './catalogue-events.js';
import { registerCatalogueRoutes } from './catalogue-routes.js';
import { DataDirError, inside, prepareDataDir } from './data-dir.js';
import { sweepUploads } from './gc.js';
import { type ImageSource, localImages } from './image-source.js';
import { TokenSigner } from './jwt.js';
import { DEFAULT_HUB_LIMITS, type HubLimits } from './limits.js';
import { LoginLimiter } from './login-limiter.js';
import { registerManifestRoutes } from './manifest-routes.js';
import type { HubMetadata } from './metadata.js';
import { registerModuleRoutes } from './module-routes.js';
import { openMetadata } from './open-metadata.js';
import type { RegistryDeps, RegistryEvents } from './registry-deps.js';
import { RegistryError } from './registry-error.js';
import { registerRegistryEventRoutes } from './registry-events.js';
import { checkRegistryUrl, prepareRegistryFront, TOKEN_KEY_FILE } from './registry-front.js';
import { registerSignatureRoutes } from './signature-routes.js';
import { SignatureStatus } from './signature-status.js';
import {
  accountAccess,
  HUB_SERVICE,
  identify,
  registerTokenRoutes,
  type TokenAuthDeps,
} from './token-auth.js';
import { UpstreamRegistry } from './upstream-registry.js';
import { VerifiedSecrets } from './verified-secrets.js';
import { registerWebRoutes } from './web/routes.js';

export interface HubOptions {
  /** Where blobs (and the SQLite database) live. */
  data: string;
  /** postgres://… keeps the metadata in PostgreSQL; default: SQLite in <data>/hub.db. */
  database?: string;
  /** Default 5000; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  limits?: Partial<HubLimits>;
  /**
   * No accounts: anyone may push, pull and delete (a single developer's hub on loopback, and the registry
   * protocol tests). Default false: accounts, tokens and permissions.
   */
  open?: boolean;
  /** The first admin's password (default $WASMGATE_HUB_ADMIN_PASSWORD, else generated). */
  adminPassword?: string;
  /** Told once, when the admin account is created on an empty database. */
  onAdminCreated?: (password: string, generated: boolean) => void;
  /** The hub's URL as clients reach it (the token realm); default: from each request's Host. */
  publicUrl?: string;
  /**
   * http(s)://host[:port] of a registry the hub sits in front of: the hub issues its tokens and keeps its
   * catalogue from its notifications, and serves no /v2/ itself (needs accounts).
   */
  registry?: string;
  /** Errors the hub could not answer with an OCI error (bugs, disk failures). */
  onError?: (e: unknown) => void;
}

export interface Hub {
  /** http://host:port */
  url: string;
  port: number;
  meta: HubMetadata;
  blobs: BlobStore;
  /** --registry mode: the registry's side of the arrangement (YAML for its config.yml), and its file. */
  registryConfig?: { yaml: string; file: string };
  /** Writes the pull counts gathered in memory (they are written every second anyway). */
  flushCounts(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The hub's routes: the registry (or, when it sits in front of one, an answer naming it), plus (with
 * accounts) /token and /api/v1 added by `extra`.
 */
export function createHubApp(
  deps: RegistryDeps | { access: AccessControl; registryElsewhere: string },
  onError: (e: unknown) => void,
  extra?: (app: Hono) => void,
): Hono {
  const app = new Hono();
  app.use('*', async (c, next) => {
    await next();
    c.res.headers.set('Docker-Distribution-API-Version', 'registry/2.0');
  });
  // The ping checks credentials (`wasmgate login`, `docker login`), in front of a registry too.
  app.get('/v2/', async (c) => {
    await deps.access.ping(c);
    return c.json({});
  });
  if ('registryElsewhere' in deps) {
    // As Docker Hub: the hub is the accounts, tokens and catalogue; images live at the registry's own URL.
    app.all('/v2/*', () => {
      throw new RegistryError(
        'UNSUPPORTED',
        `this hub serves no registry: push and pull at ${deps.registryElsewhere} (e.g. ${deps.registryElsewhere}/<account>/<name>:<tag>); sign in there with your hub account`,
        undefined,
        {},
        404,
      );
    });
  } else {
    registerBlobRoutes(app, deps);
    registerManifestRoutes(app, deps);
  }
  extra?.(app);
  app.notFound((c) =>
    c.body(new RegistryError('UNSUPPORTED', `no such endpoint: ${c.req.method} ${c.req.path}`).body(), 404, {
      'Content-Type': 'application/json',
    }),
  );
  app.onError((e, c) => {
    if (e instanceof RegistryError)
      return c.body(e.body(), e.status as 400, { 'Content-Type': 'application/json', ...e.headers });
    onError(e);
    const message = e instanceof DataDirError ? e.message : 'internal error';
    return c.body(JSON.stringify({ errors: [{ code: 'UNKNOWN', message }] }), 500, {
      'Content-Type': 'application/json',
    });
  });
  return app;
}

export async function startHub(o: HubOptions): Promise<Hub> {
  if (o.registry && o.open)
    throw new DataDirError("--registry needs accounts: the hub issues the registry's tokens");
  const registryUrl = o.registry ? checkRegistryUrl(o.registry) : undefined;
  const data = await prepareDataDir(o.data);
  const limits: HubLimits = { ...DEFAULT_HUB_LIMITS, ...o.limits };
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 5000;
  // --registry: the token key's certificate, the notifications secret and the registry's config snippet.
  const front = registryUrl
    ? await prepareRegistryFront(
        data,
        o.publicUrl ?? `http://${urlHost(host)}:${port}`,
        limits.registryTimeoutMs,
      )
    : undefined;
  const blobs = await BlobStore.open(data);
  const meta = await openMetadata(data, o.database, { deferSync: true });
  const onError = o.onError ?? ((e: unknown) => process.stderr.write(`wasmgate hub: ${String(e)}\n`));
  const upstream =
    registryUrl && front
      ? new UpstreamRegistry({
          url: registryUrl,
          signer: front.signer,
          service: HUB_SERVICE,
          header: front.tokenHeader,
          maxBytes: limits.maxBlobBytes,
          timeoutMs: limits.registryTimeoutMs,
        })
      : undefined;
  const images: ImageSource = upstream ?? localImages(meta, blobs);
  const catalogue = catalogueEvents(meta, images, limits, onError);
  let access: AccessControl = openAccess;
  let events: RegistryEvents | undefined;
  let extra: ((app: Hono) => void) | undefined;
  if (!o.open) {
    const bootstrapped = meta.trackWrites();
    await bootstrapAdmin(meta.accounts, o);
    await bootstrapped();
    const auth: TokenAuthDeps = {
      accounts: meta.accounts,
      signer: front?.signer ?? (await TokenSigner.open(inside(data, TOKEN_KEY_FILE), HUB_SERVICE)),
      limiter: new LoginLimiter(limits.maxFailedLogins, limits.failedLoginWindowMs),
      secrets: new VerifiedSecrets(limits.verifiedSecretMs),
      tokenTtlSeconds: limits.tokenTtlSeconds,
      publicUrl: o.publicUrl,
      service: HUB_SERVICE,
      tokenHeader: front?.tokenHeader,
      catalog: upstream ? 'admins' : 'filtered',
    };
    access = accountAccess(auth);
    events = auditEvents(meta.accounts);
    const audit = events;
    const actions = new AccountActions(meta.accounts, meta.catalogue, limits);
    const signatures = new SignatureStatus(meta, images);
    extra = (app) => {
      registerTokenRoutes(app, auth);
      const caller = async (c: Context) => (await identify(c, auth)).caller;
      registerAccountRoutes(app, { accounts: meta.accounts, actions, caller });
      registerCatalogueRoutes(app, { actions, catalogue: meta.catalogue, caller, signatures });
      registerSignatureRoutes(app, {
        accounts: meta.accounts,
        catalogue: meta.catalogue,
        keys: meta.signingKeys,
        meta,
        status: signatures,
        caller,
      });
      registerModuleRoutes(app, { images, catalogue: meta.catalogue, limits, caller });
      if (upstream && front)
        registerRegistryEventRoutes(app, {
          meta,
          upstream,
          events: combineEvents(catalogue.events, audit),
          describePush: catalogue.describe,
          secret: front.secret,
          limits,
          onError,
        });
      registerWebRoutes(app, {
        meta,
        actions,
        limits,
        limiter: auth.limiter,
        publicUrl: o.publicUrl,
        events: combineEvents(catalogue.events, audit),
        registryElsewhere: upstream?.host,
        signatures,
      });
    };
  }
  const app = createHubApp(
    upstream
      ? { access, registryElsewhere: upstream.host }
      : {
          blobs,
          meta,
          limits,
          access,
          events: combineEvents(catalogue.events, events),
          describePush: catalogue.describe,
          auditPushes: !o.open,
        },
    onError,
    extra,
  );
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: durable(app, meta), port, hostname: host }, () => resolve(s));
    s.once('error', reject);
  });
  const boundPort = (server.address() as AddressInfo).port;
  // Sessions a client abandoned: dropped with their data after the TTL.
  const sweep = setInterval(
    () => {
      sweepUploads(meta, blobs, Date.now() - limits.uploadTtlMs).catch(onError);
      if (upstream) meta.forgetEvents(Date.now() - limits.eventMemoryMs).catch(onError);
      meta.sessions.deleteExpiredSessions(Date.now()).catch(onError);
    },
    Math.max(1000, Math.min(limits.uploadTtlMs, 60_000)),
  );
  sweep.unref();
  return {
    url: `http://${urlHost(host)}:${boundPort}`,
    port: boundPort,
    meta,
    blobs,
    registryConfig: front && { yaml: front.yaml, file: front.configFile },
    flushCounts: () => catalogue.flush(),
    async close() {
      clearInterval(sweep);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await catalogue.close();
      await meta.close();
    },
  };
}

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The app's fetch, answering only once what the request wrote is durable (HubMetadata.trackWrites). */
function durable(app: Hono, meta: HubMetadata): typeof app.fetch {
  return async (request, env, ctx) => {
    const written = meta.trackWrites();
    const response = await app.fetch(request, env, ctx);
    await written();
    return response;
  };
}

// `wasmgate hub`: the filter hub server (registry, accounts, catalogue) on --data.

import { type Command, InvalidArgumentError } from 'commander';
import { DataDirError } from '../hub/data-dir.js';
import { DEFAULT_HUB_LIMITS, type HubLimits } from '../hub/limits.js';
import { startHub } from '../hub/server.js';
import { OciError } from '../oci/errors.js';
import { registerHubAdminCommands } from './hub-admin.js';
import { registerHubGcCommand } from './hub-gc.js';
import { registerHubKeyCommands } from './hub-keys.js';
import { registerRegistryConfigCommand } from './hub-registry-config.js';

function positive(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what}: expected a positive number`);
    return n;
  };
}

function nonNegative(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${what}: expected a number, 0 or more`);
    return n;
  };
}

function portNumber(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number (0-65535)');
  return n;
}

interface HubCommandOptions {
  data: string;
  port: number;
  address: string;
  maxBlobMib?: number;
  maxManifestKib?: number;
  uploadTtlS?: number;
  pageSize?: number;
  publicUrl?: string;
  database?: string;
  tokenTtlS?: number;
  maxFailedLogins?: number;
  loginWindowS?: number;
  verifiedSecretS?: number;
  maxReadmeKib?: number;
  maxDescriptionChars?: number;
  maxLabels?: number;
  registry?: string;
  maxEventKib?: number;
  eventMemoryH?: number;
  registryTimeoutS?: number;
  sessionTtlH?: number;
}

export function hubLimits(o: HubCommandOptions): Partial<HubLimits> {
  const l: Partial<HubLimits> = {};
  if (o.maxBlobMib !== undefined) l.maxBlobBytes = Math.floor(o.maxBlobMib * 1024 * 1024);
  if (o.maxManifestKib !== undefined) l.maxManifestBytes = Math.floor(o.maxManifestKib * 1024);
  if (o.uploadTtlS !== undefined) l.uploadTtlMs = o.uploadTtlS * 1000;
  if (o.pageSize !== undefined) l.maxPageEntries = Math.floor(o.pageSize);
  if (o.tokenTtlS !== undefined) l.tokenTtlSeconds = Math.floor(o.tokenTtlS);
  if (o.maxFailedLogins !== undefined) l.maxFailedLogins = Math.floor(o.maxFailedLogins);
  if (o.loginWindowS !== undefined) l.failedLoginWindowMs = o.loginWindowS * 1000;
  if (o.verifiedSecretS !== undefined) l.verifiedSecretMs = o.verifiedSecretS * 1000;
  if (o.maxReadmeKib !== undefined) l.maxReadmeBytes = Math.floor(o.maxReadmeKib * 1024);
  if (o.maxDescriptionChars !== undefined) l.maxDescriptionChars = Math.floor(o.maxDescriptionChars);
  if (o.maxLabels !== undefined) l.maxLabels = Math.floor(o.maxLabels);
  if (o.maxEventKib !== undefined) l.maxEventBytes = Math.floor(o.maxEventKib * 1024);
  if (o.eventMemoryH !== undefined) l.eventMemoryMs = o.eventMemoryH * 3600 * 1000;
  if (o.registryTimeoutS !== undefined) l.registryTimeoutMs = o.registryTimeoutS * 1000;
  if (o.sessionTtlH !== undefined) l.sessionTtlMs = o.sessionTtlH * 3_600_000;
  return l;
}

let serving = false;

/** True once `wasmgate hub` serves (the process then keeps running). */
export function hubServing(): boolean {
  return serving;
}

export function registerHubCommand(program: Command): void {
  const d = DEFAULT_HUB_LIMITS;
  const hub = program.command('hub');
  registerHubAdminCommands(hub);
  registerRegistryConfigCommand(hub);
  registerHubKeyCommands(hub);
  registerHubGcCommand(hub);
  hub
    .description('run the filter hub: an OCI registry with accounts and a catalogue (see docs/hub.md)')
    .option('--data <dir>', 'where blobs and the database live (created when missing; required to serve)')
    .option(
      '--database <url>',
      'postgres://user:password@host:port/db keeps the metadata in PostgreSQL (default: SQLite under --data)',
    )
    .option('--port <port>', 'port to listen on (0: any free port)', portNumber, 5000)
    .option('--address <ip>', 'address to bind', '127.0.0.1')
    .option(
      '--max-blob-mib <MiB>',
      `largest blob accepted (default ${d.maxBlobBytes / 2 ** 20})`,
      positive('--max-blob-mib'),
    )
    .option(
      '--max-manifest-kib <KiB>',
      `largest manifest accepted (default ${d.maxManifestBytes / 1024})`,
      positive('--max-manifest-kib'),
    )
    .option(
      '--upload-ttl-s <seconds>',
      `drop upload sessions idle this long (default ${d.uploadTtlMs / 1000})`,
      positive('--upload-ttl-s'),
    )
    .option(
      '--page-size <n>',
      `most entries per tag list or catalog page (default ${d.maxPageEntries})`,
      positive('--page-size'),
    )
    .option(
      '--public-url <url>',
      "the hub's URL as clients reach it (the token realm; default: from each request)",
    )
    .option(
      '--token-ttl-s <seconds>',
      `lifetime of registry tokens (default ${d.tokenTtlSeconds})`,
      positive('--token-ttl-s'),
    )
    .option(
      '--max-failed-logins <n>',
      `failed logins per user and address before refusing (default ${d.maxFailedLogins})`,
      positive('--max-failed-logins'),
    )
    .option(
      '--login-window-s <seconds>',
      `window of --max-failed-logins, and how long the refusal lasts (default ${d.failedLoginWindowMs / 1000})`,
      positive('--login-window-s'),
    )
    .option(
      '--verified-secret-s <seconds>',
      `remember a verified password or access token this long, 0: never (default ${d.verifiedSecretMs / 1000})`,
      nonNegative('--verified-secret-s'),
    )
    .option(
      '--max-readme-kib <KiB>',
      `largest repository README (default ${d.maxReadmeBytes / 1024})`,
      positive('--max-readme-kib'),
    )
    .option(
      '--max-description-chars <n>',
      `longest repository description (default ${d.maxDescriptionChars})`,
      positive('--max-description-chars'),
    )
    .option(
      '--max-labels <n>',
      `most labels per repository (default ${d.maxLabels})`,
      positive('--max-labels'),
    )
    .option(
      '--registry <url>',
      'sit in front of this distribution registry (http(s)://host:port): issue its tokens, keep the catalogue from its notifications',
    )
    .option(
      '--max-event-kib <KiB>',
      `--registry: largest notification body (default ${d.maxEventBytes / 1024})`,
      positive('--max-event-kib'),
    )
    .option(
      '--event-memory-h <hours>',
      `--registry: how long notification ids are kept to spot redeliveries (default ${d.eventMemoryMs / 3600_000})`,
      positive('--event-memory-h'),
    )
    .option(
      '--registry-timeout-s <seconds>',
      `--registry: longest read of one manifest or blob from the registry (default ${d.registryTimeoutMs / 1000})`,
      positive('--registry-timeout-s'),
    )
    .option(
      '--session-ttl-h <hours>',
      `how long a sign-in to the web pages lasts (default ${d.sessionTtlMs / 3_600_000})`,
      positive('--session-ttl-h'),
    )
    .action(async (o: HubCommandOptions) => {
      if (!o.data)
        throw new OciError(
          'usage',
          'wasmgate hub: --data <dir> is required to serve (or give a subcommand: user, org, token)',
        );
      try {
        const hub = await startHub({
          data: o.data,
          port: o.port,
          host: o.address,
          limits: hubLimits(o),
          publicUrl: o.publicUrl,
          database: o.database,
          registry: o.registry,
          onAdminCreated: (password, generated) => {
            process.stderr.write(
              generated
                ? `wasmgate hub: created user admin with password ${password}\n  (shown only now; set WASMGATE_HUB_ADMIN_PASSWORD to choose it)\n`
                : 'wasmgate hub: created user admin with the password from WASMGATE_HUB_ADMIN_PASSWORD\n',
            );
          },
        });
        serving = true;
        process.stderr.write(`wasmgate hub: serving ${hub.url} (data in ${o.data})\n`);
        if (hub.registryConfig)
          process.stderr.write(
            `wasmgate hub: in front of ${o.registry}; the registry's config (auth, notifications) is in ${hub.registryConfig.file}\n`,
          );
        const stop = () => {
          hub.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      } catch (e) {
        // A usage error (exit 2), printed as it is.
        if (e instanceof DataDirError) throw new OciError('usage', e.message);
        throw e;
      }
    });
}

// `wasmgate hub gc --data <dir> [--database <url>] [--dry-run]`: removes blobs no manifest references
// (after a grace period that protects pushes in progress), the bytes of deleted manifests and expired
// upload sessions; safe while the hub serves. Prints what it removed, or with --dry-run what it would.

import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { BlobStore } from '../hub/blob-store.js';
import { DataDirError } from '../hub/data-dir.js';
import { collectGarbage } from '../hub/gc.js';
import { DEFAULT_HUB_LIMITS } from '../hub/limits.js';
import { openMetadata } from '../hub/open-metadata.js';
import { OciError } from '../oci/errors.js';

interface GcCommandOptions {
  data?: string;
  database?: string;
  dryRun?: boolean;
  graceS: number;
  uploadTtlS: number;
}

function seconds(flag: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag}: expected seconds, 0 or more`);
    return n;
  };
}

export function registerHubGcCommand(hub: Command): void {
  const d = DEFAULT_HUB_LIMITS;
  hub
    .command('gc')
    .description(
      'remove blobs no manifest references, deleted manifests and expired uploads (see docs/hub.md)',
    )
    .option('--data <dir>', "the hub's data directory")
    .option('--database <url>', "the hub's PostgreSQL database, when it has one (postgres://…)")
    .option('--dry-run', 'list what would be removed; remove nothing')
    .option(
      '--grace-s <seconds>',
      `keep blobs uploaded or linked this recently: pushes in progress (default ${d.gcGraceMs / 1000})`,
      seconds('--grace-s'),
      d.gcGraceMs / 1000,
    )
    .option(
      '--upload-ttl-s <seconds>',
      `remove upload sessions idle this long (default ${d.uploadTtlMs / 1000})`,
      seconds('--upload-ttl-s'),
      d.uploadTtlMs / 1000,
    )
    .action(async (_: unknown, cmd: Command) => {
      // `hub` itself takes --data and --database too: commander may hand them to it.
      const o = cmd.optsWithGlobals<GcCommandOptions>();
      if (!o.data) throw new OciError('usage', 'wasmgate hub gc: --data <dir> is required');
      if (!existsSync(o.data)) throw new OciError('usage', `--data ${o.data}: no such directory`);
      let meta: Awaited<ReturnType<typeof openMetadata>>;
      try {
        meta = await openMetadata(o.data, o.database, { deferSync: false });
      } catch (e) {
        if (e instanceof DataDirError) throw new OciError('usage', e.message);
        throw e;
      }
      try {
        const report = await collectGarbage(meta, await BlobStore.open(o.data), {
          graceMs: o.graceS * 1000,
          uploadTtlMs: o.uploadTtlS * 1000,
          dryRun: o.dryRun === true,
        });
        const verb = o.dryRun ? 'would remove' : 'removed';
        const out = (s: string) => process.stdout.write(`${s}\n`);
        for (const l of report.links) out(`${verb} link ${l.repository} ${l.digest}`);
        for (const b of report.blobs) out(`${verb} blob ${b.name} (${b.size} bytes)`);
        for (const m of report.manifests) out(`${verb} manifest ${m}`);
        for (const u of report.uploads) out(`${verb} upload ${u.name} (${u.size} bytes)`);
        const bytes = report.blobs.reduce((n, b) => n + b.size, 0);
        out(
          `${verb} ${report.blobs.length} blobs (${bytes} bytes), ${report.links.length} links, ` +
            `${report.manifests.length} manifests, ${report.uploads.length} uploads`,
        );
      } finally {
        await meta.close();
      }
    });
}

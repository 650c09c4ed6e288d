// The image commands: init, build, list, tag, push, pull, login, logout, inspect, rmi and cache.
// Results go to stdout (a digest, a table, JSON), messages to stderr; exit codes in exit-codes.ts.

import { statSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { CredentialStore } from '../oci/auth.js';
import { digestOf, sha256Hex } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { readFileLimited } from '../oci/fs-util.js';
import { buildImage, type ImageFormat, parseManifestJson } from '../oci/image.js';
import { maxModuleBytesFromEnv } from '../oci/limits.js';
import { ModuleCache } from '../oci/module-cache.js';
import { ImageReference } from '../oci/reference.js';
import { RegistryClient, type RegistryClientOptions } from '../oci/registry.js';
import { type FetchSettings, readCaFile, resolveFetchSettings } from '../oci/settings.js';
import { ImageStore } from '../oci/store.js';
import { deadline, formatNotice } from '../oci/transport.js';
import { type BlobReader, readWasmImage } from '../oci/wasm-image.js';
import {
  type FetchFlags,
  fetchSettingsFromFlags,
  fetchTimeoutOption,
  registryCaOption,
  requestTimeoutOption,
} from './fetch-flags.js';
import { describeOnHub, type HubDescription, hubDescription } from './hub-describe.js';
import { progressReporter } from './progress.js';
import { compileProject, initProject, LANGUAGES, type Language, readProject } from './project.js';
import { describeSignatures } from './signatures.js';

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

export function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

type RegistryFlags = FetchFlags & { insecure?: boolean };

/**
 * A registry client for one command, within the command's overall deadline, saying on stderr when the
 * registry is slow to answer or retried; closing it ends the deadline.
 */
export function client(
  o: RegistryFlags,
  what = 'the command',
  extra: Partial<RegistryClientOptions> = {},
): RegistryClient & { settings: FetchSettings } {
  const settings = resolveFetchSettings([fetchSettingsFromFlags(o)]);
  const limit = deadline(settings.timeoutMs, what, '--fetch-timeout, WASMGATE_FETCH_TIMEOUT_MS');
  const c = new RegistryClient({
    insecure: o.insecure ? true : settings.insecureRegistries,
    timeoutMs: settings.requestTimeoutMs,
    ca: settings.caFile ? readCaFile(settings.caFile) : undefined,
    onProgress: progressReporter(),
    onNotice: (n) => say(`wasmgate: ${formatNotice(n)}`),
    signal: limit.signal,
    ...extra,
  });
  const close = c.close.bind(c);
  return Object.assign(c, {
    settings,
    close: async () => {
      limit.clear();
      await close();
    },
  });
}

function ref(input: string): ImageReference {
  return ImageReference.parse(input);
}

function humanSize(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1000 * 1000) return `${(n / 1000).toFixed(1)} kB`;
  return `${(n / 1000 / 1000).toFixed(1)} MB`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  '))
    .join('\n');
}

function hours(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(h|m|d)?$/.exec(v);
  if (!m) throw new InvalidArgumentError('expected a duration in hours, e.g. 24, 24h, 30m or 7d');
  const n = Number(m[1]);
  return m[2] === 'm' ? n / 60 : m[2] === 'd' ? n * 24 : n;
}

interface InspectResult {
  reference: string;
  digest: string;
  mediaType: string;
  format: ImageFormat;
  abiVersions: string[];
  rootIds: string[];
  module: { sha256: string; size: number };
  manifest: unknown;
  config: unknown;
  source: 'local' | 'remote';
}

async function describe(
  reference: string,
  digest: string,
  manifestBytes: Uint8Array,
  readBlob: BlobReader,
  source: 'local' | 'remote',
): Promise<InspectResult> {
  const manifest = parseManifestJson(manifestBytes, reference);
  if (!('layers' in manifest)) throw new OciError('format', `${reference}: an image index, not an image`);
  const image = await readWasmImage(manifest, readBlob, reference, { maxBytes: maxModuleBytesFromEnv() });
  let config: unknown = null;
  try {
    if (image.configBytes) config = JSON.parse(new TextDecoder().decode(image.configBytes));
  } catch {
    config = null;
  }
  return {
    reference,
    digest,
    mediaType: manifest.mediaType ?? '',
    format: image.format,
    abiVersions: image.runtimeConfig?.abiVersions ?? [],
    rootIds: image.runtimeConfig?.rootIds ?? [],
    module: { sha256: sha256Hex(image.wasm), size: image.wasm.length },
    manifest,
    config,
    source,
  };
}

export function registerImageCommands(program: Command): void {
  program
    .command('init')
    .description('create a filter project from a template')
    .argument('<dir>', 'directory to create (must be empty or absent)')
    .addOption(new Option('--lang <language>', 'the language').choices([...LANGUAGES]).makeOptionMandatory())
    .option('--name <name>', 'filter name (default: from the directory)')
    .action((dir: string, o: { lang: Language; name?: string }) => {
      const files = initProject(dir, o.lang, o.name);
      for (const f of files) say(`created ${relative(process.cwd(), f) || f}`);
      say(`next: wasmgate build ${dir} -t <registry>/<name>:<tag>`);
    });

  program
    .command('build')
    .description('compile a filter project (or take a .wasm) and store it as an image in the local store')
    .argument('[path]', 'project directory or .wasm file', '.')
    .requiredOption('-t, --tag <ref>', 'image reference, e.g. localhost:5000/my-filter:v1')
    .addOption(new Option('--format <format>', 'image format').choices(['oci', 'compat']).default('oci'))
    .option('--root-id <id...>', 'root ids to record in the image config (besides those the module declares)')
    .addOption(new Option('--lang <language>', 'override language detection').choices([...LANGUAGES]))
    .action(
      async (path: string, o: { tag: string; format: ImageFormat; rootId?: string[]; lang?: Language }) => {
        const target = ref(o.tag);
        if (target.digest) throw new OciError('usage', 'build -t takes a tag, not a digest');
        let wasmPath = resolve(path);
        let rootIds = o.rootId ?? [];
        if (statSync(wasmPath, { throwIfNoEntry: false })?.isDirectory()) {
          const project = readProject(wasmPath, o.lang);
          say(`building ${project.name} (${project.language})`);
          wasmPath = compileProject(wasmPath, project);
          rootIds = [...project.rootIds, ...rootIds];
        } else if (!statSync(wasmPath, { throwIfNoEntry: false })?.isFile())
          throw new OciError('not-found', `${path}: no such file or directory`);
        const wasm = await readFileLimited(wasmPath, maxModuleBytesFromEnv(), wasmPath);
        const image = await buildImage(wasm, { format: o.format, rootIds });
        await new ImageStore().put(target.normalized(), image);
        const rc = image.runtimeConfig;
        say(
          `built ${target.normalized()} (${o.format}, ${humanSize(wasm.length)} module, ABI ${rc.abiVersions.join(', ') || 'none'}` +
            `${rc.rootIds.length ? `, root ids ${rc.rootIds.join(', ')}` : ''})`,
        );
        if (rc.abiVersions.length === 0)
          say('warning: the module exports no proxy_abi_version_* marker: no Proxy-Wasm host will run it');
        out(image.digest);
      },
    );

  program
    .command('list')
    .alias('images')
    .description('list the images in the local store')
    .option('--json', 'print JSON')
    .option('-q, --quiet', 'print only references')
    .action(async (o: { json?: boolean; quiet?: boolean }) => {
      const images = await new ImageStore().list();
      if (o.json) return out(JSON.stringify(images, null, 2));
      if (o.quiet) {
        for (const i of images) out(i.ref);
        return;
      }
      const rows = [['REPOSITORY', 'TAG', 'DIGEST', 'SIZE', 'FORMAT', 'ABI', 'ROOT IDS', 'CREATED']];
      for (const i of images)
        rows.push([
          i.repository,
          i.tag || '<none>',
          i.digest.slice(7, 19),
          humanSize(i.size),
          i.format,
          i.abiVersions.join(',') || '-',
          i.rootIds.join(',') || '-',
          i.created ?? '-',
        ]);
      out(table(rows));
    });

  program
    .command('tag')
    .description('give a local image another reference')
    .argument('<source>', 'reference or digest of a local image')
    .argument('<target>', 'new reference')
    .action(async (source: string, target: string) => {
      const t = ref(target);
      if (t.digest) throw new OciError('usage', 'the target of tag must be a tag, not a digest');
      const image = await new ImageStore().tag(source, t);
      say(`tagged ${t.normalized()} (${image.digest})`);
    });

  program
    .command('push')
    .description('push a local image to its registry')
    .argument('<ref>', 'reference of a local image (registry/repository:tag)')
    .option(
      '--mount-from <repository>',
      'mount blobs from this repository of the same registry instead of uploading',
    )
    .option('--insecure', 'allow plain HTTP and unverified TLS for this registry')
    .addOption(fetchTimeoutOption('the command'))
    .addOption(requestTimeoutOption())
    .addOption(registryCaOption())
    .option('--description <text>', 'on a wasmgate hub: the repository description')
    .option('--readme <file>', 'on a wasmgate hub: the repository README (Markdown)')
    .option('--label <label...>', 'on a wasmgate hub: labels to find it by')
    .option(
      '--hub <host|url>',
      "with --description/--readme/--label: the hub, when the registry is behind one (default: the image's registry)",
    )
    .action(
      async (input: string, o: RegistryFlags & { mountFrom?: string; hub?: string } & HubDescription) => {
        const r = ref(input).normalized();
        // Read before pushing: a missing README fails the command before anything is sent.
        const describe = hubDescription(o);
        const store = new ImageStore();
        const image = await store.get(r.toString());
        const c = client(o, `push ${r}`);
        try {
          const result = await c.push(
            r,
            { ...image, blobs: await store.blobs(image) },
            { mountFrom: o.mountFrom },
          );
          say(
            `pushed ${r}: ${result.uploaded.length} uploaded, ${result.skipped.length} already there` +
              `${result.mounted.length ? `, ${result.mounted.length} mounted` : ''}`,
          );
          out(result.digest);
          if (describe) {
            await describeOnHub(r, describe, o.hub);
            say(`described ${r.name} on the hub`);
          }
        } finally {
          await c.close();
        }
      },
    );

  program
    .command('pull')
    .description('pull an image from its registry into the local store')
    .argument('<ref>', 'registry/repository:tag or registry/repository@sha256:…')
    .option('-o, --output <file>', 'also write the module to this file')
    .option('--insecure', 'allow plain HTTP and unverified TLS for this registry')
    .addOption(fetchTimeoutOption('the command'))
    .addOption(requestTimeoutOption())
    .addOption(registryCaOption())
    .action(async (input: string, o: RegistryFlags & { output?: string }) => {
      const r = ref(input);
      const c = client(o, `pull ${r}`);
      try {
        const pulled = await c.resolve(r);
        const blobs = new Map<string, Uint8Array>();
        const blob: BlobReader = async (d) => {
          const known = blobs.get(d.digest);
          if (known) return known;
          const bytes = await c.getBlob(r, d);
          blobs.set(d.digest, bytes);
          return bytes;
        };
        // The module first, within the limit (unpacked too); then whatever else the image holds.
        const { format, wasm } = await readWasmImage(pulled.manifest, blob, r.toString(), {
          maxBytes: c.settings.maxModuleBytes,
        });
        for (const d of [pulled.manifest.config, ...pulled.manifest.layers]) await blob(d);
        await new ImageStore().put(r.digest ? r : r.normalized(), {
          manifest: pulled.manifest,
          manifestBytes: pulled.manifestBytes,
          blobs,
          digest: pulled.digest,
        });
        if (o.output) writeFileSync(o.output, wasm);
        say(`pulled ${r.digest ? r : r.normalized()} (${format}, ${humanSize(wasm.length)} module)`);
        out(pulled.digest);
      } finally {
        await c.close();
      }
    });

  program
    .command('login')
    .description('check and store credentials for a registry')
    .argument('<registry>', 'host[:port]')
    .requiredOption('-u, --username <user>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--insecure', 'allow plain HTTP and unverified TLS for this registry')
    .addOption(fetchTimeoutOption('the command'))
    .addOption(requestTimeoutOption())
    .addOption(registryCaOption())
    .action(
      async (
        registry: string,
        o: RegistryFlags & { username: string; password?: string; passwordStdin?: boolean },
      ) => {
        if (o.password !== undefined && o.passwordStdin)
          throw new OciError('usage', 'give --password or --password-stdin, not both');
        let password = o.password;
        if (o.passwordStdin) {
          const chunks: Buffer[] = [];
          for await (const c of process.stdin) chunks.push(c as Buffer);
          password = Buffer.concat(chunks)
            .toString('utf8')
            .replace(/\r?\n$/, '');
        }
        if (password === undefined)
          throw new OciError('usage', 'a password is required: --password-stdin (or -p)');
        const r = ImageReference.parse(`${registry}/login-check`);
        const c = client(o, `login ${r.registry}`, {
          credentials: async () => ({ username: o.username, password, source: 'the command line' }),
          retries: 1,
        });
        try {
          await c.ping(r);
        } finally {
          await c.close();
        }
        const store = new CredentialStore();
        await store.login(r.registry, o.username, password);
        say(`login succeeded: credentials for ${r.registry} stored in ${store.authFile}`);
      },
    );

  program
    .command('logout')
    .description('remove stored credentials for a registry')
    .argument('<registry>', 'host[:port]')
    .action(async (registry: string) => {
      const r = ImageReference.parse(`${registry}/logout`);
      const store = new CredentialStore();
      if (await store.logout(r.registry))
        say(`removed the credentials for ${r.registry} from ${store.authFile}`);
      else say(`not logged in to ${r.registry}`);
    });

  program
    .command('inspect')
    .description('show an image: manifest, config, format, ABI versions, root ids, module digest (JSON)')
    .argument('<ref>', 'a local image (reference or digest), else fetched from its registry')
    .option('--remote', 'ask the registry even when the image is in the local store')
    .option(
      '--key <file...>',
      'public keys to verify the registry’s signatures with (signatures: who signed)',
    )
    .option('--insecure', 'allow plain HTTP and unverified TLS for this registry')
    .addOption(fetchTimeoutOption('the command'))
    .addOption(requestTimeoutOption())
    .addOption(registryCaOption())
    .action(async (input: string, o: RegistryFlags & { remote?: boolean; key?: string[] }) => {
      const store = new ImageStore();
      if (!o.remote) {
        try {
          const image = await store.get(input);
          const result = await describe(
            image.ref.toString(),
            image.digest,
            image.manifestBytes,
            (d) => store.readBlob(d.digest, d.size),
            'local',
          );
          return out(JSON.stringify(result, null, 2));
        } catch (e) {
          if (!(e instanceof OciError && e.kind === 'not-found')) throw e;
        }
      }
      const r = ref(input);
      const c = client(o, `inspect ${r}`);
      try {
        const resolved = await c.resolve(r);
        const result = await describe(
          r.toString(),
          resolved.digest,
          resolved.manifestBytes,
          (d) => c.getBlob(r, d),
          'remote',
        );
        if (digestOf(resolved.manifestBytes) !== resolved.digest)
          throw new OciError('integrity', 'manifest digest mismatch');
        const signatures = await describeSignatures(c, r, resolved.resolvedDigest, o.key ?? []);
        out(JSON.stringify({ ...result, signatures }, null, 2));
      } finally {
        await c.close();
      }
    });

  program
    .command('rmi')
    .description('remove images from the local store')
    .argument('<ref...>', 'references or digests')
    .action(async (inputs: string[]) => {
      const store = new ImageStore();
      for (const input of inputs) for (const removed of await store.remove(input)) say(`untagged ${removed}`);
    });

  const cache = program
    .command('cache')
    .description("the proxy's module cache (oci:// and https:// plugin URLs)");
  cache
    .command('list')
    .description('cached URLs and modules (JSON)')
    .action(async () => {
      out(JSON.stringify(await new ModuleCache().list(), null, 2));
    });
  cache
    .command('purge')
    .description('remove cached modules not used for a while')
    .option('--unused-for <hours>', 'age, in hours (or 30m, 7d)', hours, 24)
    .action(async (o: { unusedFor: number }) => {
      const c = new ModuleCache();
      const removed = await c.purge(o.unusedFor * 3600 * 1000);
      say(`removed ${removed.length} module${removed.length === 1 ? '' : 's'} from ${c.dir}`);
      for (const r of removed) out(r);
    });
}

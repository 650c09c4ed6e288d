// `wasmgate apply / delete / plugins / reload`: change and inspect a running proxy through its admin API
// (address from --admin, else $WASMGATE_ADMIN, else http://127.0.0.1:9901). Changes carry the admin token:
// --token, else $WASMGATE_ADMIN_TOKEN, else the file --token-file names, else the file a proxy on this
// machine wrote its generated token to (src/observe/admin-access.ts).

import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';
import { defaultAdminTokenFile } from '../observe/admin-access.js';

export class AdminError extends Error {}

/** Where the admin API is, and the token its changes need (undefined: none found). */
export interface AdminTarget {
  url: string;
  token?: string;
  /** Where the token came from, for an error that names it. */
  tokenFrom?: string;
}

export interface AdminFlags {
  admin?: string;
  token?: string;
  tokenFile?: string;
}

export function adminTarget(o: AdminFlags): AdminTarget {
  const base = o.admin ?? process.env.WASMGATE_ADMIN ?? 'http://127.0.0.1:9901';
  const url = base.includes('://') ? base.replace(/\/$/, '') : `http://${base}`;
  return { url, ...adminToken(o, new URL(url)) };
}

function adminToken(o: AdminFlags, url: URL): { token?: string; tokenFrom?: string } {
  if (o.token) return { token: o.token, tokenFrom: '--token' };
  const env = process.env.WASMGATE_ADMIN_TOKEN;
  if (env) return { token: env, tokenFrom: '$WASMGATE_ADMIN_TOKEN' };
  if (o.tokenFile) {
    try {
      return { token: readFileSync(o.tokenFile, 'utf8').trim(), tokenFrom: o.tokenFile };
    } catch (e) {
      throw new AdminError(
        `cannot read the admin token file ${o.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
  }
  // A proxy on this machine wrote its generated token where its user can read it, named by its port.
  const file = localTokenFile(url);
  return file && existsSync(file) ? { token: readFileSync(file, 'utf8').trim(), tokenFrom: file } : {};
}

/** The file a proxy on this machine writes for the admin API at `url`; undefined for another machine. */
function localTokenFile(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const local = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  return local ? defaultAdminTokenFile(Number(url.port || 80)) : undefined;
}

export async function call(
  admin: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (admin.token) headers.authorization = `Bearer ${admin.token}`;
  let res: Response;
  try {
    res = await fetch(`${admin.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new AdminError(
      `cannot reach the admin API at ${admin.url}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`,
    );
  }
  const text = await res.text();
  if (res.status === 401) {
    const file = localTokenFile(new URL(admin.url));
    throw new AdminError(
      admin.token
        ? `the admin API refused the token (from ${admin.tokenFrom}): it is not the one the proxy at ${admin.url} uses`
        : `${method} ${path} needs the admin token: give --token, $WASMGATE_ADMIN_TOKEN or --token-file${file ? ` (a proxy on this machine writes the token it generated to ${file}, readable by its user only)` : ''}`,
    );
  }
  if (res.status === 403)
    throw new AdminError(`the admin API at ${admin.url} refused the request: ${text.trim()}`);
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // plain text answer
  }
  return { status: res.status, json };
}

interface Resource {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: { url?: string };
}

/** WasmPlugin documents of a file, with relative module paths made absolute (the proxy runs elsewhere). */
function readResources(file: string): Resource[] {
  const text = readFileSync(file, 'utf8');
  const out: Resource[] = [];
  parseAllDocuments(text).forEach((doc, i) => {
    if (doc.errors.length > 0)
      throw new AdminError(`${file}: document ${i + 1}: ${doc.errors[0].message.split('\n')[0]}`);
    const r = doc.toJS() as Resource | null;
    if (!r) return;
    if (r.kind !== 'WasmPlugin' || !r.metadata?.name)
      throw new AdminError(`${file}: document ${i + 1} is not a WasmPlugin with metadata.name`);
    const url = r.spec?.url;
    if (url && !/^[a-z][a-z0-9+.-]*:\/\//i.test(url))
      r.spec!.url = isAbsolute(url) ? url : resolve(dirname(file), url);
    else if (url?.startsWith('file://') && !url.startsWith('file:///'))
      r.spec!.url = pathToFileURL(resolve(dirname(file), url.slice(7))).href;
    out.push(r);
  });
  return out;
}

const keyOf = (r: Resource) => `${r.metadata?.namespace ?? 'default'}/${r.metadata!.name}`;

export async function applyFile(file: string, admin: AdminTarget): Promise<string[]> {
  const lines: string[] = [];
  let failed = false;
  for (const r of readResources(file)) {
    const { status, json } = await call(admin, 'PUT', `/plugins/${keyOf(r)}`, r);
    const j = json as { result?: string; error?: string };
    if (status === 200) lines.push(`${keyOf(r)} ${j.result}`);
    else {
      failed = true;
      lines.push(`${keyOf(r)} refused: ${j.error ?? JSON.stringify(json)}`);
    }
  }
  if (failed) throw new AdminError(lines.join('\n'));
  return lines;
}

export async function deletePlugins(keys: string[], admin: AdminTarget): Promise<string[]> {
  const lines: string[] = [];
  let failed = false;
  for (const k of keys) {
    const key = k.includes('/') ? k : `default/${k}`;
    const { status, json } = await call(admin, 'DELETE', `/plugins/${key}`);
    const j = json as { result?: string; error?: string };
    if (status === 200) lines.push(`${key} ${j.result}`);
    else {
      failed = true;
      lines.push(`${key} refused: ${j.error ?? JSON.stringify(json)}`);
    }
  }
  if (failed) throw new AdminError(lines.join('\n'));
  return lines;
}

export function registerAdminCommands(program: Command): void {
  const adminOption = [
    '--admin <url>',
    'admin API address (default $WASMGATE_ADMIN or http://127.0.0.1:9901)',
  ] as const;
  const tokenOption = ['--token <token>', 'the admin token (default $WASMGATE_ADMIN_TOKEN)'] as const;
  const tokenFileOption = [
    '--token-file <file>',
    'read the admin token from this file (default: the file a proxy on this machine wrote for its port)',
  ] as const;
  program
    .command('apply')
    .description('create or update WasmPlugin resources in a running proxy')
    .requiredOption('-f, --file <file>', 'YAML with one or more WasmPlugin resources (--- separated)')
    .option(...adminOption)
    .option(...tokenOption)
    .option(...tokenFileOption)
    .action(async (o: AdminFlags & { file: string }) => {
      for (const l of await applyFile(o.file, adminTarget(o))) process.stdout.write(`${l}\n`);
    });
  program
    .command('delete')
    .description('remove plugins (namespace/name, or those of a file) from a running proxy')
    .argument('[keys...]', 'namespace/name of each plugin')
    .option('-f, --file <file>', 'remove the WasmPlugin resources of this file')
    .option(...adminOption)
    .option(...tokenOption)
    .option(...tokenFileOption)
    .action(async (keys: string[], o: AdminFlags & { file?: string }) => {
      const all = [...keys, ...(o.file ? readResources(o.file).map(keyOf) : [])];
      if (all.length === 0)
        throw new AdminError('name the plugins to delete (namespace/name) or give -f <file>');
      for (const l of await deletePlugins(all, adminTarget(o))) process.stdout.write(`${l}\n`);
    });
  program
    .command('plugins')
    .description('list the plugins of a running proxy')
    .option(...adminOption)
    .option(...tokenOption)
    .option(...tokenFileOption)
    .option('--json', 'print the admin API answer as it is')
    .action(async (o: AdminFlags & { json?: boolean }) => {
      const { status, json } = await call(adminTarget(o), 'GET', '/plugins');
      if (status !== 200) throw new AdminError(`the admin API answered ${status}`);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
        return;
      }
      const rows = (json as Array<Record<string, unknown>>).map((p) =>
        [p.key, p.state, p.abi_version, p.phase, p.failures, p.reloads, p.url].map(String),
      );
      const head = ['KEY', 'STATE', 'ABI', 'PHASE', 'FAILURES', 'RELOADS', 'URL'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      for (const r of [head, ...rows])
        process.stdout.write(
          `${r
            .map((c, i) => c.padEnd(widths[i]))
            .join('  ')
            .trimEnd()}\n`,
        );
    });
  program
    .command('reload')
    .description('make a running proxy re-read its configuration file and plugin directories')
    .option(...adminOption)
    .option(...tokenOption)
    .option(...tokenFileOption)
    .action(async (o: AdminFlags) => {
      const { status, json } = await call(adminTarget(o), 'POST', '/reload');
      const j = json as { result?: string; error?: string };
      if (status !== 200) throw new AdminError(`reload refused: ${j.error ?? JSON.stringify(json)}`);
      process.stdout.write(`${j.result}\n`);
    });
}

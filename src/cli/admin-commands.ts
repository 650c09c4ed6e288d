// `wasmgate apply / delete / plugins / reload`: change and inspect a running proxy through its admin API
// (address from --admin, else $WASMGATE_ADMIN, else http://127.0.0.1:9901).

import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { parseAllDocuments } from 'yaml';

export class AdminError extends Error {}

function adminUrl(flag: string | undefined): string {
  const base = flag ?? process.env.WASMGATE_ADMIN ?? 'http://127.0.0.1:9901';
  return base.includes('://') ? base.replace(/\/$/, '') : `http://${base}`;
}

async function call(
  admin: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  let res: Response;
  try {
    res = await fetch(`${admin}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new AdminError(
      `cannot reach the admin API at ${admin}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`,
    );
  }
  const text = await res.text();
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

export async function applyFile(file: string, admin: string): Promise<string[]> {
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

export async function deletePlugins(keys: string[], admin: string): Promise<string[]> {
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
  program
    .command('apply')
    .description('create or update WasmPlugin resources in a running proxy')
    .requiredOption('-f, --file <file>', 'YAML with one or more WasmPlugin resources (--- separated)')
    .option(...adminOption)
    .action(async (o: { file: string; admin?: string }) => {
      for (const l of await applyFile(o.file, adminUrl(o.admin))) process.stdout.write(`${l}\n`);
    });
  program
    .command('delete')
    .description('remove plugins (namespace/name, or those of a file) from a running proxy')
    .argument('[keys...]', 'namespace/name of each plugin')
    .option('-f, --file <file>', 'remove the WasmPlugin resources of this file')
    .option(...adminOption)
    .action(async (keys: string[], o: { file?: string; admin?: string }) => {
      const all = [...keys, ...(o.file ? readResources(o.file).map(keyOf) : [])];
      if (all.length === 0)
        throw new AdminError('name the plugins to delete (namespace/name) or give -f <file>');
      for (const l of await deletePlugins(all, adminUrl(o.admin))) process.stdout.write(`${l}\n`);
    });
  program
    .command('plugins')
    .description('list the plugins of a running proxy')
    .option(...adminOption)
    .option('--json', 'print the admin API answer as it is')
    .action(async (o: { admin?: string; json?: boolean }) => {
      const { status, json } = await call(adminUrl(o.admin), 'GET', '/plugins');
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
    .action(async (o: { admin?: string }) => {
      const { status, json } = await call(adminUrl(o.admin), 'POST', '/reload');
      const j = json as { result?: string; error?: string };
      if (status !== 200) throw new AdminError(`reload refused: ${j.error ?? JSON.stringify(json)}`);
      process.stdout.write(`${j.result}\n`);
    });
}

// Reading and validating a gateway configuration file.

import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { fileKind } from '../oci/fs-util.js';
import { ConfigError, formatPath } from './config-error.js';
import { accessLoggerSpecs, serviceSpecs, type Validate } from './extension-spec.js';
import { fromEnvoyWasm, fromListenerNetworkFilter, fromWasmPlugin, type PluginSpec } from './plugin-spec.js';
import {
  envoyWasmSchema,
  type GatewayConfig,
  gatewaySchema,
  istioResourceSchema,
  plainWasmFilterSchema,
} from './schema.js';

export interface ResolvedConfig {
  file: string;
  config: GatewayConfig;
  plugins: PluginSpec[];
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const file = resolve(path);
  let text: string;
  try {
    // A FIFO or device would block this (synchronous) read for good.
    const st = statSync(file);
    if (!st.isFile()) throw new ConfigError(path, [`${fileKind(st)}, not a regular file`]);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(path, [`cannot read the file: ${(e as Error).message}`]);
  }
  return parseConfig(text, path, dirname(file), env);
}

/** Parses YAML (or JSON) text; `file` names it in errors, `baseDir` resolves relative module paths. */
export function parseConfig(
  text: string,
  file: string,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedConfig {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) throw new ConfigError(file, ['empty document']);
  if (docs.length !== 1) throw new ConfigError(file, [`expected one YAML document, found ${docs.length}`]);
  const doc = docs[0];
  const yamlProblems = [...doc.errors, ...doc.warnings].map((e) => {
    // With prettyErrors off the parser leaves linePos unset: locate the error from its offset instead.
    const pos = e.linePos?.[0] ?? (e.pos ? lines.linePos(e.pos[0]) : undefined);
    return `${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${e.message.split('\n')[0]}`;
  });
  if (doc.errors.length > 0) throw new ConfigError(file, yamlProblems);
  const data = doc.toJS() ?? {};

  const problems: string[] = [];
  const parsed = gatewaySchema.safeParse(data);
  if (!parsed.success) problems.push(...issues(parsed.error, [], doc, lines));
  const plugins: PluginSpec[] = [];
  const rawPlugins = Array.isArray((data as { plugins?: unknown }).plugins)
    ? (data as { plugins: unknown[] }).plugins
    : [];
  rawPlugins.forEach((entry, i) => {
    const at = ['plugins', i];
    const kind = typeof entry === 'object' && entry !== null && 'kind' in entry ? entry.kind : undefined;
    const r = (kind !== undefined ? istioResourceSchema(kind) : plainWasmFilterSchema).safeParse(entry);
    if (!r.success) {
      problems.push(...issues(r.error, at, doc, lines));
      return;
    }
    if ('kind' in r.data)
      plugins.push({ ...fromWasmPlugin(r.data, baseDir, env), origin: `${file}: plugins[${i}]` });
    else {
      const c = 'config' in r.data.wasm ? r.data.wasm.config : r.data.wasm;
      if (!c.vm_config.code.local && !c.vm_config.code.remote) {
        problems.push(
          `${formatPath([...at, 'wasm', 'vm_config', 'code'])}: give code.local.filename or code.remote.http_uri`,
        );
        return;
      }
      plugins.push({ ...fromEnvoyWasm(c, i, baseDir, env), origin: `${file}: plugins[${i}]` });
    }
  });
  if (parsed.success) plugins.push(...listenerFilters(parsed.data, doc, lines, file, baseDir, env, problems));
  const validate: Validate = (schema, entry, at) => {
    const r = schema.safeParse(entry);
    if (r.success) return r.data;
    problems.push(...issues(r.error, at, doc, lines));
    return undefined;
  };
  const raw = data as { accessLoggers?: unknown; services?: unknown; listeners?: unknown };
  const list = (v: unknown) => (Array.isArray(v) ? v : []);
  plugins.push(
    ...accessLoggerSpecs(list(raw.accessLoggers), ['accessLoggers'], undefined, baseDir, env, validate),
  );
  list(raw.listeners).forEach((l: { name?: unknown; accessLoggers?: unknown }, i) => {
    if (typeof l?.name !== 'string') return; // reported by the gateway schema
    const at = ['listeners', i, 'accessLoggers'];
    plugins.push(...accessLoggerSpecs(list(l.accessLoggers), at, l.name, baseDir, env, validate));
  });
  plugins.push(...serviceSpecs(list(raw.services), baseDir, env, validate));
  if (problems.length > 0) throw new ConfigError(file, problems);
  const config = parsed.data!;
  problems.push(...crossCheck(config, plugins));
  if (problems.length > 0) throw new ConfigError(file, problems);
  for (const p of plugins) if (p.role) p.origin = `${file}: ${p.origin}`;
  return { file, config, plugins };
}

/** The Envoy network wasm filters in TCP listeners' chains, each checked as an Envoy wasm config. */
function listenerFilters(
  config: GatewayConfig,
  doc: Document,
  lines: LineCounter,
  file: string,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  problems: string[],
): PluginSpec[] {
  const specs: PluginSpec[] = [];
  config.listeners.forEach((l, i) => {
    l.tcp?.filters.forEach((f, j) => {
      const at = ['listeners', i, 'tcp', 'filters', j, 'typed_config', 'config'];
      const r = envoyWasmSchema.safeParse(f.typed_config.config);
      if (!r.success) {
        problems.push(...issues(r.error, at, doc, lines));
        return;
      }
      if (!r.data.vm_config.code.local && !r.data.vm_config.code.remote) {
        problems.push(
          `${formatPath([...at, 'vm_config', 'code'])}: give code.local.filename or code.remote.http_uri`,
        );
        return;
      }
      specs.push({
        ...fromListenerNetworkFilter(r.data, l.name, j, baseDir, env),
        origin: `${file}: listeners[${i}].tcp.filters[${j}]`,
      });
    });
  });
  return specs;
}

function issues(error: z.ZodError, prefix: PropertyKey[], doc: Document, lines: LineCounter): string[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path];
    // An unknown field is located at the field itself, not at the start of the object holding it.
    const at = issue.code === 'unrecognized_keys' && issue.keys.length > 0 ? [...path, issue.keys[0]] : path;
    const node = doc.getIn(at as unknown[], true) as { range?: [number, number, number] } | undefined;
    const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
    const where = pos ? ` (line ${pos.line})` : '';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys')
      message = `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `${formatPath(path)}${where}: ${message}`;
  });
}

/** Checks across sections: names that must exist, names that must be unique, regexes that must compile. */
function crossCheck(config: GatewayConfig, plugins: PluginSpec[]): string[] {
  const problems: string[] = [];
  const clusters = new Set<string>();
  config.clusters.forEach((c, i) => {
    if (clusters.has(c.name)) problems.push(`clusters[${i}].name: duplicate cluster "${c.name}"`);
    clusters.add(c.name);
  });
  const listeners = new Set<string>();
  const ports = new Map<string, number>();
  config.listeners.forEach((l, i) => {
    if (listeners.has(l.name)) problems.push(`listeners[${i}].name: duplicate listener "${l.name}"`);
    listeners.add(l.name);
    const bind = `${l.address}:${l.port}`;
    if (l.port !== 0 && ports.has(bind))
      problems.push(`listeners[${i}].port: ${bind} is already used by listeners[${ports.get(bind)}]`);
    ports.set(bind, i);
    if (l.protocol === 'h2c' && l.tls)
      problems.push(`listeners[${i}].protocol: h2c is HTTP/2 without TLS; use "auto" with tls`);
    if (l.protocol === 'tcp') {
      if (!l.tcp) problems.push(`listeners[${i}].tcp: a tcp listener needs tcp.cluster`);
      else if (!clusters.has(l.tcp.cluster))
        problems.push(`listeners[${i}].tcp.cluster: no cluster named "${l.tcp.cluster}"`);
      if (l.routes)
        problems.push(`listeners[${i}].routes: a tcp listener has no routes (it proxies to tcp.cluster)`);
    } else if (l.tcp) {
      problems.push(`listeners[${i}].tcp: only a listener with protocol tcp proxies TCP`);
    }
  });
  const checkRoutes = (routes: GatewayConfig['routes'], at: string) =>
    routes.forEach((r, i) => {
      if (r.cluster !== undefined && !clusters.has(r.cluster))
        problems.push(`${at}[${i}].cluster: no cluster named "${r.cluster}"`);
      for (const [field, re] of [
        ['match.regex', r.match.regex],
        ...(r.match.headers ?? []).map((h, j) => [`match.headers[${j}].regex`, h.regex] as const),
      ] as const) {
        if (re === undefined) continue;
        try {
          new RegExp(re);
        } catch (e) {
          problems.push(`${at}[${i}].${field}: invalid regular expression: ${(e as Error).message}`);
        }
      }
    });
  checkRoutes(config.routes, 'routes');
  config.listeners.forEach((l, i) => {
    if (l.routes) checkRoutes(l.routes, `listeners[${i}].routes`);
    else if (config.routes.length === 0 && l.protocol !== 'tcp')
      problems.push(`listeners[${i}].routes: the listener has no routes and there are no top-level routes`);
  });
  const keys = new Map<string, number>();
  // A logger's or service's origin is its path (the file is added once checked).
  const at = (i: number) => (plugins[i].role ? plugins[i].origin : `plugins[${i}]`);
  plugins.forEach((p, i) => {
    if (keys.has(p.key))
      problems.push(`${at(i)}: duplicate plugin "${p.key}" (also ${at(keys.get(p.key)!)})`);
    keys.set(p.key, i);
  });
  return problems;
}

/**
 * WasmPlugin resources from a YAML stream (one resource per document, `---`-separated): the files of a
 * plugin directory and the bodies of the admin API's PUT /plugins. Errors name the file, the document
 * and the field.
 */
export function parseWasmPlugins(
  text: string,
  file: string,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): PluginSpec[] {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) return [];
  const problems: string[] = [];
  const specs: PluginSpec[] = [];
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `document ${i + 1}: ` : '';
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = e.linePos?.[0] ?? (e.pos ? lines.linePos(e.pos[0]) : undefined);
        problems.push(
          `${where}${pos ? `line ${pos.line}, column ${pos.col}: ` : ''}${e.message.split('\n')[0]}`,
        );
      }
      return;
    }
    const data = doc.toJS();
    if (data === null || data === undefined) return; // an empty document
    const r = istioResourceSchema((data as { kind?: unknown }).kind).safeParse(data);
    if (!r.success) {
      problems.push(...issues(r.error, [], doc, lines).map((p) => where + p));
      return;
    }
    specs.push({ ...fromWasmPlugin(r.data, baseDir, env), origin: `${file}: document ${i + 1}` });
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return specs;
}

// The admin listener: readiness, Prometheus stats, the effective config, plugin states, log level.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { LOG_LEVEL_NAMES, type LogLevelName } from '../abi/constants.js';
import { type AdminAccess, accessRefusal } from './admin-access.js';

export interface ApplyAnswer {
  generation: number;
  plugins: Array<{ key: string; change: string }>;
  listeners: { added: string[]; removed: string[]; kept: string[] };
}

export interface AdminSource {
  ready(): boolean;
  /** The Prometheus text in chunks, written as they come (src/observe/stats.ts). */
  prometheus(): Iterable<string>;
  configDump(): unknown;
  plugins(): unknown;
  logLevel(): LogLevelName;
  setLogLevel(level: LogLevelName): void;
  /** Create or replace a WasmPlugin; rejects (changing nothing) when it is invalid or fails to start. */
  putPlugin(namespace: string, name: string, body: unknown): Promise<ApplyAnswer>;
  /** undefined: no such plugin. */
  deletePlugin(namespace: string, name: string): Promise<ApplyAnswer | undefined>;
  reload(): Promise<ApplyAnswer>;
  lastError(): string | undefined;
  /** A plugin's trace switch (set when `enabled` is given); undefined: no such plugin. */
  pluginTrace(key: string, enabled: boolean | undefined): boolean | undefined;
  /** Records the next `streams` streams of a plugin (wasmgate record); false: no such plugin. */
  recordPlugin(key: string, streams: number): boolean;
  /** The recorded streams' bundles (JSON texts, handed out once) and how many are still to come. */
  takeRecordings(key: string): { bundles: string[]; left: number } | undefined;
}

const ENDPOINTS = {
  '/ready': 'readiness: 200 LIVE, or 503 while starting or draining',
  '/stats/prometheus': 'proxy and filter metrics, Prometheus text format',
  '/config_dump': 'the effective configuration (secrets redacted)',
  '/plugins': 'each wasm plugin: VM, ABI version, state, failures',
  '/logging': 'GET: current level; POST ?level=debug: change it',
  '/plugins/<namespace>/<name>': 'PUT a WasmPlugin (JSON or YAML): create or replace it; DELETE: remove it',
  '/reload': 'POST: re-read the configuration file and plugin directories',
  '/plugins/<namespace>/<name>/trace':
    'GET: the wasm trace switch; POST ?enabled=true|false: set it (also /plugins/<name>/trace)',
  '/plugins/<namespace>/<name>/record':
    'POST ?streams=N: record the next N streams as replayable bundles (wasmgate record); POST .../record/take: the bundles recorded so far',
};

/** ConfigError (the resource or file is invalid) → 400; anything else that refused the change → 422. */
function applyRefusal(e: unknown): { status: number; body: { error: string } } {
  const message = e instanceof Error ? e.message : String(e);
  return { status: e instanceof Error && e.name === 'ConfigError' ? 400 : 422, body: { error: message } };
}

function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) reject(new Error('body too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface AdminOptions {
  /** Who may use it: the token of changes and the Host names it answers (./admin-access.ts). */
  access: AdminAccess;
  /** A request that failed inside the admin API (answered 500, or cut off once its head was sent). */
  onError?: (error: unknown, request: string) => void;
}

export async function startAdmin(
  source: AdminSource,
  port: number,
  address: string,
  options: AdminOptions,
): Promise<{ server: Server; port: number; address: string }> {
  // The top-level guard: whatever a handler throws, or a promise it started rejects with, is answered here
  // and never reaches the process (an uncaught error would end the proxy with every stream it carries).
  const server = createServer((req, res) => {
    const refused = accessRefusal(req, options.access);
    if (refused) {
      res.writeHead(refused.status, { 'content-type': 'application/json', ...refused.headers });
      res.end(`${JSON.stringify({ error: refused.error })}\n`);
      return;
    }
    handle(source, req, res).catch((e: unknown) => {
      if (res.headersSent) {
        options.onError?.(e, `${req.method} ${req.url}`);
        res.destroy();
      } else if (e instanceof URIError) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ error: `malformed percent-encoding in ${req.url}` })}\n`);
      } else {
        options.onError?.(e, `${req.method} ${req.url}`);
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ error: 'internal error in the admin API; the proxy logged it' })}\n`);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  const bound = server.address() as AddressInfo;
  return { server, port: bound.port, address: bound.address };
}

/** Writes `chunks`, waiting while the client is slow and letting the proxy run between chunks. */
async function sendChunks(res: ServerResponse, chunks: Iterable<string>): Promise<void> {
  let written = 0;
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) await drained(res);
    else if (++written % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
  res.end();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function handle(source: AdminSource, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify(body, null, 2)}\n`);
  };
  switch (url.pathname) {
    case '/ready': {
      const ok = source.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ok ? 'LIVE\n' : 'DRAINING\n');
      return;
    }
    case '/stats/prometheus': {
      const chunks = source.prometheus();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      return sendChunks(res, chunks);
    }
    case '/config_dump':
      return json(200, source.configDump());
    case '/plugins':
      return json(200, source.plugins());
    case '/reload_status':
      return json(200, { last_error: source.lastError() ?? null });
    case '/logging': {
      if (req.method === 'POST' || req.method === 'PUT') {
        const level = url.searchParams.get('level') as LogLevelName | null;
        if (!level || !LOG_LEVEL_NAMES.includes(level)) {
          return json(400, { error: `level must be one of ${LOG_LEVEL_NAMES.join(', ')}` });
        }
        source.setLogLevel(level);
      }
      return json(200, { level: source.logLevel() });
    }
    case '/reload': {
      if (req.method !== 'POST') return json(405, { error: 'use POST /reload' });
      return source.reload().then(
        (r) => json(200, { result: `generation ${r.generation}`, ...r }),
        (e) => {
          const f = applyRefusal(e);
          json(f.status, f.body);
        },
      );
    }
    case '/':
      return json(200, ENDPOINTS);
    default: {
      // GET and POST only: PUT and DELETE /plugins/<namespace>/trace are for a WasmPlugin named "trace".
      const t = /^\/plugins\/(.+)\/trace$/.exec(url.pathname);
      if (t && (req.method === 'GET' || req.method === 'POST')) {
        const key = t[1].split('/').map(decodeURIComponent).join('/');
        let enabled: boolean | undefined;
        if (req.method === 'POST') {
          const v = url.searchParams.get('enabled');
          if (v !== 'true' && v !== 'false')
            return json(400, { error: 'give ?enabled=true or ?enabled=false' });
          enabled = v === 'true';
        }
        const state = source.pluginTrace(key, enabled);
        if (state === undefined) return json(404, { error: `no plugin ${key}` });
        return json(200, { plugin: key, trace: state });
      }
      const rec = /^\/plugins\/(.+)\/record(\/take)?$/.exec(url.pathname);
      if (rec && req.method === 'POST') return recordRoute(source, url, rec[1], rec[2] !== undefined, json);
      const m = /^\/plugins\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (m && (req.method === 'PUT' || req.method === 'DELETE')) {
        const [ns, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
        const key = `${ns}/${name}`;
        const work =
          req.method === 'DELETE'
            ? source
                .deletePlugin(ns, name)
                .then((r) =>
                  r ? json(200, { result: 'deleted', ...r }) : json(404, { error: `no plugin ${key}` }),
                )
            : readBody(req)
                .then((text) => {
                  let body: unknown;
                  try {
                    body = parseYaml(text);
                  } catch (e) {
                    throw Object.assign(
                      new Error(`the body is neither JSON nor YAML: ${(e as Error).message}`),
                      { name: 'ConfigError' },
                    );
                  }
                  return source.putPlugin(ns, name, body);
                })
                .then((r) =>
                  json(200, { result: r.plugins.find((p) => p.key === key)?.change ?? 'unchanged', ...r }),
                );
        return work.catch((e) => {
          const f = applyRefusal(e);
          json(f.status, f.body);
        });
      }
      return json(404, {
        error: `no admin endpoint ${req.method} ${url.pathname}`,
        endpoints: Object.keys(ENDPOINTS),
      });
    }
  }
}

const SECRET_KEY = /secret|password|passwd|token|api[_-]?key|private[_-]?key|credential/i;

/** A copy with values under secret-looking keys replaced, for /config_dump. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value))
      out[k] =
        SECRET_KEY.test(k) && (typeof v === 'string' || typeof v === 'number') ? '[redacted]' : redact(v);
    return out;
  }
  return value;
}

/** POST /plugins/<key>/record?streams=N starts a recording; POST /plugins/<key>/record/take hands out bundles. */
function recordRoute(
  source: AdminSource,
  url: URL,
  rawKey: string,
  take: boolean,
  json: (status: number, body: unknown) => void,
): void {
  const key = rawKey.split('/').map(decodeURIComponent).join('/');
  if (take) {
    const r = source.takeRecordings(key);
    if (!r) json(404, { error: `no plugin ${key}` });
    else json(200, { plugin: key, left: r.left, bundles: r.bundles.map((b) => JSON.parse(b) as unknown) });
    return;
  }
  const streams = Number(url.searchParams.get('streams') ?? '1');
  if (!Number.isInteger(streams) || streams < 1 || streams > MAX_RECORD_STREAMS)
    json(400, { error: `streams must be a whole number from 1 to ${MAX_RECORD_STREAMS}` });
  else if (!source.recordPlugin(key, streams)) json(404, { error: `no plugin ${key}` });
  else json(200, { plugin: key, recording: streams });
}

/** Streams one record request may ask for. */
export const MAX_RECORD_STREAMS = 20;

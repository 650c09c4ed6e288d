// The admin listener: readiness, Prometheus stats, the effective config, plugin states, log level.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LOG_LEVEL_NAMES, type LogLevelName } from '../abi/constants.js';

export interface AdminSource {
  ready(): boolean;
  prometheus(): string;
  configDump(): unknown;
  plugins(): unknown;
  logLevel(): LogLevelName;
  setLogLevel(level: LogLevelName): void;
}

const ENDPOINTS = {
  '/ready': 'readiness: 200 LIVE, or 503 while starting or draining',
  '/stats/prometheus': 'proxy and filter metrics, Prometheus text format',
  '/config_dump': 'the effective configuration (secrets redacted)',
  '/plugins': 'each wasm plugin: VM, ABI version, state, failures',
  '/logging': 'GET: current level; POST ?level=debug: change it',
};

export async function startAdmin(
  source: AdminSource,
  port: number,
  address: string,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
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
      case '/stats/prometheus':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(source.prometheus());
        return;
      case '/config_dump':
        return json(200, source.configDump());
      case '/plugins':
        return json(200, source.plugins());
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
      case '/':
        return json(200, ENDPOINTS);
      default:
        return json(404, { error: `no admin endpoint ${url.pathname}`, endpoints: Object.keys(ENDPOINTS) });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
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

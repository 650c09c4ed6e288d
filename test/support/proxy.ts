// End-to-end helpers: `wasmgate run -c <file>` as a child process, real upstream servers on loopback in the
// test process that record what they received, and small HTTP/1.1 and HTTP/2 clients that also return
// trailers.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  type ClientHttp2Session,
  type IncomingHttpHeaders as Http2Headers,
  connect as http2Connect,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { builtCli } from './built.js';

/** The CLI as users run it, refused when dist/ is older than src/ (./built.ts). */
export const CLI = builtCli();

/** A fresh temporary directory for one test's files. */
export function tempDir(prefix = 'wasmgate-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

// ---- the proxy ----------------------------------------------------------------------------------------

/** One access log line (src/observe/access-log.ts). */
export interface AccessEntry {
  method: string;
  path: string;
  protocol: string;
  response_code: number;
  response_flags: string;
  response_code_details: string;
  bytes_received: number;
  bytes_sent: number;
  upstream_host: string | null;
  upstream_cluster: string | null;
  route_name: string | null;
  listener: string;
  request_id: string | null;
  [key: string]: unknown;
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

const children = new Set<ChildProcess>();
// A failed test must not leave a proxy behind (only the children this module started, by their handle).
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Writes `config` (an object, dumped as YAML, or YAML text as is) into `dir`; returns the file path. */
export function writeConfig(config: object | string, dir = tempDir(), name = 'wasmgate.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : stringify(config));
  return path;
}

export class ProxyProcess {
  stdout = '';
  stderr = '';
  /** Listener ports by name, from the `wasmgate listening:` line. */
  ports: Record<string, number> = {};
  adminPort: number | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: Array<() => void> = [];

  constructor(
    readonly child: ChildProcess,
    readonly configPath: string,
    /** $WASMGATE_RUNTIME_DIR of the proxy: where it writes its generated admin token. */
    readonly runtimeDir: string,
  ) {
    children.add(child);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.wake();
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.wake();
    });
    // 'close', not 'exit': by then stdout and stderr are read to their end too.
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        children.delete(child);
        this.wake();
        resolve({ code, signal });
      }),
    );
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with `check()`'s first non-undefined result, re-checked whenever output arrives. */
  async waitFor<T>(what: string, check: () => T | undefined, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0 || !this.running)
        throw new Error(
          `timed out waiting for ${what}${this.running ? '' : ' (the proxy exited)'}\n--- stderr ---\n${this.stderr.slice(-4000)}\n--- stdout ---\n${this.stdout.slice(-2000)}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The `:PORT` of the listener named `name` (default `main`). */
  port(name = 'main'): number {
    const p = this.ports[name];
    if (p === undefined) throw new Error(`no listener ${name} (have ${Object.keys(this.ports).join(', ')})`);
    return p;
  }

  url(path = '/', listener = 'main'): string {
    return `http://127.0.0.1:${this.port(listener)}${path}`;
  }

  adminUrl(path: string): string {
    if (this.adminPort === undefined) throw new Error('the config has no admin listener');
    return `http://127.0.0.1:${this.adminPort}${path}`;
  }

  /** The admin token the proxy generated (written into its runtime directory, as for the CLI). */
  adminToken(): string {
    return readFileSync(join(this.runtimeDir, `admin-${this.adminPort}.token`), 'utf8').trim();
  }

  /** An admin API request with the admin token, as the CLI sends it. */
  admin(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(this.adminUrl(path), {
      ...init,
      headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.adminToken()}` },
    });
  }

  /** Access log entries so far (stdout JSON lines). */
  accessLog(): AccessEntry[] {
    return parseJsonLines(this.stdout) as AccessEntry[];
  }

  /** pino log lines so far (stderr JSON lines; other stderr lines are skipped). */
  logs(): LogLine[] {
    return parseJsonLines(this.stderr) as LogLine[];
  }

  /** The access log entry for which `match` holds; the line is written once the stream is over. */
  access(match: (e: AccessEntry) => boolean, timeoutMs = 5000): Promise<AccessEntry> {
    return this.waitFor('an access log entry', () => this.accessLog().find(match), timeoutMs);
  }

  /** The access log entry for `x-request-id: id`. */
  accessFor(requestId: string): Promise<AccessEntry> {
    return this.access((e) => e.request_id === requestId);
  }

  /** SIGTERM (or `signal`), then waits for the exit; returns the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 8000): Promise<number | null> {
    if (this.running) this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const { code } = await this.exited;
    clearTimeout(t);
    return code;
  }
}

function parseJsonLines(text: string): unknown[] {
  const out: unknown[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // a partial last line
    }
  }
  return out;
}

/** `wasmgate <args>`, with a runtime directory of its own (its admin token file) unless `env` names one. */
function spawnCli(args: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; runtimeDir: string } {
  const runtimeDir = env?.WASMGATE_RUNTIME_DIR ?? tempDir('wasmgate-run-');
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, WASMGATE_RUNTIME_DIR: runtimeDir },
  });
  return { child, runtimeDir };
}

const LISTENING = /^wasmgate listening: (.*)$/m;

/**
 * Starts `wasmgate run -c <config>` and waits for its `wasmgate listening: main=:PORT ... admin=:PORT`
 * line. Use port 0 in the config so the OS picks the ports.
 */
export async function startProxy(
  config: object | string,
  options: { dir?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ProxyProcess> {
  const configPath = writeConfig(config, options.dir ?? tempDir());
  const { child, runtimeDir } = spawnCli(['run', '-c', configPath], options.env);
  const p = new ProxyProcess(child, configPath, runtimeDir);
  try {
    const line = await p.waitFor(
      'the listening line',
      () => LISTENING.exec(p.stderr)?.[1],
      options.timeoutMs,
    );
    for (const m of line.matchAll(/(\S+)=:(\d+)/g)) {
      if (m[1] === 'admin') p.adminPort = Number(m[2]);
      else p.ports[m[1]] = Number(m[2]);
    }
  } catch (e) {
    await p.stop('SIGKILL');
    throw e;
  }
  return p;
}

/** Runs `wasmgate run -c <config>` expecting it to refuse to start: its exit code and output. */
export async function runProxyExpectingExit(
  config: object | string,
  options: { dir?: string; name?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string; configPath: string }> {
  const configPath = writeConfig(config, options.dir ?? tempDir(), options.name);
  const { child, runtimeDir } = spawnCli(['run', '-c', configPath]);
  const p = new ProxyProcess(child, configPath, runtimeDir);
  const t = setTimeout(() => p.child.kill('SIGKILL'), options.timeoutMs ?? 8000);
  const { code } = await p.exited;
  clearTimeout(t);
  return { code, stdout: p.stdout, stderr: p.stderr, configPath };
}

/**
 * Stops every proxy (SIGTERM) and closes every upstream — all of them, even when one misbehaves, so that a
 * failure cannot leave servers keeping the test process alive — then asserts that each proxy exited 0.
 */
export async function shutdown(...things: Array<ProxyProcess | Upstream | undefined>): Promise<void> {
  const exits: Array<[ProxyProcess, number | null]> = [];
  for (const t of things) {
    if (t instanceof ProxyProcess) exits.push([t, await t.stop()]);
    else if (t) await t.close();
  }
  for (const [p, code] of exits)
    assert.equal(code, 0, `the proxy exited with ${code}; its stderr ends with:\n${p.stderr.slice(-3000)}`);
}

// ---- config building blocks -------------------------------------------------------------------------

/** A plain Envoy-style wasm filter entry. */
export function wasmFilter(
  name: string,
  filename: string,
  options: {
    configuration?: string;
    rootId?: string;
    vmId?: string;
    failStrategy?: string;
    /** Listener labels the filter is for (wasmgate's selector); every listener when absent. */
    selector?: Record<string, string>;
    /** Envoy's allow_on_headers_stop_iteration. */
    allowOnHeadersStopIteration?: boolean;
  } = {},
): object {
  return {
    wasm: {
      name,
      root_id: options.rootId ?? '',
      ...(options.configuration !== undefined ? { configuration: options.configuration } : {}),
      ...(options.failStrategy ? { failStrategy: options.failStrategy } : {}),
      ...(options.selector ? { selector: { matchLabels: options.selector } } : {}),
      ...(options.allowOnHeadersStopIteration ? { allow_on_headers_stop_iteration: true } : {}),
      vm_config: { vm_id: options.vmId ?? name, code: { local: { filename } } },
    },
  };
}

/** An Istio WasmPlugin resource. */
export function wasmPlugin(name: string, url: string, spec: Record<string, unknown> = {}): object {
  return {
    apiVersion: 'extensions.istio.io/v1alpha1',
    kind: 'WasmPlugin',
    metadata: { name, namespace: 'e2e' },
    spec: { url, ...spec },
  };
}

/** A config with one listener `main` (port 0) and admin (port 0) routing `/` to cluster `upstream`. */
export function basicConfig(
  upstreamPort: number,
  plugins: object[] = [],
  extra: Record<string, unknown> = {},
) {
  return {
    logLevel: 'info',
    admin: { port: 0 },
    listeners: [{ name: 'main', port: 0, protocol: 'auto' }],
    clusters: [{ name: 'upstream', endpoints: [`127.0.0.1:${upstreamPort}`], connectTimeoutMs: 1000 }],
    routes: [{ name: 'default', match: { prefix: '/' }, cluster: 'upstream', timeoutMs: 5000 }],
    plugins,
    ...extra,
  };
}

// ---- upstream servers ---------------------------------------------------------------------------------

/** What an upstream received. */
export interface Received {
  method: string;
  url: string;
  httpVersion: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  trailers: Record<string, string>;
}

export type UpstreamHandler = (req: Received, res: ServerResponse) => void | Promise<void>;

export interface Upstream {
  port: number;
  server: Server;
  /** Requests whose body was read in full, in arrival order. */
  received: Received[];
  /** Requests whose headers arrived (the body may still be on its way). */
  started: number;
  last(): Received;
  /** The request that carried `x-request-id: id`. */
  byId(id: string): Received;
  /** Resolves once `n` requests have started (headers arrived). */
  waitForStarted(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Answers 200 `upstream ok` with `server: test-upstream`. */
export const okHandler: UpstreamHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', server: 'test-upstream' });
  res.end('upstream ok');
};

/** An HTTP/1.1 upstream on 127.0.0.1 that records every request and answers with `handler`. */
export async function startUpstream(handler: UpstreamHandler = okHandler): Promise<Upstream> {
  const received: Received[] = [];
  let started = 0;
  let wake: Array<() => void> = [];
  const server = createHttpServer((req: IncomingMessage, res) => {
    started++;
    for (const w of wake) w();
    wake = [];
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
        trailers: { ...(req.trailers as Record<string, string>) },
      };
      received.push(r);
      Promise.resolve(handler(r, res)).catch((e) => {
        res.destroy(e as Error);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const u: Upstream = {
    port: (server.address() as AddressInfo).port,
    server,
    received,
    get started() {
      return started;
    },
    last() {
      const r = received.at(-1);
      if (!r) throw new Error('the upstream received nothing');
      return r;
    },
    byId(id) {
      const r = received.find((x) => x.headers['x-request-id'] === id);
      if (!r) throw new Error(`the upstream did not receive request ${id}`);
      return r;
    },
    async waitForStarted(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (started < n) {
        if (Date.now() > deadline) throw new Error(`the upstream saw ${started} of ${n} requests`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 100);
          wake.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return u;
}

/** A port on 127.0.0.1 with nothing listening (bound, then released). */
export async function freePort(): Promise<number> {
  const s = createHttpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

// ---- clients ------------------------------------------------------------------------------------------

export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders | Http2Headers;
  body: string;
  trailers: Record<string, string | string[] | undefined>;
  httpVersion: string;
  alpn?: string | false;
}

export interface H1Options {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Sent with chunked encoding (no content-length). */
  chunks?: string[];
  trailers?: Record<string, string>;
  tls?: boolean;
  /** ALPN list for TLS (default http/1.1 only). */
  alpn?: string[];
  timeoutMs?: number;
}

/** One HTTP/1.1 request with node:http(s) on a fresh connection; returns status, headers, body, trailers. */
export function h1(port: number, path: string, o: H1Options = {}): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...o.headers };
    if (o.trailers) headers.trailer = Object.keys(o.trailers).join(', ');
    const opts = {
      host: '127.0.0.1',
      port,
      path,
      method: o.method ?? (o.body !== undefined || o.chunks ? 'POST' : 'GET'),
      headers,
      agent: false as const,
      timeout: o.timeoutMs ?? 5000,
      ...(o.tls
        ? { rejectUnauthorized: false, ALPNProtocols: o.alpn ?? ['http/1.1'], servername: 'localhost' }
        : {}),
    };
    const req = (o.tls ? httpsRequest : httpRequest)(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          trailers: { ...res.trailers },
          httpVersion: res.httpVersion,
          alpn: (res.socket as { alpnProtocol?: string | false } | null)?.alpnProtocol,
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request ${path} timed out`)));
    req.on('error', reject);
    if (o.chunks) {
      for (const c of o.chunks) req.write(c);
      if (o.trailers) req.addTrailers(o.trailers);
      req.end();
    } else if (o.body !== undefined) {
      if (o.trailers) {
        req.write(o.body);
        req.addTrailers(o.trailers);
        req.end();
      } else req.end(o.body);
    } else req.end();
  });
}

/** An HTTP/2 session: h2c (prior knowledge) or TLS (ALPN h2, certificate not checked). */
export function h2session(port: number, tls = false): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const opts: SecureClientSessionOptions = tls
      ? { rejectUnauthorized: false, ALPNProtocols: ['h2'], servername: 'localhost' }
      : {};
    const s = http2Connect(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`, opts);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

export interface H2Options {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: string;
  trailers?: Record<string, string>;
  timeoutMs?: number;
}

/** One HTTP/2 request on `session`; returns status, headers, body, trailers. */
export function h2(session: ClientHttp2Session, path: string, o: H2Options = {}): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    const hasBody = o.body !== undefined || o.trailers !== undefined;
    const stream = session.request(
      {
        ':method': o.method ?? (hasBody ? 'POST' : 'GET'),
        ':path': path,
        ...o.headers,
      },
      { endStream: !hasBody, waitForTrailers: o.trailers !== undefined },
    );
    const t = setTimeout(() => stream.close(8 /* CANCEL */), o.timeoutMs ?? 5000);
    let headers: Http2Headers = {};
    let trailers: Http2Headers = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (h) => {
      trailers = h;
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      clearTimeout(t);
      resolve({
        status: Number(headers[':status']),
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        trailers: trailers as Record<string, string | string[] | undefined>,
        httpVersion: '2.0',
      });
    });
    stream.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    stream.on('close', () => {
      clearTimeout(t);
      if (stream.rstCode) reject(new Error(`stream reset with code ${stream.rstCode}`));
    });
    if (o.trailers) stream.on('wantTrailers', () => stream.sendTrailers(o.trailers!));
    if (hasBody) stream.end(o.body ?? '');
  });
}

/** Closes an HTTP/2 session and waits for it. */
export function closeSession(s: ClientHttp2Session): Promise<void> {
  return new Promise((resolve) => {
    if (s.closed || s.destroyed) resolve();
    else s.close(() => resolve());
  });
}

/** A self-signed certificate for `localhost` / 127.0.0.1, generated with openssl into `dir`. */
export function selfSignedCert(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return { certFile, keyFile };
}

/** GET on the admin port: status and body text. */
export async function adminGet(p: ProxyProcess, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(p.adminUrl(path));
  return { status: res.status, text: await res.text() };
}

/** The value of one Prometheus sample (`name{labels}`), or undefined. */
export function promValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (i > 0 && line.slice(0, i) === series) return Number(line.slice(i + 1));
  }
  return undefined;
}

/**
 * `wasmgate run` with command-line options only (no config file): resolves once it listens, with its
 * main and admin ports and a stop() that sends SIGTERM and waits for the exit.
 */
export async function runCli(
  args: string[],
  startTimeoutMs = 8000,
): Promise<{ main: number; admin: number; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WASMGATE_RUNTIME_DIR: tempDir('wasmgate-run-') },
  });
  children.add(child);
  // The access log goes to stdout: read it, or the pipe fills and the proxy blocks writing to it.
  child.stdout.resume();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  /** SIGTERM, then SIGKILL if it has not exited after 8 s; its exit code (null when killed). */
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    }
    children.delete(child);
    return child.exitCode;
  };
  try {
    const ports = await new Promise<{ main: number; admin: number }>((resolve, reject) => {
      let err = '';
      const t = setTimeout(
        () => reject(new Error(`wasmgate run did not listen within ${startTimeoutMs} ms: ${err}`)),
        startTimeoutMs,
      );
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        const m = /wasmgate listening: main=:(\d+) admin=:(\d+)/.exec(err);
        if (m) {
          clearTimeout(t);
          resolve({ main: Number(m[1]), admin: Number(m[2]) });
        }
      });
      child.on('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`wasmgate run exited ${code}: ${err}`));
      });
    });
    return { ...ports, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

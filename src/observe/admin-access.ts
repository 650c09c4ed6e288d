// Who may use the admin API. It can inject a filter into every listener, so: it listens on loopback unless
// given an address of its own; every request that changes something carries the bearer token; and a Host
// header naming a host it does not know is refused, so that a web page cannot reach it by rebinding a DNS
// name to 127.0.0.1 (a browser sends that name as Host; it cannot send the token, which is no cookie).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface AdminAccess {
  /** The bearer token every request but GET and HEAD must carry. */
  token: string;
  /** Host header names accepted besides localhost and IP addresses (lower case, no port). */
  allowedHosts: readonly string[];
}

/** A refused request: its status, headers and the reason for the body. */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  error: string;
}

/**
 * Where a generated token is written, one file per admin port: $WASMGATE_RUNTIME_DIR, else
 * $XDG_RUNTIME_DIR/wasmgate, else $XDG_STATE_HOME/wasmgate (~/.local/state/wasmgate).
 */
export function defaultAdminTokenFile(port: number, env: NodeJS.ProcessEnv = process.env): string {
  const dir =
    env.WASMGATE_RUNTIME_DIR ||
    join(env.XDG_RUNTIME_DIR || env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'wasmgate');
  return join(dir, `admin-${port}.token`);
}

export function generateAdminToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Writes `token` readable by its owner only (0600, its directory 0700 when created), replacing any old one. */
export function writeTokenFile(path: string, token: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
    renameSync(tmp, path);
  } catch (e) {
    throw new Error(
      `cannot write the admin token file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message} (set admin.tokenFile, or admin.token)`,
    );
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

/** Why `req` may not reach the admin API, or undefined when it may. */
export function accessRefusal(req: IncomingMessage, access: AdminAccess): Refusal | undefined {
  const host = req.headers.host;
  if (host !== undefined && !knownHost(host, access.allowedHosts)) {
    return {
      status: 403,
      headers: {},
      error: `unexpected Host header "${host}": the admin API answers to localhost, IP addresses and admin.allowedHosts`,
    };
  }
  if (SAFE_METHODS.has(req.method ?? '')) return undefined;
  const auth = req.headers.authorization;
  const m = auth === undefined ? undefined : /^Bearer +(\S+) *$/i.exec(auth);
  if (!m) {
    return {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="wasmgate admin"' },
      error: `${req.method} needs the admin token: Authorization: Bearer <token> (docs/security.md)`,
    };
  }
  if (!sameToken(m[1], access.token)) {
    return {
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="wasmgate admin", error="invalid_token"' },
      error: 'the admin token is not valid',
    };
  }
  return undefined;
}

/** Compared in constant time (as digests, so that lengths do not show either). */
function sameToken(given: string, token: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(token));
}

function knownHost(header: string, allowed: readonly string[]): boolean {
  const name = hostName(header).toLowerCase();
  return name === 'localhost' || isIP(name) !== 0 || allowed.includes(name);
}

/** The host of a Host header value: "[::1]:9901" → "::1", "a.example:80" → "a.example". */
function hostName(header: string): string {
  if (header.startsWith('[')) {
    const end = header.indexOf(']');
    return end === -1 ? header : header.slice(1, end);
  }
  const colon = header.lastIndexOf(':');
  return (colon === -1 ? header : header.slice(0, colon)).replace(/\.$/, '');
}

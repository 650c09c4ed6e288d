// A client of the hub's /api/v1 for the command line: the hub's URL from a registry host (http on
// loopback, https elsewhere) or given whole, credentials from `wasmgate login` (the same store the
// registry client reads), and the hub's error bodies turned into OciErrors so exit codes follow kinds.

import { request } from 'undici';
import type { CredentialStore } from '../oci/auth.js';
import { OciError, type OciErrorKind } from '../oci/errors.js';
import { isLoopbackHost } from '../oci/reference.js';

/** The hub's base URL: an http(s) URL as given, or a host[:port] (http when loopback). */
export function hubUrl(hub: string): string {
  if (/^https?:\/\//.test(hub)) return hub.replace(/\/$/, '');
  const host = hub.startsWith('[') ? hub.slice(1, hub.indexOf(']')) : hub.replace(/:\d+$/, '');
  return `${isLoopbackHost(host) ? 'http' : 'https'}://${hub}`;
}

function kindOf(status: number): OciErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 400 || status === 409) return 'usage';
  return 'registry';
}

export class HubClient {
  constructor(
    readonly base: string,
    private readonly authorization?: string,
  ) {}

  /**
   * For the hub at `hub`, signed in with what `wasmgate login <host>` stored (if anything), else with what
   * was stored for `registry` (a registry behind the hub takes the same accounts).
   */
  static async connect(hub: string, credentials: CredentialStore, registry?: string): Promise<HubClient> {
    const base = hubUrl(hub);
    const creds =
      (await credentials.get(new URL(base).host)) ?? (registry ? await credentials.get(registry) : undefined);
    const auth =
      creds?.username !== undefined && creds.password !== undefined
        ? `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`
        : undefined;
    return new HubClient(base, auth);
  }

  async call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
  ): Promise<T> {
    const url = `${this.base}/api/v1${path}`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      res = await request(url, {
        method,
        headers: {
          ...(this.authorization ? { authorization: this.authorization } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new OciError('unreachable', `${url}: ${(e as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let message = text.slice(0, 200);
      try {
        message = (JSON.parse(text) as { errors: Array<{ message: string }> }).errors[0].message;
      } catch {
        // not the hub's error body: keep the text
      }
      if (res.statusCode === 404 && !text.includes('"errors"'))
        message = `${this.base} does not serve the hub API (is it a wasmgate hub?)`;
      throw new OciError(kindOf(res.statusCode), `${method} ${path}: ${message}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

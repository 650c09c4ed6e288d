// Registry credentials: wasmgate's own auth file (written by `wasmgate login`, in Docker's config.json
// format so skopeo --authfile and DOCKER_CONFIG can read it too), then Docker's config.json: `auths`
// entries (`auth`, `username`/`password`, `identitytoken`), `credHelpers` and `credsStore` (run as
// docker-credential-<name> get, the protocol Docker uses).

import { spawn } from 'node:child_process';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { OciError } from './errors.js';
import { DOCKER_HUB } from './reference.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (Docker's identitytoken): exchanged at the token realm. */
  identityToken?: string;
  /** A bearer token to send as is. */
  registryToken?: string;
  /** Where the credentials came from, for messages. */
  source: string;
}

interface DockerConfig {
  auths?: Record<
    string,
    { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }
  >;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

const DOCKER_HUB_KEYS = [
  'https://index.docker.io/v1/',
  'index.docker.io',
  'docker.io',
  'registry-1.docker.io',
];

/** The key a registry is stored under: Docker Hub keeps its legacy URL, others their host[:port]. */
export function authKey(registry: string): string {
  return registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
}

/** host[:port] of a config key, which may be a URL such as https://host/v1/. */
function normalizeKey(key: string): string {
  const k = key.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  return DOCKER_HUB_KEYS.map((x) => x.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '')).includes(k)
    ? DOCKER_HUB
    : k;
}

export function defaultAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.WASMGATE_AUTH_FILE) return env.WASMGATE_AUTH_FILE;
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'wasmgate', 'auth.json');
}

export function defaultDockerConfig(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json');
}

async function readConfig(path: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OciError('auth', `cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (e) {
    throw new OciError('auth', `${path} is not valid JSON: ${(e as Error).message}`);
  }
}

function fromEntry(
  entry: NonNullable<DockerConfig['auths']>[string],
  source: string,
): Credentials | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken, username: entry.username, source };
  if (entry.registrytoken) return { registryToken: entry.registrytoken, source };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OciError('auth', `${source}: the "auth" entry is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source };
  }
  if (entry.username !== undefined && entry.password !== undefined)
    return { username: entry.username, password: entry.password, source };
  return undefined;
}

/** Runs docker-credential-<helper> get, as Docker does. */
export async function runCredentialHelper(
  helper: string,
  registry: string,
): Promise<Credentials | undefined> {
  const exe = `docker-credential-${helper}`;
  const server = registry === DOCKER_HUB ? 'https://index.docker.io/v1/' : registry;
  return new Promise((resolve, reject) => {
    const child = spawn(exe, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(
        new OciError(
          'auth',
          e.code === 'ENOENT'
            ? `credential helper ${exe} (from the Docker config) is not on PATH`
            : `credential helper ${exe}: ${e.message}`,
        ),
      );
    });
    child.on('close', (code) => {
      if (code !== 0) {
        // Docker's helpers say "credentials not found in native keychain" when there is no entry.
        if (/not found/i.test(out + err)) resolve(undefined);
        else
          reject(
            new OciError('auth', `credential helper ${exe} failed: ${(out + err).trim() || `exit ${code}`}`),
          );
        return;
      }
      try {
        const v = JSON.parse(out) as { Username?: string; Secret?: string };
        if (v.Username === '<token>') resolve({ identityToken: v.Secret, source: exe });
        else resolve({ username: v.Username ?? '', password: v.Secret ?? '', source: exe });
      } catch {
        reject(new OciError('auth', `credential helper ${exe} printed something that is not JSON`));
      }
    });
    child.stdin.end(server);
  });
}

export interface CredentialStoreOptions {
  /** wasmgate's auth file (default $WASMGATE_AUTH_FILE or ~/.config/wasmgate/auth.json). */
  authFile?: string;
  /** Docker's config.json (default $DOCKER_CONFIG/config.json or ~/.docker/config.json); false: ignore it. */
  dockerConfig?: string | false;
}

export class CredentialStore {
  readonly authFile: string;
  readonly dockerConfig: string | false;

  constructor(options: CredentialStoreOptions = {}) {
    this.authFile = options.authFile ?? defaultAuthFile();
    this.dockerConfig = options.dockerConfig ?? defaultDockerConfig();
  }

  async get(registry: string): Promise<Credentials | undefined> {
    for (const path of [this.authFile, this.dockerConfig]) {
      if (!path) continue;
      const config = await readConfig(path);
      if (!config) continue;
      const helper = Object.entries(config.credHelpers ?? {}).find(
        ([k]) => normalizeKey(k) === registry,
      )?.[1];
      if (helper) return runCredentialHelper(helper, registry);
      const entry = Object.entries(config.auths ?? {}).find(([k]) => normalizeKey(k) === registry)?.[1];
      if (entry) {
        const c = fromEntry(entry, path);
        if (c) return c;
      }
      if (config.credsStore) {
        const c = await runCredentialHelper(config.credsStore, registry);
        if (c) return c;
      }
    }
    return undefined;
  }

  /** Stores user:password for the registry in the auth file (mode 0600). */
  async login(registry: string, username: string, password: string): Promise<void> {
    const config = (await readConfig(this.authFile)) ?? {};
    config.auths ??= {};
    for (const k of Object.keys(config.auths)) if (normalizeKey(k) === registry) delete config.auths[k];
    config.auths[authKey(registry)] = { auth: Buffer.from(`${username}:${password}`).toString('base64') };
    await this.write(config);
  }

  /** Removes the registry's entry; false when there was none. */
  async logout(registry: string): Promise<boolean> {
    const config = await readConfig(this.authFile);
    if (!config?.auths) return false;
    let found = false;
    for (const k of Object.keys(config.auths))
      if (normalizeKey(k) === registry) {
        delete config.auths[k];
        found = true;
      }
    if (found) await this.write(config);
    return found;
  }

  private async write(config: DockerConfig): Promise<void> {
    await mkdir(dirname(this.authFile), { recursive: true, mode: 0o700 });
    const tmp = `${this.authFile}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.authFile);
  }
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses WWW-Authenticate: `Bearer realm="…",service="…",scope="a,b"` (quoted values may hold commas). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z][\w-]*)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?\s*/gy;
  const rest = m[2];
  re.lastIndex = 0;
  let p: RegExpExecArray | null = re.exec(rest);
  while (p) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
    if (re.lastIndex >= rest.length) break;
    p = re.exec(rest);
  }
  return { scheme: m[1].toLowerCase(), params };
}

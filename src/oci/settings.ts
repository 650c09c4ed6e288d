// The settings of fetching from registries and web servers — the overall deadline, the per-request
// timeout, a private CA, insecure hosts, the module size limit — from a command's flags, the configuration's
// `fetch` section and the environment, the first given winning; each has a default.

import { readFileSync } from 'node:fs';
import { OciError } from './errors.js';
import { maxModuleBytesFromEnv } from './limits.js';
import { insecureFromEnv } from './transport.js';

export interface FetchSettings {
  /** Overall deadline of one module fetch (the proxy) or one command (pull, push…), ms. */
  timeoutMs: number;
  /** Per request: until the response headers, and between body chunks, ms. */
  requestTimeoutMs: number;
  /** A PEM file of CA certificates trusted besides Node's own (a registry with a private CA). */
  caFile?: string;
  /** Hosts (host[:port], * for all) spoken to over plain HTTP or unverified TLS; loopback always is. */
  insecureRegistries?: string[];
  /** The module size limit, bytes. */
  maxModuleBytes: number;
}

export const DEFAULT_FETCH_TIMEOUT_MS = 60_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

function envMs(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new OciError('usage', `${name}: expected a positive number of milliseconds, got "${v}"`);
  return n;
}

/** The settings the environment gives (unset ones left out). */
export function fetchSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<FetchSettings> {
  const out: Partial<FetchSettings> = {};
  const timeoutMs = envMs(env, 'WASMGATE_FETCH_TIMEOUT_MS');
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  const requestTimeoutMs = envMs(env, 'WASMGATE_REQUEST_TIMEOUT_MS');
  if (requestTimeoutMs !== undefined) out.requestTimeoutMs = requestTimeoutMs;
  if (env.WASMGATE_REGISTRY_CA_FILE) out.caFile = env.WASMGATE_REGISTRY_CA_FILE;
  const insecure = insecureFromEnv(env);
  if (insecure) out.insecureRegistries = insecure;
  if (env.WASMGATE_MAX_MODULE_BYTES) out.maxModuleBytes = maxModuleBytesFromEnv(env);
  return out;
}

/** Flags, then configuration, then environment, then defaults: for each setting the first that gives it. */
export function resolveFetchSettings(
  layers: ReadonlyArray<Partial<FetchSettings> | undefined>,
  env: NodeJS.ProcessEnv = process.env,
): FetchSettings {
  const pick = <K extends keyof FetchSettings>(k: K): FetchSettings[K] | undefined => {
    for (const l of [...layers, fetchSettingsFromEnv(env)]) if (l?.[k] !== undefined) return l[k];
    return undefined;
  };
  return {
    timeoutMs: pick('timeoutMs') ?? DEFAULT_FETCH_TIMEOUT_MS,
    requestTimeoutMs: pick('requestTimeoutMs') ?? DEFAULT_REQUEST_TIMEOUT_MS,
    caFile: pick('caFile'),
    insecureRegistries: pick('insecureRegistries'),
    maxModuleBytes: pick('maxModuleBytes') ?? maxModuleBytesFromEnv({}),
  };
}

/** The CA file's certificates (PEM), or a usage error naming the file. */
export function readCaFile(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new OciError(
      'usage',
      `CA file ${path}: cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new OciError('usage', `CA file ${path}: no PEM certificate in it`);
  return pem;
}

// The fetch flags shared by `run` and the registry commands: the overall deadline, the per-request
// timeout and a private CA. Each overrides the configuration's `fetch` section and the environment.

import { InvalidArgumentError, Option } from 'commander';
import type { FetchSettings } from '../oci/settings.js';

export interface FetchFlags {
  fetchTimeout?: number;
  requestTimeout?: number;
  registryCa?: string;
}

function milliseconds(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new InvalidArgumentError('expected a positive number of milliseconds');
  return n;
}

/** --fetch-timeout: the overall deadline; `what` says what it bounds. */
export function fetchTimeoutOption(what: string): Option {
  return new Option(
    '--fetch-timeout <ms>',
    `give up ${what} after this long (default 60000; env WASMGATE_FETCH_TIMEOUT_MS)`,
  ).argParser(milliseconds);
}

export function requestTimeoutOption(): Option {
  return new Option(
    '--request-timeout <ms>',
    'per request: wait this long for an answer, and between body chunks (default 30000; env WASMGATE_REQUEST_TIMEOUT_MS)',
  ).argParser(milliseconds);
}

export function registryCaOption(): Option {
  return new Option(
    '--registry-ca <file>',
    'PEM file of CA certificates for registries with a private CA (env WASMGATE_REGISTRY_CA_FILE)',
  );
}

/** The settings the flags give (unset ones left out). */
export function fetchSettingsFromFlags(o: FetchFlags): Partial<FetchSettings> {
  const out: Partial<FetchSettings> = {};
  if (o.fetchTimeout !== undefined) out.timeoutMs = o.fetchTimeout;
  if (o.requestTimeout !== undefined) out.requestTimeoutMs = o.requestTimeout;
  if (o.registryCa !== undefined) out.caFile = o.registryCa;
  return out;
}

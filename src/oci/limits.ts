// The size limits of what is read from registries, downloads and disk.

import { OciError } from './errors.js';

/** The module size limit's default: 100 MiB. */
export const DEFAULT_MAX_MODULE_BYTES = 100 * 1024 * 1024;

/** The module size limit: $WASMGATE_MAX_MODULE_BYTES, else 100 MiB. */
export function maxModuleBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.WASMGATE_MAX_MODULE_BYTES;
  if (v === undefined || v === '') return DEFAULT_MAX_MODULE_BYTES;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0)
    throw new OciError('usage', `WASMGATE_MAX_MODULE_BYTES: expected a positive number of bytes, got "${v}"`);
  return n;
}

/** Manifests and indexes larger than this are refused (registries cap them at 4 MiB too). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

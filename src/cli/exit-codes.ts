// Exit codes of the wasmgate command line, one per kind of failure, so scripts can branch on them.

import { CommanderError } from 'commander';
import { ConfigError } from '../control/config-error.js';
import { ModuleFetchError } from '../control/module-source.js';
import { PluginLoadError } from '../control/plugin-loader.js';
import { OciError, type OciErrorKind } from '../oci/errors.js';

export const ExitCode = {
  ok: 0,
  /** Anything not listed below. */
  failure: 1,
  /** A bad command line, configuration, reference or project. */
  usage: 2,
  /** The image, tag or local entry does not exist. */
  notFound: 3,
  /** The registry refused the credentials, or wants some. */
  auth: 4,
  /** The registry (or download server) could not be reached. */
  unreachable: 5,
  /** A digest, size or sha256 pin did not match: the content was refused. */
  integrity: 6,
  /** The content is not a usable Wasm image or module (format, size limit, ABI). */
  invalid: 7,
} as const;

function fromKind(kind: OciErrorKind | 'io'): number {
  switch (kind) {
    case 'usage':
      return ExitCode.usage;
    case 'not-found':
      return ExitCode.notFound;
    case 'auth':
      return ExitCode.auth;
    case 'unreachable':
      return ExitCode.unreachable;
    case 'integrity':
      return ExitCode.integrity;
    case 'format':
    case 'too-large':
      return ExitCode.invalid;
    default:
      return ExitCode.failure;
  }
}

export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : ExitCode.usage;
  if (e instanceof ConfigError) return ExitCode.usage;
  // A command's own failure that says how to exit (wasmgate replay: 1 differs, 2 cannot replay).
  if (e instanceof Error && 'exitCode' in e && typeof e.exitCode === 'number') return e.exitCode;
  if (e instanceof OciError) return fromKind(e.kind);
  if (e instanceof ModuleFetchError) return fromKind(e.kind);
  if (e instanceof PluginLoadError && (e.cause instanceof ModuleFetchError || e.cause instanceof OciError))
    return fromKind(e.cause.kind);
  return ExitCode.failure;
}

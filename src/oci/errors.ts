// Errors of the OCI layer, each with a kind a caller (and the CLI's exit code) can rely on.

export type OciErrorKind =
  /** A malformed reference, option or argument. */
  | 'usage'
  /** The image, tag, blob or local entry does not exist. */
  | 'not-found'
  /** The registry refused the credentials (or there were none and it wants some). */
  | 'auth'
  /** The registry could not be reached, or kept answering 5xx after the retries. */
  | 'unreachable'
  /** A digest or size did not match, or content was truncated. */
  | 'integrity'
  /** The content is not an image this code can read (wrong media types, no plugin.wasm, …). */
  | 'format'
  /** The content is larger than the configured limit. */
  | 'too-large'
  /** Anything else the registry answered that we cannot act on. */
  | 'registry'
  /** The address a host resolved to (at connect time), or a redirect's, is in a denied network. */
  | 'denied-network';

export class OciError extends Error {
  constructor(
    readonly kind: OciErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OciError';
  }
}

export function isOciError(e: unknown, kind?: OciErrorKind): e is OciError {
  return e instanceof OciError && (kind === undefined || e.kind === kind);
}

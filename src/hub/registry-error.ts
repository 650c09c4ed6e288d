// The distribution API's errors: an HTTP status and an OCI error code, sent as the spec's JSON body
// {"errors":[{"code","message","detail"}]} so every registry client can show what went wrong.

export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  // The /api/v1 answers: a bad field, a missing or an existing account, token or membership.
  | 'INVALID'
  | 'NOT_FOUND'
  | 'CONFLICT';

const STATUS: Record<RegistryErrorCode, number> = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 415,
  TOOMANYREQUESTS: 429,
  // Not a spec code: distribution answers a chunk out of order with 416 and BLOB_UPLOAD_INVALID.
  RANGE_INVALID: 416,
  INVALID: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
};

export class RegistryError extends Error {
  readonly status: number;
  constructor(
    readonly code: RegistryErrorCode,
    message: string,
    readonly detail?: unknown,
    /** Headers the answer needs (WWW-Authenticate, Range of an upload). */
    readonly headers: Record<string, string> = {},
    status?: number,
  ) {
    super(message);
    this.name = 'RegistryError';
    this.status = status ?? STATUS[code];
  }

  body(): string {
    const code = this.code === 'RANGE_INVALID' ? 'BLOB_UPLOAD_INVALID' : this.code;
    const e: Record<string, unknown> = { code, message: this.message };
    if (this.detail !== undefined) e.detail = this.detail;
    return JSON.stringify({ errors: [e] });
  }
}

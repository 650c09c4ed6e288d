// A page that cannot be shown: its status and a message for the visitor (and, for 401, where to sign in).
// The API's RegistryErrors become one of these on the pages (webError).

import { RegistryError } from '../registry-error.js';

export class WebError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 429 | 500,
    message: string,
    /** Where the visitor should go instead (sign in). */
    readonly location?: string,
  ) {
    super(message);
  }
}

const STATUSES: ReadonlyArray<WebError['status']> = [400, 401, 403, 404, 409, 429];

export function webError(e: unknown): WebError | undefined {
  if (e instanceof WebError) return e;
  if (e instanceof RegistryError) return new WebError(STATUSES.find((s) => s === e.status) ?? 400, e.message);
  return undefined;
}

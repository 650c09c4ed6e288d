// Repository names, tags and digests as the distribution spec allows them in a URL path.

import { isDigest } from '../oci/digest.js';
import { RegistryError } from './registry-error.js';

const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** As the distribution registry: a longer name cannot be pushed. */
export const MAX_NAME_LENGTH = 255;

export function checkRepositoryName(name: string): string {
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name))
    throw new RegistryError(
      'NAME_INVALID',
      `invalid repository name "${name}": lowercase letters and digits, separated by . _ __ - and /, at most ${MAX_NAME_LENGTH} characters`,
    );
  return name;
}

export function checkDigest(digest: string): string {
  if (!isDigest(digest))
    throw new RegistryError(
      'DIGEST_INVALID',
      `invalid digest "${digest}": only sha256:<64 lowercase hex digits>`,
    );
  return digest;
}

export function isTag(ref: string): boolean {
  return TAG.test(ref);
}

/** A manifest reference: a digest or a tag. */
export function checkReference(ref: string): { digest?: string; tag?: string } {
  if (ref.includes(':')) return { digest: checkDigest(ref) };
  if (!isTag(ref))
    throw new RegistryError(
      'MANIFEST_INVALID',
      `invalid tag "${ref}": letters, digits, _ . - (not first), at most 128 characters`,
    );
  return { tag: ref };
}

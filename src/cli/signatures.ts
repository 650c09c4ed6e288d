// What `wasmgate inspect` shows of an image's signatures: each one found in the registry, who signed it (the
// trusted key it verifies with, or the key hint a bundle names) and whether it verifies.

import type { ImageReference } from '../oci/reference.js';
import type { RegistryClient } from '../oci/registry.js';
import { findImageSignatures } from '../trust/image-signatures.js';
import { loadPublicKey } from '../trust/key-files.js';

export interface SignatureView {
  source: string;
  verified: boolean;
  /** The key it verified with (sha256 of its PKIX DER). */
  keyId?: string;
  /** The key a Sigstore bundle says signed it (unverified unless keyId is set). */
  hint?: string;
  problem?: string;
}

export async function describeSignatures(
  client: RegistryClient,
  ref: ImageReference,
  digest: string,
  keyFiles: readonly string[],
): Promise<SignatureView[]> {
  const keys = keyFiles.map((k) => loadPublicKey(k));
  const found = await findImageSignatures(client, ref, digest, keys);
  return found.map((f) => ({
    source: f.source,
    verified: f.keyId !== undefined,
    ...(f.keyId ? { keyId: f.keyId } : {}),
    ...(f.hint ? { hint: f.hint } : {}),
    ...(f.problem ? { problem: keys.length === 0 ? 'not checked: give --key to verify' : f.problem } : {}),
  }));
}

// Verifying a Sigstore bundle signed by a key, with @sigstore/verify: the bundle is validated against the
// bundle schema, its signature checked over the DSSE envelope (or message). Keys carry no transparency-log
// entry or timestamp here (signing offline, as `cosign sign --tlog-upload=false`), so none is required.

import type { KeyObject } from 'node:crypto';
import { bundleFromJSON, isBundleWithDsseEnvelope } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { TrustError } from './errors.js';
import { keyId } from './keys.js';

// toTrustMaterial wants a trusted root; key verification uses none of its authorities.
const NO_AUTHORITIES = {
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
} as unknown as Parameters<typeof toTrustMaterial>[0];

export interface VerifiedBundle {
  keyId: string;
  payloadType: string;
  /** The DSSE payload, verified. */
  payload: Buffer;
}

/** Verifies a DSSE bundle against trusted keys; throws a TrustError saying why it does not verify. */
export function verifyDsseBundle(json: unknown, keys: readonly KeyObject[]): VerifiedBundle {
  let bundle: ReturnType<typeof bundleFromJSON>;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    throw new TrustError('integrity', `the Sigstore bundle is malformed: ${(e as Error).message}`);
  }
  if (!isBundleWithDsseEnvelope(bundle))
    throw new TrustError('integrity', 'the Sigstore bundle holds no DSSE envelope');
  if (bundle.verificationMaterial.content.$case !== 'publicKey')
    throw new TrustError(
      'integrity',
      'the Sigstore bundle is keyless (a Fulcio certificate): keyless verification is not supported; sign with a key',
    );
  const entity = toSignedEntity(bundle);
  for (const key of keys) {
    const material = toTrustMaterial(NO_AUTHORITIES, () => ({ publicKey: key, validFor: () => true }));
    const verifier = new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    try {
      verifier.verify(entity);
    } catch {
      continue;
    }
    const env = bundle.content.dsseEnvelope;
    return { keyId: keyId(key), payloadType: env.payloadType, payload: Buffer.from(env.payload) };
  }
  throw new TrustError('integrity', 'the bundle signature does not verify with any trusted key');
}

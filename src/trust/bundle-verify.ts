// Verifying a Sigstore bundle with @sigstore/verify: the bundle is validated against the bundle schema, its
// signature checked over the DSSE envelope. Signed by a key: no transparency-log entry or timestamp is required
// (signing offline, as `cosign sign --tlog-upload=false`). Keyless (a Fulcio certificate): only with a trusted
// root and identities (keyless.ts), and then the log entry, the certificate chain and the identity must hold.

import type { KeyObject } from 'node:crypto';
import { bundleFromJSON, isBundleWithDsseEnvelope } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { TrustError } from './errors.js';
import type { KeylessTrust } from './keyless.js';
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
  /** The key's id, or for a keyless signature its identity: "<subject> (<issuer>)". */
  keyId: string;
  payloadType: string;
  /** The DSSE payload, verified. */
  payload: Buffer;
}

/** Verifies a DSSE bundle against trusted keys; throws a TrustError saying why it does not verify. */
export function verifyDsseBundle(
  json: unknown,
  keys: readonly KeyObject[],
  keyless?: KeylessTrust,
): VerifiedBundle {
  let bundle: ReturnType<typeof bundleFromJSON>;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    throw new TrustError('integrity', `the Sigstore bundle is malformed: ${(e as Error).message}`);
  }
  if (!isBundleWithDsseEnvelope(bundle))
    throw new TrustError('integrity', 'the Sigstore bundle holds no DSSE envelope');
  const isKeyless = bundle.verificationMaterial.content.$case !== 'publicKey';
  if (isKeyless && !keyless)
    throw new TrustError(
      'integrity',
      'the Sigstore bundle is keyless (a Fulcio certificate) and no trusted root is configured for keyless signatures',
    );
  let entity: ReturnType<typeof toSignedEntity>;
  try {
    entity = toSignedEntity(bundle);
  } catch (e) {
    throw new TrustError('integrity', `the Sigstore bundle is malformed: ${(e as Error).message}`);
  }
  const env = bundle.content.dsseEnvelope;
  const verified = (signer: string) => ({
    keyId: signer,
    payloadType: env.payloadType,
    payload: Buffer.from(env.payload),
  });
  if (keyless && isKeyless) return verified(verifyKeyless(entity, keyless));
  // A key signature's transparency-log entries and timestamps (cosign 3 uploads to Rekor by default) are
  // checked against the trusted root when there is one; without one they cannot be, and are set aside, as
  // `cosign verify --insecure-ignore-tlog` does.
  const keyEntity = keyless
    ? entity
    : toSignedEntity({
        ...bundle,
        verificationMaterial: {
          ...bundle.verificationMaterial,
          tlogEntries: [],
          timestampVerificationData: undefined,
        },
      });
  let problem = 'the bundle signature does not verify with any trusted key';
  for (const key of keys) {
    const publicKey = () => ({ publicKey: key, validFor: () => true });
    const material = keyless
      ? { ...keyless.material, publicKey }
      : toTrustMaterial(NO_AUTHORITIES, publicKey);
    const verifier = new Verifier(material, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    try {
      verifier.verify(keyEntity);
    } catch (e) {
      // A signature by the key whose log entry does not verify says so; a signature by another key does not.
      if ((e as { code?: string }).code !== 'SIGNATURE_ERROR')
        problem = `the bundle's transparency-log entry does not verify against the trusted root: ${(e as Error).message}`;
      continue;
    }
    return verified(keyId(key));
  }
  throw new TrustError('integrity', problem);
}

/** The identity ("<subject> (<issuer>)") of a keyless signature that verifies and is one of the trusted ones. */
function verifyKeyless(entity: ReturnType<typeof toSignedEntity>, keyless: KeylessTrust): string {
  const verifier = new Verifier(keyless.material, { ctlogThreshold: keyless.ctlogThreshold });
  let signer: ReturnType<Verifier['verify']>;
  try {
    signer = verifier.verify(entity);
  } catch (e) {
    const cause = (e as { cause?: Error }).cause?.message;
    throw new TrustError(
      'integrity',
      `the keyless signature does not verify against the trusted root: ${(e as Error).message}${cause ? ` (${cause})` : ''}`,
    );
  }
  const subject = signer.identity?.subjectAlternativeName ?? '';
  const issuer = signer.identity?.extensions?.issuer ?? '';
  if (!keyless.identities.some((i) => i.subject === subject && i.issuer === issuer))
    throw new TrustError(
      'integrity',
      `the keyless signature is by ${subject} (${issuer}), not a trusted identity (${keyless.identities.map((i) => `${i.subject} (${i.issuer})`).join(', ')})`,
    );
  return `${subject} (${issuer})`;
}

// What an image signature signs, in the two forms cosign writes (sigstore/cosign specs/SIGNATURE_SPEC.md and
// BUNDLE_SPEC.md):
// - the simple-signing payload of the `sha256-<hex>.sig` tag: JSON naming the manifest digest in
//   critical.image.docker-manifest-digest, signed as it is (ECDSA P-256, SHA-256, DER, base64 in the layer's
//   dev.cosignproject.cosign/signature annotation);
// - the Sigstore bundle of an OCI 1.1 referrer (cosign 3): a DSSE envelope around an in-toto statement whose
//   subject is the manifest digest and whose predicate type is https://sigstore.dev/cosign/sign/v1.

import type { KeyObject } from 'node:crypto';
import { TrustError } from './errors.js';
import { keyId, signData } from './keys.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const SIMPLE_SIGNING_TYPE = 'cosign container image signature';
export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT = 'https://in-toto.io/Statement/v1';

/** The simple-signing payload for an image (`dockerReference`: registry/repository). */
export function simpleSigningPayload(dockerReference: string, digest: string): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': dockerReference },
        image: { 'docker-manifest-digest': digest },
        type: SIMPLE_SIGNING_TYPE,
      },
      optional: null,
    }),
  );
}

function field(o: unknown, name: string): unknown {
  if (typeof o !== 'object' || o === null) return undefined;
  // Go's JSON decoding (cosign's) matches keys case-insensitively: "Docker-manifest-digest" is the same key.
  const k = Object.keys(o).find((x) => x.toLowerCase() === name);
  return k === undefined ? undefined : (o as Record<string, unknown>)[k];
}

/** The manifest digest a simple-signing payload names; throws when it is not one. */
export function simpleSigningDigest(payload: Uint8Array): string {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new TrustError('integrity', 'the simple-signing payload is not JSON');
  }
  const critical = field(v, 'critical');
  const type = field(critical, 'type');
  if (type !== SIMPLE_SIGNING_TYPE && type !== COSIGN_SIGN_PREDICATE)
    throw new TrustError('integrity', `the simple-signing payload has type ${JSON.stringify(type)}`);
  const digest = field(field(critical, 'image'), 'docker-manifest-digest');
  if (typeof digest !== 'string')
    throw new TrustError(
      'integrity',
      'the simple-signing payload names no critical.image.docker-manifest-digest',
    );
  return digest;
}

/** DSSE's pre-authentication encoding: what a DSSE signature signs. */
export function pae(payloadType: string, payload: Uint8Array): Buffer {
  const type = Buffer.from(payloadType);
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

/** The in-toto statement cosign 3 signs for an image. */
export function signStatement(name: string, digest: string): Uint8Array {
  return Buffer.from(
    JSON.stringify({
      _type: IN_TOTO_STATEMENT,
      subject: [{ name, digest: { sha256: digest.replace(/^sha256:/, '') } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
  );
}

/** The sha256 digests an in-toto statement's subjects name ("sha256:<hex>"), after checking its type. */
export function statementDigests(payload: Uint8Array): string[] {
  let v: { _type?: unknown; predicateType?: unknown; subject?: unknown };
  try {
    v = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new TrustError('integrity', 'the DSSE payload is not JSON');
  }
  if (typeof v._type !== 'string' || !v._type.startsWith('https://in-toto.io/Statement/'))
    throw new TrustError(
      'integrity',
      `the DSSE payload is not an in-toto statement (_type ${JSON.stringify(v._type)})`,
    );
  if (v.predicateType !== COSIGN_SIGN_PREDICATE)
    throw new TrustError(
      'integrity',
      `the statement's predicate type is ${JSON.stringify(v.predicateType)}, not ${COSIGN_SIGN_PREDICATE}`,
    );
  if (!Array.isArray(v.subject)) throw new TrustError('integrity', 'the statement has no subject');
  return v.subject
    .map((s: { digest?: { sha256?: unknown } }) => s?.digest?.sha256)
    .filter((d): d is string => typeof d === 'string')
    .map((d) => `sha256:${d}`);
}

/** A Sigstore bundle (v0.3, JSON) holding a DSSE envelope signed by a key, with the key's id as hint. */
export function dsseBundle(key: KeyObject, payloadType: string, payload: Uint8Array): unknown {
  const sig = signData(key, pae(payloadType, payload));
  return {
    mediaType: BUNDLE_MEDIA_TYPE,
    verificationMaterial: {
      publicKey: { hint: keyId(key) },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: {
      payload: Buffer.from(payload).toString('base64'),
      payloadType,
      signatures: [{ sig: sig.toString('base64'), keyid: '' }],
    },
  };
}

// Image signatures in a registry, where cosign keeps them, written and checked for one manifest digest:
// - the `sha256-<hex>.sig` tag: an image whose layers are simple-signing payloads, each with its signature in
//   an annotation (new signatures are added as layers, as cosign does);
// - OCI 1.1 referrers: an artifact manifest (artifactType: the Sigstore bundle media type) whose subject is
//   the image and whose layer is the bundle; found through the referrers API, or, where the registry has
//   none (Docker's distribution 2.x), through the referrers tag scheme (an index at tag `sha256-<hex>`).
// Verification collects every signature from both places and accepts the image when one of them verifies
// with a trusted key and names this digest; otherwise the error lists what each candidate failed on.

import type { KeyObject } from 'node:crypto';
import { digestHex, digestOf } from '../oci/digest.js';
import { isOciError } from '../oci/errors.js';
import { type Descriptor, type ImageIndex, isIndex, jsonBytes, type Manifest } from '../oci/image.js';
import { MediaType } from '../oci/media-types.js';
import type { ImageReference } from '../oci/reference.js';
import type { RegistryClient } from '../oci/registry.js';
import { verifyDsseBundle } from './bundle-verify.js';
import { TrustError } from './errors.js';
import type { KeylessTrust } from './keyless.js';
import { keyId, signData, verifyData } from './keys.js';
import {
  BUNDLE_MEDIA_TYPE,
  COSIGN_SIGN_PREDICATE,
  dsseBundle,
  IN_TOTO_PAYLOAD_TYPE,
  SIGNATURE_ANNOTATION,
  SIMPLE_SIGNING_MEDIA_TYPE,
  signStatement,
  simpleSigningDigest,
  simpleSigningPayload,
  statementDigests,
} from './payloads.js';

/** Where cosign 2 puts a keyless signature's Fulcio certificate. */
const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', bytes: Buffer.from('{}') };
/** Signature payloads and bundles are small: a larger blob is refused before it is downloaded. */
const MAX_SIGNATURE_BLOB = 1024 * 1024;

type SubjectManifest = Manifest & { subject?: Descriptor };

/**
 * What finding signatures reads: a registry client, or a registry's own storage (the hub reads its
 * blobs and metadata directly rather than calling itself over HTTP).
 */
export type SignatureReader = Pick<RegistryClient, 'getManifest' | 'getBlob' | 'referrers'>;

/** The tag cosign stores signatures under. */
export function signatureTag(digest: string): string {
  return `sha256-${digestHex(digest)}.sig`;
}

/** The referrers tag scheme's tag for a digest. */
export function referrersTag(digest: string): string {
  return `sha256-${digestHex(digest)}`;
}

export interface FoundSignature {
  /** Where it was found: "tag sha256-….sig layer 0", "referrer sha256:…". */
  source: string;
  /** The key that verified it (keyId), when one did. */
  keyId?: string;
  /** Why it did not verify, when it did not. */
  problem?: string;
  /** The key hint a Sigstore bundle names (cosign and wasmgate: the key's id), whether it verified or not. */
  hint?: string;
}

async function getOptionalManifest(client: SignatureReader, ref: ImageReference) {
  try {
    return await client.getManifest(ref);
  } catch (e) {
    if (isOciError(e, 'not-found')) return undefined;
    throw e;
  }
}

function verifySimpleSigning(
  payload: Uint8Array,
  annotations: Record<string, string>,
  digest: string,
  keys: readonly KeyObject[],
): { keyId?: string; problem?: string } {
  const signatureB64 = annotations[SIGNATURE_ANNOTATION];
  if (!signatureB64) return { problem: `no ${SIGNATURE_ANNOTATION} annotation` };
  const sig = Buffer.from(signatureB64, 'base64');
  if (sig.length === 0 || sig.toString('base64') !== signatureB64.replace(/\s/g, ''))
    return { problem: 'the signature annotation is not base64 (malformed signature)' };
  const key = keys.find((k) => verifyData(k, payload, sig));
  if (!key)
    return {
      problem: annotations[CERTIFICATE_ANNOTATION]
        ? 'a keyless signature in the .sig tag (cosign 2, a Fulcio certificate): keyless signatures are verified only as Sigstore bundles (referrers, cosign 3)'
        : 'the signature does not verify with any trusted key',
    };
  try {
    const named = simpleSigningDigest(payload);
    if (named !== digest)
      return { problem: `signed by trusted key ${keyId(key).slice(0, 12)}, but for ${named}, not ${digest}` };
  } catch (e) {
    return { problem: (e as Error).message };
  }
  return { keyId: keyId(key) };
}

async function fromSignatureTag(
  client: SignatureReader,
  ref: ImageReference,
  digest: string,
  keys: readonly KeyObject[],
): Promise<FoundSignature[]> {
  const tag = signatureTag(digest);
  const m = await getOptionalManifest(client, ref.withTag(tag));
  if (!m) return [];
  if (isIndex(m.value, m.mediaType))
    return [{ source: `tag ${tag}`, problem: 'an index, not a signature image' }];
  const found: FoundSignature[] = [];
  for (const [i, layer] of m.value.layers.entries()) {
    const source = `tag ${tag} layer ${i}`;
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE) continue;
    const payload = await client.getBlob(ref, layer, MAX_SIGNATURE_BLOB);
    found.push({
      source,
      ...verifySimpleSigning(payload, layer.annotations ?? {}, digest, keys),
    });
  }
  return found;
}

async function referrerIndex(
  client: SignatureReader,
  ref: ImageReference,
  digest: string,
): Promise<ImageIndex> {
  const viaApi = await client.referrers(ref, digest);
  if (viaApi) return viaApi;
  const m = await getOptionalManifest(client, ref.withTag(referrersTag(digest)));
  if (m && isIndex(m.value, m.mediaType)) return m.value;
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
}

async function fromReferrers(
  client: SignatureReader,
  ref: ImageReference,
  digest: string,
  keys: readonly KeyObject[],
  keyless?: KeylessTrust,
): Promise<FoundSignature[]> {
  const index = await referrerIndex(client, ref, digest);
  const found: FoundSignature[] = [];
  for (const d of index.manifests) {
    if ((d as Descriptor & { artifactType?: string }).artifactType !== BUNDLE_MEDIA_TYPE) continue;
    const source = `referrer ${d.digest}`;
    const m = await client.getManifest(ref.withDigest(d.digest));
    if (isIndex(m.value, m.mediaType)) {
      found.push({ source, problem: 'an index, not a bundle manifest' });
      continue;
    }
    const manifest = m.value as SubjectManifest;
    if (manifest.subject?.digest !== digest) {
      found.push({
        source,
        problem: `its subject is ${manifest.subject?.digest ?? 'missing'}, not ${digest}`,
      });
      continue;
    }
    const layer = manifest.layers.find((l) => l.mediaType === BUNDLE_MEDIA_TYPE);
    if (!layer) {
      found.push({ source, problem: 'no bundle layer' });
      continue;
    }
    found.push({
      source,
      ...checkBundle(await client.getBlob(ref, layer, MAX_SIGNATURE_BLOB), digest, keys, keyless),
    });
  }
  return found;
}

function checkBundle(
  bytes: Uint8Array,
  digest: string,
  keys: readonly KeyObject[],
  keyless?: KeylessTrust,
): Omit<FoundSignature, 'source'> {
  let json: { verificationMaterial?: { publicKey?: { hint?: string } } };
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { problem: 'the bundle is not JSON (malformed signature)' };
  }
  const hint = json?.verificationMaterial?.publicKey?.hint || undefined;
  try {
    const v = verifyDsseBundle(json, keys, keyless);
    if (v.payloadType !== IN_TOTO_PAYLOAD_TYPE)
      return { hint, problem: `DSSE payload type ${v.payloadType}` };
    const named = statementDigests(v.payload);
    if (!named.includes(digest))
      return {
        hint,
        problem: `signed by trusted ${v.keyId.length === 64 ? `key ${v.keyId.slice(0, 12)}` : v.keyId}, but for ${named.join(', ') || 'no digest'}, not ${digest}`,
      };
    return { hint, keyId: v.keyId };
  } catch (e) {
    return { hint, problem: (e as Error).message };
  }
}

/** Every signature of the digest in the registry, each checked against the keys. */
export async function findImageSignatures(
  client: SignatureReader,
  ref: ImageReference,
  digest: string,
  keys: readonly KeyObject[],
  keyless?: KeylessTrust,
): Promise<FoundSignature[]> {
  return [
    ...(await fromSignatureTag(client, ref, digest, keys)),
    ...(await fromReferrers(client, ref, digest, keys, keyless)),
  ];
}

/** The signatures that verify; throws a TrustError listing every candidate's problem when none does. */
export async function verifyImage(
  client: SignatureReader,
  ref: ImageReference,
  digest: string,
  keys: readonly KeyObject[],
  keyless?: KeylessTrust,
): Promise<FoundSignature[]> {
  const found = await findImageSignatures(client, ref, digest, keys, keyless);
  const good = found.filter((f) => f.keyId);
  if (good.length > 0) return good;
  if (found.length === 0)
    throw new TrustError(
      'integrity',
      `${ref.name}@${digest} has no signature (looked at tag ${signatureTag(digest)} and its referrers)`,
    );
  throw new TrustError(
    'integrity',
    `${ref.name}@${digest}: no signature verifies with a trusted key: ${found.map((f) => `${f.source}: ${f.problem}`).join('; ')}`,
  );
}

/** Signs a digest both ways cosign stores signatures; returns the tag and the referrer manifest digest. */
export async function signImage(
  client: RegistryClient,
  ref: ImageReference,
  digest: string,
  key: KeyObject,
): Promise<{ tag: string; referrer: string }> {
  // The image must be there before signatures are stored for it.
  await client.getManifest(ref.withDigest(digest));
  // 1. The .sig tag: a layer added to the signatures already there.
  const payload = simpleSigningPayload(ref.name, digest);
  const tag = signatureTag(digest);
  const existing = await getOptionalManifest(client, ref.withTag(tag));
  const layers: Descriptor[] =
    existing && !isIndex(existing.value, existing.mediaType)
      ? existing.value.layers.filter((l) => l.mediaType === SIMPLE_SIGNING_MEDIA_TYPE)
      : [];
  const layer: Descriptor = {
    mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
    size: payload.length,
    digest: digestOf(payload),
    annotations: { [SIGNATURE_ANNOTATION]: signData(key, payload).toString('base64') },
  };
  if (
    !layers.some(
      (l) =>
        l.digest === layer.digest &&
        l.annotations?.[SIGNATURE_ANNOTATION] === layer.annotations?.[SIGNATURE_ANNOTATION],
    )
  )
    layers.push(layer);
  const config = jsonBytes({
    architecture: '',
    os: '',
    config: {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  });
  const sigManifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, size: config.length, digest: digestOf(config) },
    layers,
  };
  const blobs = new Map<string, Uint8Array>([
    [digestOf(config), config],
    [layer.digest, payload],
  ]);
  await client.push(ref.withTag(tag), {
    manifest: sigManifest,
    manifestBytes: jsonBytes(sigManifest),
    blobs,
  });
  // 2. The referrer: a Sigstore bundle whose subject is the image.
  const bundle = jsonBytes(dsseBundle(key, IN_TOTO_PAYLOAD_TYPE, signStatement(ref.name, digest)));
  return { tag, referrer: await attachBundle(client, ref, digest, bundle) };
}

/**
 * Attaches a Sigstore bundle (JSON bytes, a DSSE envelope signing the image) to an image as an OCI 1.1
 * referrer, as cosign 3 does; also listed in the referrers tag scheme's index where the registry has no
 * referrers API. Returns the referrer manifest's digest.
 */
export async function attachBundle(
  client: RegistryClient,
  ref: ImageReference,
  digest: string,
  bundle: Uint8Array,
): Promise<string> {
  const subject = await client.getManifest(ref.withDigest(digest));
  const bundleDigest = digestOf(bundle);
  const referrer: SubjectManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    artifactType: BUNDLE_MEDIA_TYPE,
    config: { mediaType: EMPTY_CONFIG.mediaType, size: 2, digest: digestOf(EMPTY_CONFIG.bytes) },
    layers: [
      {
        mediaType: BUNDLE_MEDIA_TYPE,
        size: bundle.length,
        digest: bundleDigest,
        annotations: { 'org.opencontainers.image.title': `sha256-${digestHex(bundleDigest)}.sigstore.json` },
      },
    ],
    annotations: {
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': COSIGN_SIGN_PREDICATE,
      'org.opencontainers.image.created': new Date().toISOString(),
    },
    subject: { mediaType: subject.mediaType || MediaType.ociManifest, digest, size: subject.bytes.length },
  };
  const referrerBytes = jsonBytes(referrer);
  const referrerDigest = digestOf(referrerBytes);
  await client.push(ref.withDigest(referrerDigest), {
    manifest: referrer,
    manifestBytes: referrerBytes,
    blobs: new Map<string, Uint8Array>([
      [referrer.config.digest, EMPTY_CONFIG.bytes],
      [bundleDigest, bundle],
    ]),
  });
  // A registry without the referrers API learns of the referrer from the tag scheme's index.
  if ((await client.referrers(ref, digest)) === undefined) {
    const indexRef = ref.withTag(referrersTag(digest));
    const current = await getOptionalManifest(client, indexRef);
    const manifests = current && isIndex(current.value, current.mediaType) ? current.value.manifests : [];
    const entry = {
      mediaType: MediaType.ociManifest,
      digest: referrerDigest,
      size: referrerBytes.length,
      artifactType: BUNDLE_MEDIA_TYPE,
      annotations: referrer.annotations,
    };
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [...manifests.filter((m) => m.digest !== referrerDigest), entry],
    };
    await client.putManifest(indexRef, jsonBytes(index), MediaType.ociIndex);
  }
  return referrerDigest;
}

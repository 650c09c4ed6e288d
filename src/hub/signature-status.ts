// Who signed an image the hub stores, and whether it verifies: the signatures beside it (cosign's `.sig`
// tag and Sigstore-bundle referrers, as src/trust finds them) checked against the signing keys its owner
// registered. A signature by a key the owner did not register is shown, unverified, with the key hint it
// carries; the hub never trusts a key just because an image names it.

import { ImageReference } from '../oci/reference.js';
import { findImageSignatures } from '../trust/image-signatures.js';
import { readPublicKey } from '../trust/keys.js';
import type { ImageSource } from './image-source.js';
import type { HubMetadata } from './metadata.js';
import { hubSignatureReader } from './signature-reader.js';

export interface SignatureView {
  /** Where it was found: "tag sha256-….sig layer 0", "referrer sha256:…". */
  source: string;
  verified: boolean;
  /** The owner's key it verified with. */
  keyId?: string;
  keyName?: string;
  /** The key a Sigstore bundle names (not proof of anything unless verified). */
  hint?: string;
  problem?: string;
}

export interface SignatureSummary {
  /** verified: one signature verifies with an owner's key; unverified: signatures, none verifies; unsigned. */
  status: 'verified' | 'unverified' | 'unsigned';
  /** Names of the owner's keys that signed it. */
  signedBy: string[];
}

/** cosign's own artifacts (`sha256-<hex>.sig`, `.att`, `.sbom`, and the referrers tag scheme's tags). */
export function isSignatureArtifactTag(tag: string): boolean {
  return /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/.test(tag);
}

export function summarize(views: readonly SignatureView[]): SignatureSummary {
  const good = views.filter((v) => v.verified);
  return {
    status: good.length > 0 ? 'verified' : views.length > 0 ? 'unverified' : 'unsigned',
    signedBy: [...new Set(good.map((v) => v.keyName ?? v.keyId ?? ''))],
  };
}

export class SignatureStatus {
  private readonly reader;

  constructor(
    private readonly meta: HubMetadata,
    images: ImageSource,
  ) {
    this.reader = hubSignatureReader(meta, images);
  }

  /** Every signature of `digest` in `repository`, checked against the keys of the repository's owner. */
  async check(repository: string, digest: string): Promise<SignatureView[]> {
    const owner = repository.split('/')[0];
    const registered = await this.meta.signingKeys.signingKeys(owner);
    const keys = registered.map((k) => ({ record: k, key: readPublicKey(k.pem, `key ${k.id}`) }));
    const found = await findImageSignatures(
      this.reader,
      new ImageReference('hub', repository),
      digest,
      keys.map((k) => k.key),
    );
    return found.map((f) => {
      const key = f.keyId ? keys.find((k) => k.record.id === f.keyId) : undefined;
      return {
        source: f.source,
        verified: f.keyId !== undefined,
        ...(f.keyId ? { keyId: f.keyId } : {}),
        ...(key ? { keyName: key.record.name } : {}),
        ...(f.hint ? { hint: f.hint } : {}),
        ...(f.problem
          ? {
              problem:
                keys.length === 0 ? `${f.problem} (${owner} has registered no signing key)` : f.problem,
            }
          : {}),
      };
    });
  }
}

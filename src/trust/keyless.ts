// Keyless signatures (Sigstore's Fulcio certificates and Rekor entries) verified offline: against a trusted
// root given as a file (trusted_root.json: the CAs, transparency logs, CT logs and timestamp authorities a
// verifier trusts) and the identities allowed to sign (the certificate's OIDC issuer and subject, matched
// exactly). The transparency-log entry is required (inclusion proof and promise, whose time the certificate
// must be valid at); certificate timestamps (SCTs) are required when the trusted root lists CT logs.

import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import { type TrustMaterial, toTrustMaterial } from '@sigstore/verify';
import { TrustError } from './errors.js';

export interface KeylessIdentity {
  /** The OIDC issuer the certificate names (Fulcio's issuer extension), e.g. https://token.actions.githubusercontent.com. */
  issuer: string;
  /** The certificate's subject alternative name: an email or URI. */
  subject: string;
}

export interface KeylessTrust {
  material: TrustMaterial;
  identities: readonly KeylessIdentity[];
  ctlogThreshold: number;
}

/** Reads a trusted root (trusted_root.json) for keyless verification of the given identities. */
export function loadKeylessTrust(
  trustedRoot: string,
  identities: readonly KeylessIdentity[],
  baseDir = process.cwd(),
): KeylessTrust {
  const file = isAbsolute(trustedRoot) ? trustedRoot : resolve(baseDir, trustedRoot);
  let root: TrustedRoot;
  try {
    root = TrustedRoot.fromJSON(JSON.parse(readFileSync(file, 'utf8')));
  } catch (e) {
    throw new TrustError('usage', `the trusted root ${trustedRoot}: ${(e as Error).message}`);
  }
  if (identities.length === 0)
    throw new TrustError('usage', 'keyless verification needs at least one identity (issuer and subject)');
  return { material: toTrustMaterial(root), identities, ctlogThreshold: root.ctlogs.length > 0 ? 1 : 0 };
}

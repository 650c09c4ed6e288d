// The self-signed X.509 certificate of the hub's token key, for `--registry` mode: the distribution
// registry trusts the tokens whose `x5c` header carries a certificate from its `rootcertbundle`, so the hub
// writes that certificate (<data>/token-cert.pem) and puts it in every token it signs. Node's crypto reads
// certificates but cannot make them; the openssl command line makes it (the one system tool this mode
// needs), and Node checks that it belongs to the key before it is used.

import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { TokenSigner } from './jwt.js';

/** How long the certificate is valid; the hub makes a new one for the same key when under a year is left. */
const VALID_DAYS = 3650;
const RENEW_BEFORE_MS = 365 * 24 * 3600 * 1000;

export interface TokenCert {
  pem: string;
  /** The certificate in DER, base64: the token header's x5c. */
  x5c: string[];
}

async function readCert(file: string): Promise<X509Certificate | undefined> {
  try {
    return new X509Certificate(await readFile(file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(
      `${file}: not a PEM certificate (${(e as Error).message}); delete it to have a new one made`,
    );
  }
}

/** The certificate of the signer's key in certFile, made (or renewed) with openssl when needed. */
export async function ensureTokenCert(
  signer: TokenSigner,
  keyFile: string,
  certFile: string,
): Promise<TokenCert> {
  let cert = await readCert(certFile);
  if (!cert?.publicKey.equals(signer.publicKey) || Date.parse(cert.validTo) - Date.now() < RENEW_BEFORE_MS) {
    const tmp = `${certFile}.tmp`;
    try {
      await promisify(execFile)('openssl', [
        'req',
        '-x509',
        '-new',
        '-key',
        keyFile,
        '-sha256',
        '-days',
        String(VALID_DAYS),
        '-subj',
        `/CN=${signer.issuer}`,
        '-out',
        tmp,
      ]);
    } catch (e) {
      const err = e as NodeJS.ErrnoException & { stderr?: string };
      throw new Error(
        err.code === 'ENOENT'
          ? '--registry needs the openssl command to make the token certificate (install openssl, e.g. apt-get install openssl)'
          : `openssl could not make the token certificate ${certFile}: ${err.stderr?.trim() || err.message}`,
      );
    }
    await rename(tmp, certFile);
    cert = await readCert(certFile);
    if (!cert?.publicKey.equals(signer.publicKey))
      throw new Error(`${certFile}: openssl made a certificate for another key than ${keyFile}`);
  }
  return { pem: cert.toString(), x5c: [cert.raw.toString('base64')] };
}

// An offline Sigstore for tests, built from the protobuf-specs and Rekor formats: a Fulcio-like CA (openssl)
// issuing short-lived code-signing certificates with an email SAN and the OIDC issuer extension, and a
// Rekor-like log key that signs inclusion promises (SETs) and checkpoints for one-entry trees. It writes the
// trusted_root.json a verifier is given, and DSSE bundles (v0.3) signed with a fresh certificate.

import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pae } from '../../src/trust/payloads.js';

const LOG_URL = 'https://rekor.test';

function der(pemText: string): Buffer {
  return Buffer.from(pemText.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

/** JSON with sorted keys and no spaces (RFC 8785 for these values), as Rekor canonicalizes. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

export interface OfflineSigstore {
  dir: string;
  trustedRootPath: string;
  /** A DSSE bundle signed by a new certificate for `email` from `issuer` (valid now). */
  bundle(payloadType: string, payload: Uint8Array, email: string, issuer: string): unknown;
}

export function offlineSigstore(): OfflineSigstore {
  const dir = mkdtempSync(join(tmpdir(), 'wasmgate-sigstore-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
  ssl(
    'req',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/O=test/CN=fulcio-test',
    '-days',
    '2',
    '-out',
    'ca.pem',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  const caPem = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const log = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const logDer = log.publicKey.export({ format: 'der', type: 'spki' });
  const logId = createHash('sha256').update(logDer).digest();
  const start = new Date(Date.now() - 3600_000).toISOString();
  const root = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: LOG_URL,
        hashAlgorithm: 'SHA2_256',
        publicKey: {
          rawBytes: logDer.toString('base64'),
          keyDetails: 'PKIX_ECDSA_P256_SHA_256',
          validFor: { start },
        },
        logId: { keyId: logId.toString('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'test', commonName: 'fulcio-test' },
        uri: 'https://fulcio.test',
        certChain: { certificates: [{ rawBytes: der(caPem).toString('base64') }] },
        validFor: { start },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [],
  };
  const trustedRootPath = join(dir, 'trusted_root.json');
  writeFileSync(trustedRootPath, JSON.stringify(root));
  let serial = 1;

  function leafCertificate(key: KeyObject, email: string, issuer: string): string {
    const n = serial++;
    writeFileSync(join(dir, `leaf${n}.pub`), key.export({ format: 'pem', type: 'spki' }));
    writeFileSync(
      join(dir, `leaf${n}.ext`),
      [
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=codeSigning',
        `subjectAltName=critical,email:${email}`,
        `1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${issuer}`,
      ].join('\n'),
    );
    // A CSR-less certificate for a given public key: openssl x509 -new with -force_pubkey.
    ssl(
      'x509',
      '-new',
      '-subj',
      '/',
      '-force_pubkey',
      `leaf${n}.pub`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-days',
      '1',
      '-set_serial',
      String(n),
      '-extfile',
      `leaf${n}.ext`,
      '-out',
      `leaf${n}.pem`,
    );
    return readFileSync(join(dir, `leaf${n}.pem`), 'utf8');
  }

  return {
    dir,
    trustedRootPath,
    bundle(payloadType, payload, email, issuer) {
      const ephemeral = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const cert = leafCertificate(ephemeral.publicKey, email, issuer);
      const sig = sign('sha256', pae(payloadType, payload), ephemeral.privateKey);
      const body = Buffer.from(
        canonical({
          apiVersion: '0.0.1',
          kind: 'dsse',
          spec: {
            envelopeHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
            payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
            signatures: [
              { signature: sig.toString('base64'), verifier: Buffer.from(cert).toString('base64') },
            ],
          },
        }),
      );
      // Just after the certificates were issued (openssl starts their validity now).
      const integratedTime = Math.ceil(Date.now() / 1000) + 1;
      const set = sign(
        'sha256',
        Buffer.from(
          canonical({
            body: body.toString('base64'),
            integratedTime,
            logIndex: 0,
            logID: logId.toString('hex'),
          }),
        ),
        log.privateKey,
      );
      // A one-entry tree: the root is the leaf hash; the checkpoint is a signed note naming it.
      const rootHash = createHash('sha256')
        .update(Buffer.concat([Buffer.from([0]), body]))
        .digest();
      const note = `rekor.test - 1\n1\n${rootHash.toString('base64')}\n`;
      const noteSig = Buffer.concat([
        logId.subarray(0, 4),
        sign('sha256', Buffer.from(note), log.privateKey),
      ]);
      return {
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: {
          certificate: { rawBytes: der(cert).toString('base64') },
          tlogEntries: [
            {
              logIndex: '0',
              logId: { keyId: logId.toString('base64') },
              kindVersion: { kind: 'dsse', version: '0.0.1' },
              integratedTime: String(integratedTime),
              inclusionPromise: { signedEntryTimestamp: set.toString('base64') },
              inclusionProof: {
                logIndex: '0',
                rootHash: rootHash.toString('base64'),
                treeSize: '1',
                hashes: [],
                checkpoint: { envelope: `${note}\n\u2014 rekor.test ${noteSig.toString('base64')}\n` },
              },
              canonicalizedBody: body.toString('base64'),
            },
          ],
        },
        dsseEnvelope: {
          payload: Buffer.from(payload).toString('base64'),
          payloadType,
          signatures: [{ sig: sig.toString('base64'), keyid: '' }],
        },
      };
    },
  };
}

// The signature commands: key generate, sign and verify — images in a registry (as cosign signs them) or
// modules with an embedded signature section. Results go to stdout, messages to stderr; a signature that
// does not verify exits with the integrity code (exit-codes.ts).

import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ImageReference } from '../oci/reference.js';
import { TrustError } from '../trust/errors.js';
import { signImage, verifyImage } from '../trust/image-signatures.js';
import { loadPublicKey } from '../trust/key-files.js';
import { type KeylessTrust, loadKeylessTrust } from '../trust/keyless.js';
import { keyId } from '../trust/keys.js';
import { generateKeyPair, keyPassword, loadPrivateKey } from '../trust/private-keys.js';
import { signModule, verifyModule } from '../trust/wasm-signature.js';
import { client, say } from './images.js';

/** A module file (a path that exists, or file://), rather than an image reference. */
function moduleFile(target: string): string | undefined {
  const path = target.startsWith('file://') ? new URL(target).pathname : target;
  return statSync(path, { throwIfNoEntry: false })?.isFile() ? path : undefined;
}

interface VerifyOptions {
  key?: string[];
  trustedRoot?: string;
  certificateIdentity?: string;
  certificateOidcIssuer?: string;
  insecure?: boolean;
}

function keylessFrom(o: VerifyOptions): KeylessTrust | undefined {
  const given = [o.trustedRoot, o.certificateIdentity, o.certificateOidcIssuer].filter(
    (v) => v !== undefined,
  );
  if (given.length === 0) return undefined;
  if (!o.trustedRoot || !o.certificateIdentity || !o.certificateOidcIssuer)
    throw new TrustError(
      'usage',
      'keyless verification needs --trusted-root, --certificate-identity and --certificate-oidc-issuer together',
    );
  return loadKeylessTrust(o.trustedRoot, [
    { subject: o.certificateIdentity, issuer: o.certificateOidcIssuer },
  ]);
}

export function registerTrustCommands(program: Command): void {
  const key = program.command('key').description('signing keys (ECDSA P-256, in cosign’s format)');
  key
    .command('generate')
    .description('create <prefix>.key (encrypted with $WASMGATE_PASSWORD or a prompt) and <prefix>.pub')
    .option('--output-key-prefix <prefix>', 'file name prefix', 'wasmgate')
    .option('-f, --force', 'overwrite existing files')
    .action(async (o: { outputKeyPrefix: string; force?: boolean }) => {
      const files = [`${o.outputKeyPrefix}.key`, `${o.outputKeyPrefix}.pub`];
      for (const f of files)
        if (existsSync(f) && !o.force)
          throw new TrustError('usage', `${f} exists (use --force to overwrite it)`);
      let password = await keyPassword('Enter password for private key: ');
      if (process.env.WASMGATE_PASSWORD === undefined && process.env.COSIGN_PASSWORD === undefined) {
        const again = await keyPassword('Enter password for private key again: ');
        if (again !== password) throw new TrustError('usage', 'the passwords do not match');
        password = again;
      }
      const pair = generateKeyPair(password);
      writeFileSync(files[0], pair.privatePem, { mode: 0o600 });
      writeFileSync(files[1], pair.publicPem);
      say(`Private key written to ${files[0]}`);
      say(`Public key written to ${files[1]}`);
    });

  program
    .command('sign')
    .description('sign an image in its registry (as cosign does), or with --embed a module file')
    .argument('<target>', 'registry/repository:tag (or @sha256:…), or with --embed a .wasm file')
    .requiredOption('--key <file>', 'the private key (cosign or wasmgate format)')
    .option('--embed', 'add a signature section to the module file (WebAssembly tool-conventions, wasmsign2)')
    .option('-o, --output <file>', 'with --embed: write the signed module here instead of in place')
    .option('--insecure', 'allow plain HTTP and unverified TLS for this registry')
    .action(
      async (target: string, o: { key: string; embed?: boolean; output?: string; insecure?: boolean }) => {
        const privateKey = await loadPrivateKey(o.key);
        if (o.embed) {
          const file = moduleFile(target);
          if (!file) throw new TrustError('not-found', `${target}: no such module file`);
          const signed = signModule(new Uint8Array(readFileSync(file)), privateKey);
          writeFileSync(o.output ?? file, signed);
          say(`signed ${o.output ?? file} with key ${keyId(privateKey).slice(0, 12)}`);
          return;
        }
        const ref = ImageReference.parse(target);
        const c = client(o);
        try {
          const digest = (await c.getManifest(ref)).digest;
          const r = await signImage(c, ref, digest, privateKey);
          say(
            `signed ${ref.name}@${digest} with key ${keyId(privateKey).slice(0, 12)}: tag ${r.tag}, referrer ${r.referrer}`,
          );
          process.stdout.write(`${digest}\n`);
        } finally {
          await c.close();
        }
      },
    );

  program
    .command('verify')
    .description(
      'verify the signatures of an image (or a module file’s embedded one); exit 0 only when one verifies',
    )
    .argument('<target>', 'registry/repository:tag (or @sha256:…), or a .wasm file')
    .option('--key <file...>', 'trusted public keys (PEM)')
    .option('--trusted-root <file>', 'keyless: the Sigstore trusted root (trusted_root.json)')
    .option('--certificate-identity <subject>', 'keyless: the signer (email or URI) to accept')
    .option('--certificate-oidc-issuer <url>', 'keyless: the OIDC issuer of that identity')
    .option('--insecure', 'allow plain HTTP and unverified TLS for this registry')
    .action(async (target: string, o: VerifyOptions) => {
      const keys = (o.key ?? []).map((k) => loadPublicKey(k));
      const keyless = keylessFrom(o);
      if (keys.length === 0 && !keyless)
        throw new TrustError(
          'usage',
          'give --key, or --trusted-root with --certificate-identity and --certificate-oidc-issuer',
        );
      const file = moduleFile(target);
      if (file) {
        const v = verifyModule(new Uint8Array(readFileSync(file)), keys);
        process.stdout.write(
          `${JSON.stringify([{ source: 'embedded signature section', keyId: v.keyId }], null, 2)}\n`,
        );
        return;
      }
      const ref = ImageReference.parse(target);
      const c = client(o);
      try {
        const digest = (await c.getManifest(ref)).digest;
        const good = await verifyImage(c, ref, digest, keys, keyless);
        say(
          `verified ${ref.name}@${digest}: ${good.length} signature${good.length === 1 ? '' : 's'} by trusted keys`,
        );
        process.stdout.write(`${JSON.stringify(good, null, 2)}\n`);
      } finally {
        await c.close();
      }
    });
}

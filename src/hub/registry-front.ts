// Prepares a hub to sit in front of a registry (`--registry`): its token key and that key's certificate,
// the notifications secret, and <data>/registry-config.yml, the registry's side of the arrangement. Both
// `wasmgate hub --registry` and `wasmgate hub registry-config` run it, so the registry can be configured
// before the hub first starts.

import { writeFile } from 'node:fs/promises';
import { DataDirError, inside } from './data-dir.js';
import { TokenSigner } from './jwt.js';
import {
  EVENTS_SECRET_FILE,
  eventsSecret,
  REGISTRY_CONFIG_FILE,
  registryConfigYaml,
  TOKEN_CERT_FILE,
} from './registry-config.js';
import { HUB_SERVICE } from './token-auth.js';
import { ensureTokenCert } from './token-cert.js';

export const TOKEN_KEY_FILE = 'token-key.pem';

export interface RegistryFront {
  signer: TokenSigner;
  /** The header of every token the hub signs: the certificate the registry trusts. */
  tokenHeader: Record<string, unknown>;
  secret: string;
  yaml: string;
  configFile: string;
}

/** The registry's URL, checked: http(s)://host[:port] with nothing after the host. */
export function checkRegistryUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DataDirError(`--registry ${url}: expected http(s)://host[:port]`);
  }
  if (
    (u.protocol !== 'http:' && u.protocol !== 'https:') ||
    u.pathname.replace(/\/+$/, '') !== '' ||
    u.search
  )
    throw new DataDirError(`--registry ${url}: expected http(s)://host[:port], without a path`);
  return `${u.protocol}//${u.host}`;
}

export async function prepareRegistryFront(
  data: string,
  publicUrl: string,
  timeoutMs: number,
): Promise<RegistryFront> {
  if (!/^https?:\/\/[^/]/.test(publicUrl))
    throw new DataDirError(
      `--public-url ${publicUrl}: expected http(s)://host[:port] (the hub as the registry reaches it)`,
    );
  const keyFile = inside(data, TOKEN_KEY_FILE);
  const certFile = inside(data, TOKEN_CERT_FILE);
  const signer = await TokenSigner.open(keyFile, HUB_SERVICE);
  const cert = await ensureTokenCert(signer, keyFile, certFile);
  const secret = await eventsSecret(inside(data, EVENTS_SECRET_FILE));
  const yaml = registryConfigYaml({
    publicUrl,
    service: HUB_SERVICE,
    issuer: signer.issuer,
    certFile,
    secret,
    // The hub reads the manifest, the config and the module before it answers.
    timeoutSeconds: Math.ceil((3 * timeoutMs) / 1000) + 5,
  });
  const configFile = inside(data, REGISTRY_CONFIG_FILE);
  await writeFile(configFile, yaml, { mode: 0o600 });
  return { signer, tokenHeader: { x5c: cert.x5c }, secret, yaml, configFile };
}

// What the registry behind a `--registry` hub needs: its `auth: token:` section (the hub's /token as realm,
// the hub's certificate as rootcertbundle) and a `notifications:` endpoint posting to the hub with the
// shared secret. The hub keeps the secret in <data>/registry-events-secret and writes the snippet to
// <data>/registry-config.yml on every start; `wasmgate hub registry-config` prints it.

import { readFile, writeFile } from 'node:fs/promises';
import { REGISTRY_EVENTS_PATH } from './registry-events.js';
import { randomSecret } from './secrets.js';

export const EVENTS_SECRET_FILE = 'registry-events-secret';
export const TOKEN_CERT_FILE = 'token-cert.pem';
export const REGISTRY_CONFIG_FILE = 'registry-config.yml';

/** The shared secret of the notifications endpoint, made on first use (mode 0600). */
export async function eventsSecret(file: string): Promise<string> {
  try {
    const s = (await readFile(file, 'utf8')).trim();
    if (s.length < 16) throw new Error(`${file}: the secret is shorter than 16 characters`);
    return s;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const s = randomSecret();
    await writeFile(file, `${s}\n`, { mode: 0o600, flag: 'wx' });
    return s;
  }
}

export interface RegistryConfigInput {
  /** The hub's URL as the registry's clients and the registry itself reach it. */
  publicUrl: string;
  service: string;
  issuer: string;
  certFile: string;
  secret: string;
  /** How long the registry waits for the hub to handle one notification. */
  timeoutSeconds: number;
}

const quote = (s: string) => JSON.stringify(s);

/** The YAML to merge into the registry's config.yml. */
export function registryConfigYaml(i: RegistryConfigInput): string {
  const hub = i.publicUrl.replace(/\/+$/, '');
  return [
    '# For the distribution registry (docker-registry) behind `wasmgate hub --registry`:',
    '# merge into its config.yml. rootcertbundle must be readable by the registry (copy the file',
    '# if it runs elsewhere); keep the secret private.',
    'auth:',
    '  token:',
    `    realm: ${quote(`${hub}/token`)}`,
    `    service: ${quote(i.service)}`,
    `    issuer: ${quote(i.issuer)}`,
    `    rootcertbundle: ${quote(i.certFile)}`,
    'notifications:',
    '  endpoints:',
    '    - name: wasmgate-hub',
    `      url: ${quote(`${hub}${REGISTRY_EVENTS_PATH}`)}`,
    '      headers:',
    `        Authorization: [${quote(`Bearer ${i.secret}`)}]`,
    `      timeout: ${i.timeoutSeconds}s`,
    '      threshold: 5',
    '      backoff: 2s',
    '      ignoredmediatypes:',
    '        - application/octet-stream',
    '',
  ].join('\n');
}

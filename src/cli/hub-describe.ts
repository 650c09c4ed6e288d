// `wasmgate push --description/--readme/--label`: after the push, the repository's description, README
// and labels are set on the hub it went to, signed in as the push was.

import { readFileSync } from 'node:fs';
import { HubClient } from '../hub/api-client.js';
import { CredentialStore } from '../oci/auth.js';
import { OciError } from '../oci/errors.js';
import type { ImageReference } from '../oci/reference.js';

export interface HubDescription {
  description?: string;
  readme?: string;
  label?: string[];
}

export interface RepoDescription {
  description?: string;
  readme?: string;
  labels?: string[];
}

/** What to send, with the README read now; undefined when none of the options was given. */
export function hubDescription(o: HubDescription): RepoDescription | undefined {
  if (o.description === undefined && o.readme === undefined && o.label === undefined) return undefined;
  let readme: string | undefined;
  if (o.readme !== undefined) {
    try {
      readme = readFileSync(o.readme, 'utf8');
    } catch (e) {
      throw new OciError('usage', `--readme ${o.readme}: ${(e as Error).message}`);
    }
  }
  return { description: o.description, readme, labels: o.label };
}

/** On the hub at `hub`, or (by default) the image's registry when that is the hub. */
export async function describeOnHub(r: ImageReference, d: RepoDescription, hub?: string): Promise<void> {
  const client = await HubClient.connect(hub ?? r.registry, new CredentialStore(), r.registry);
  await client.call('PATCH', `/repos/${r.repository}`, d);
}

// `wasmgate hub key add|list|rm` (the signing keys an account publishes on a hub) and `wasmgate hub
// signatures <owner/name> <tag>` (who signed a tag, and whether it verifies with its owner's keys).

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { OciError } from '../oci/errors.js';
import { connectHub, hubOption } from './hub-admin.js';

const say = (s: string) => process.stderr.write(`${s}\n`);
const out = (s: string) => process.stdout.write(`${s}\n`);

interface SignaturesAnswer {
  repository: string;
  tag: string;
  digest: string;
  status: 'verified' | 'unverified' | 'unsigned';
  signedBy: string[];
  signatures: Array<{ source: string; verified: boolean; keyName?: string; hint?: string; problem?: string }>;
}

export function registerHubKeyCommands(hub: Command): void {
  const key = hub
    .command('key')
    .description('public keys an account signs its images with (the hub verifies signatures against them)');
  key
    .command('add')
    .argument('<account>', 'your user name, or an organisation you own')
    .argument('<public-key>', 'a PEM public key file (wasmgate key generate, cosign generate-key-pair)')
    .option('--name <name>', 'a name to show for it (default: the start of its key id)')
    .addOption(hubOption())
    .action(async (account: string, file: string, o: { hub?: string; name?: string }) => {
      let pem: string;
      try {
        pem = await readFile(file, 'utf8');
      } catch (e) {
        throw new OciError('usage', `${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      const r = await (await connectHub(o)).call<{ id: string; name: string }>(
        'POST',
        `/accounts/${encodeURIComponent(account)}/keys`,
        { pem, ...(o.name ? { name: o.name } : {}) },
      );
      say(`added signing key ${r.name} to ${account}`);
      out(r.id);
    });
  key
    .command('list')
    .argument('<account>')
    .addOption(hubOption())
    .action(async (account: string, o: { hub?: string }) => {
      const r = await (await connectHub(o)).call<{
        keys: Array<{ id: string; name: string; createdAt: string }>;
      }>('GET', `/accounts/${encodeURIComponent(account)}/keys`);
      for (const k of r.keys) out(`${k.id}\t${k.name}\t${k.createdAt}`);
    });
  key
    .command('rm')
    .argument('<account>')
    .argument('<id>', 'the key id (sha256 of the public key), as `hub key list` prints it')
    .addOption(hubOption())
    .action(async (account: string, id: string, o: { hub?: string }) => {
      await (await connectHub(o)).call(
        'DELETE',
        `/accounts/${encodeURIComponent(account)}/keys/${encodeURIComponent(id)}`,
      );
      say(`removed signing key ${id} from ${account}`);
    });

  hub
    .command('signatures')
    .description("who signed a tag, and whether each signature verifies with its owner's keys (JSON)")
    .argument('<repository>', 'owner/name')
    .argument('[tag]', 'a tag or a digest', 'latest')
    .addOption(hubOption())
    .action(async (repository: string, tag: string, o: { hub?: string }) => {
      const [owner, ...rest] = repository.split('/');
      if (!owner || rest.length === 0)
        throw new OciError('usage', `repository "${repository}": expected owner/name`);
      const r = await (await connectHub(o)).call<SignaturesAnswer>(
        'GET',
        `/repos/${encodeURIComponent(owner)}/${rest.map(encodeURIComponent).join('/')}/tags/${encodeURIComponent(tag)}/signatures`,
      );
      out(JSON.stringify(r, null, 2));
      // Like `wasmgate verify`: success only when a signature verifies (else the integrity exit code).
      if (r.status !== 'verified')
        throw new OciError(
          'integrity',
          r.status === 'unsigned'
            ? `${repository}:${tag} is not signed`
            : `${repository}:${tag}: no signature verifies with a key ${owner} registered on the hub`,
        );
    });
}

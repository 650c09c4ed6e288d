// `wasmgate hub registry-config --data <dir> --public-url <url>`: prints the YAML the registry behind
// `wasmgate hub --registry` needs (its token auth and notifications sections), making the hub's token
// certificate and events secret under --data when missing, so the registry can be set up before the hub
// first starts. --data, --public-url and --registry-timeout-s are `wasmgate hub`'s own options.

import type { Command } from 'commander';
import { DataDirError, prepareDataDir } from '../hub/data-dir.js';
import { DEFAULT_HUB_LIMITS } from '../hub/limits.js';
import { prepareRegistryFront } from '../hub/registry-front.js';
import { OciError } from '../oci/errors.js';

export function registerRegistryConfigCommand(hub: Command): void {
  hub
    .command('registry-config')
    .description(
      "print the registry's config for `wasmgate hub --registry` (token auth, notifications); needs --data and --public-url",
    )
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<{ data?: string; publicUrl?: string; registryTimeoutS?: number }>();
      if (!o.data || !o.publicUrl)
        throw new OciError(
          'usage',
          'wasmgate hub registry-config: --data <dir> and --public-url <url> (the hub as the registry reaches it) are required',
        );
      try {
        const data = await prepareDataDir(o.data);
        const timeout = o.registryTimeoutS ? o.registryTimeoutS * 1000 : DEFAULT_HUB_LIMITS.registryTimeoutMs;
        process.stdout.write((await prepareRegistryFront(data, o.publicUrl, timeout)).yaml);
      } catch (e) {
        if (e instanceof DataDirError) throw new OciError('usage', e.message);
        throw e;
      }
    });
}

// `wasmgate search <words>`: the hub's catalogue, as `wasme list --search` did.

import { type Command, Option } from 'commander';
import { connectHub, hubOption } from './hub-admin.js';

interface Found {
  name: string;
  description: string;
  labels: string[];
  pulls: number;
  updatedAt: string;
}

export function registerSearchCommand(program: Command): void {
  program
    .command('search')
    .description('search the filters on a wasmgate hub (names, descriptions, labels)')
    .argument('[words...]', 'all must match (as word prefixes); none lists everything')
    .addOption(hubOption())
    .addOption(new Option('--sort <order>', 'order').choices(['pulls', 'recent']).default('pulls'))
    .option('--limit <n>', 'at most this many (up to 100)', Number, 20)
    .action(async (words: string[], o: { hub?: string; sort: string; limit: number }) => {
      const hub = await connectHub(o);
      const q = new URLSearchParams({ q: words.join(' '), sort: o.sort, limit: String(o.limit) });
      const r = await hub.call<{ total: number; repositories: Found[] }>('GET', `/repos?${q}`);
      const host = new URL(hub.base).host;
      for (const f of r.repositories)
        process.stdout.write(
          `${host}/${f.name}\t${f.pulls} pulls\t${f.updatedAt.slice(0, 10)}\t${f.description}${f.labels.length ? ` [${f.labels.join(', ')}]` : ''}\n`,
        );
      process.stderr.write(`${r.repositories.length} of ${r.total}\n`);
    });
}

// `wasmgate replay <bundle> [--wasm other.wasm]`: re-runs a crash bundle in the harness and says whether the
// recorded failure happened again (exit 0) or what differs (exit 1). With --wasm, against another module:
// the check that a fix fixes it. A bundle that cannot be read, or whose module is missing, exits 2.

import type { Command } from 'commander';
import type { Outcome } from '../host/crash-bundle.js';
import { describeOutcome, loadBundle, type ReplayResult } from '../testing/replay.js';
import { ExitCode } from './exit-codes.js';

/** The replay did something else than the recording: exit 1, the difference printed. */
export class ReplayDiffers extends Error {
  readonly exitCode = ExitCode.failure;
  constructor() {
    super('the recorded outcome was not reproduced');
    this.name = 'ReplayDiffers';
  }
}

function outcomeLines(label: string, o: Outcome): string {
  return [`${label}: ${describeOutcome(o)}`, ...o.backtrace.map((f) => `    at ${f}`)].join('\n');
}

export function formatReplay(path: string, r: ReplayResult, against?: string): string {
  const lines = [
    `bundle: ${path}`,
    `module: sha256 ${r.moduleSha256}${against ? ` (${against}, not the recorded one)` : ''}`,
    outcomeLines('recorded', r.recorded),
    outcomeLines('replayed', r.replayed),
    r.reproduced ? 'reproduced: the recorded outcome happened again' : 'differs:',
  ];
  if (r.differences.length > 0 && r.reproduced) lines.push('notes:');
  for (const d of r.differences) lines.push(`  - ${d}`);
  return `${lines.join('\n')}\n`;
}

export function registerReplayCommand(program: Command): void {
  program
    .command('replay')
    .description('re-run a crash bundle: exit 0 when the recorded failure happens again, 1 when it differs')
    .argument('<bundle>', 'a crash bundle (crashBundles, --crash-dir, wasmgate record)')
    .option('--wasm <file>', 'replay against this module instead (a fix)')
    .option('--json', 'print the result as JSON')
    .action(async (path: string, o: { wasm?: string; json?: boolean }) => {
      // What keeps the replay from running (a bad bundle, a missing or invalid module) exits 2.
      const cannot = (e: unknown) => {
        throw Object.assign(e instanceof Error ? e : new Error(String(e)), { exitCode: ExitCode.usage });
      };
      const bundle = await loadBundle(path).catch(cannot);
      const r = await bundle.replay({ wasm: o.wasm }).catch(cannot);
      if (o.json) {
        const { logs: _logs, events: _events, ...summary } = r;
        process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
      } else process.stdout.write(formatReplay(path, r, o.wasm));
      if (!r.reproduced) throw new ReplayDiffers();
    });
}

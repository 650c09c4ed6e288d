#!/usr/bin/env node

// The wasmgate command line. Commands are thin: each calls a module a library user could call too.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError } from '../control/config-error.js';
import { registerAdminCommands } from './admin-commands.js';
import { registerDeployCommands } from './deploy.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { fetchTimeoutOption, registryCaOption, requestTimeoutOption } from './fetch-flags.js';
import { hubServing, registerHubCommand } from './hub.js';
import { registerImageCommands } from './images.js';
import { registerRecordCommand } from './record.js';
import { registerReplayCommand } from './replay.js';
import { type RunOptions, run } from './run.js';
import { registerSearchCommand } from './search.js';
import { registerTrustCommands } from './trust-commands.js';

const pkg = JSON.parse(
  readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json'), 'utf8'),
) as { version: string };

function portNumber(v: string): string {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('expected a port number (0-65535)');
  return v;
}

const program = new Command()
  .name('wasmgate')
  .description('Run Proxy-Wasm filters (Envoy/Istio compatible) in a Node.js proxy')
  .version(pkg.version)
  // Usage errors exit with 2 (see exit-codes.ts), not commander's default 1: thrown, handled below.
  .exitOverride();

program
  .command('run')
  .description('start the proxy (no options: the quick-start example on :10000, admin on :9901)')
  .option('-c, --config <file>', 'gateway configuration (YAML)')
  .option('--wasm <file>', 'one filter to run in front of --upstream')
  .option('--plugin-config <json|string>', 'the filter configuration (proxy_on_configure)')
  .option('--root-id <id>', 'the filter root id')
  .option('--cpu-ms <ms>', "the filter's CPU limit per callback (default 50; 0: none)", Number)
  .option('--memory-mib <MiB>', "the filter's memory limit (default 64; 0: none)", Number)
  .option('--trace', 'log every call between the filter and the host')
  .option(
    '--crash-dir <dir>',
    'write a crash bundle here when a filter traps, hits a limit or fails to start',
  )
  .option('--upstream <url>', 'upstream for --wasm, e.g. http://127.0.0.1:8080')
  .option('--port <port>', 'listener port (default 10000)', portNumber)
  .option('--admin-port <port>', 'admin port (default 9901)', portNumber)
  .option('--address <ip>', 'listener address (default 127.0.0.1)')
  .option('--admin-address <ip>', 'admin API address (default 127.0.0.1, whatever --address says)')
  .option('--log-level <level>', 'trace, debug, info, warn, error, critical')
  .option('--plugins-dir <dir...>', 'directories of WasmPlugin YAML files (with -c), watched for changes')
  .option('--no-watch', 'do not apply changes of the configuration files while running')
  .addOption(fetchTimeoutOption('fetching a module'))
  .addOption(requestTimeoutOption())
  .addOption(registryCaOption())
  .action(async (o: RunOptions) => {
    const gateway = await run(o);
    const ports = gateway.ports;
    const summary = Object.entries(ports)
      .map(([n, p]) => `${n}=:${p}`)
      .join(' ');
    process.stderr.write(
      `wasmgate listening: ${summary}${gateway.adminPort ? ` admin=:${gateway.adminPort}` : ''}\n`,
    );
    if (gateway.adminTokenFile) process.stderr.write(`wasmgate admin token: ${gateway.adminTokenFile}\n`);
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`wasmgate: ${signal}, draining\n`);
      gateway.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

// Image commands (init, build, list, tag, push, pull, login, logout, inspect, rmi, cache).
registerImageCommands(program);
// A running proxy's plugins, through its admin API (apply, delete, plugins, reload).
registerAdminCommands(program);
// Crash bundles: re-run one (replay); record live streams as such bundles (record).
registerReplayCommand(program);
registerRecordCommand(program);
// Signatures (key generate, sign, verify).
registerTrustCommands(program);
// The filter hub server and its administration (hub), its catalogue (search).
registerHubCommand(program);
registerSearchCommand(program);
// Istio/Envoy config for an image on a hub (deploy).
registerDeployCommands(program);

program.parseAsync(process.argv).then(
  () => {
    // Run and hub keep serving; every other command is done: don't wait for idle keep-alive sockets.
    if (program.args[0] !== 'run' && !hubServing()) process.exit(ExitCode.ok);
  },
  (e: unknown) => {
    const code = exitCodeFor(e);
    // Commander printed its own message (usage errors, --help, --version).
    if (!(e instanceof CommanderError)) {
      if (e instanceof ConfigError) process.stderr.write(`wasmgate: ${e.message}\n`);
      else process.stderr.write(`wasmgate: ${e instanceof Error ? e.message : String(e)}\n`);
    }
    process.exit(code);
  },
);

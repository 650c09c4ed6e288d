// `wasmgate run`: the proxy, from a config file, from flags (one filter in front of one upstream), or
// with no arguments the quick-start default (the example filter in front of the built-in echo upstream).

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../control/config-error.js';
import { ConfigSource } from '../control/config-source.js';
import { parseConfig, type ResolvedConfig } from '../control/load-config.js';
import { startEchoUpstream } from '../http/echo-upstream.js';
import { Gateway } from '../server/gateway.js';
import { type FetchFlags, fetchSettingsFromFlags } from './fetch-flags.js';

export interface RunOptions extends FetchFlags {
  config?: string;
  wasm?: string;
  pluginConfig?: string;
  rootId?: string;
  upstream?: string;
  port?: string;
  adminPort?: string;
  /** The listener's address; the admin API keeps to loopback unless adminAddress is given. */
  address?: string;
  adminAddress?: string;
  logLevel?: string;
  /** Directories of WasmPlugin YAML files, watched (with -c). */
  pluginsDir?: string[];
  /** --no-watch: do not apply file changes while running. */
  watch?: boolean;
  /** Limits and trace for the --wasm (or quick-start) filter. */
  cpuMs?: number;
  memoryMib?: number;
  trace?: boolean;
  /** Write crash bundles here (docs/operations.md). */
  crashDir?: string;
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The quick-start filter: examples/add-header (prebuilt .wasm shipped with the package). */
export function quickStartWasm(): string {
  return join(packageRoot, 'examples', 'add-header', 'add_header.wasm');
}

function flagsConfig(
  o: RunOptions,
  upstream: string,
  wasm: string | undefined,
  pluginConfig: string | undefined,
): ResolvedConfig {
  const u = new URL(upstream);
  const port = Number(o.port ?? 10000);
  const admin = o.adminPort === undefined ? 9901 : Number(o.adminPort);
  const yaml = {
    logLevel: o.logLevel ?? 'info',
    admin: { address: o.adminAddress ?? '127.0.0.1', port: admin },
    listeners: [{ name: 'main', address: o.address ?? '127.0.0.1', port }],
    clusters: [
      {
        name: 'upstream',
        endpoints: [`${u.hostname}:${u.port || (u.protocol === 'https:' ? 443 : 80)}`],
        ...(u.protocol === 'https:' ? { tls: {} } : {}),
      },
    ],
    routes: [{ name: 'default', match: { prefix: '/' }, cluster: 'upstream' }],
    plugins: wasm
      ? [
          {
            wasm: {
              name: 'cli-filter',
              root_id: o.rootId ?? '',
              configuration: pluginConfig ?? '',
              vm_config: { vm_id: '', code: { local: { filename: resolve(wasm) } } },
              ...(o.cpuMs !== undefined || o.memoryMib !== undefined
                ? {
                    limits: {
                      ...(o.cpuMs !== undefined ? { cpuMs: o.cpuMs } : {}),
                      ...(o.memoryMib !== undefined ? { memoryMiB: o.memoryMib } : {}),
                    },
                  }
                : {}),
              ...(o.trace ? { trace: true } : {}),
            },
          },
        ]
      : [],
  };
  return parseConfig(JSON.stringify(yaml), '(command line)', process.cwd());
}

export async function run(o: RunOptions): Promise<Gateway> {
  let resolved: ResolvedConfig | ConfigSource;
  let stopEcho: (() => Promise<void>) | undefined;
  if (o.config) {
    if (o.wasm || o.upstream)
      throw new ConfigError('(command line)', ['give either --config or --wasm/--upstream, not both']);
    // They set the --wasm filter's sandbox; a configuration file sets each plugin's (limits, trace).
    if (o.cpuMs !== undefined || o.memoryMib !== undefined || o.trace)
      throw new ConfigError('(command line)', [
        '--cpu-ms, --memory-mib and --trace are for --wasm; with --config, set limits and trace per plugin (docs/config.md)',
      ]);
    // A config file is watched (with its plugin directories) and can be changed through the admin API.
    resolved = new ConfigSource(o.config, { pluginDirs: o.pluginsDir ?? [] });
  } else if (o.wasm || o.upstream) {
    if (!o.upstream)
      throw new ConfigError('(command line)', [
        '--upstream is required with --wasm (e.g. --upstream http://127.0.0.1:8080)',
      ]);
    resolved = flagsConfig(o, o.upstream, o.wasm, o.pluginConfig);
  } else {
    // Quick start: the example filter in front of a built-in echo upstream.
    const wasm = quickStartWasm();
    if (!existsSync(wasm)) throw new ConfigError('(quick start)', [`the example filter ${wasm} is missing`]);
    const echo = await startEchoUpstream(0);
    stopEcho = echo.close;
    resolved = flagsConfig(
      o,
      `http://127.0.0.1:${echo.port}`,
      wasm,
      o.pluginConfig ?? JSON.stringify({ 'x-hello': 'from wasmgate' }),
    );
  }
  const gateway = await Gateway.start(resolved, {
    watch: o.watch !== false,
    fetchSettings: fetchSettingsFromFlags(o),
    crashDir: o.crashDir,
  });
  if (stopEcho) {
    const close = gateway.close.bind(gateway);
    gateway.close = async (deadline?: number) => {
      await close(deadline);
      await stopEcho!();
    };
  }
  return gateway;
}

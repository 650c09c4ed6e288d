// From plugin specs to running plugins: fetch, verify, compile (cached by digest), then start each
// plugin's root context — in a VM shared by plugins with the same vm_id, module and VM configuration,
// as Envoy keys its VMs.

import type { Host } from '../host/host.js';
import { Plugin } from '../host/plugin.js';
import type { WasmVm } from '../host/vm.js';
import {
  type FetchedModule,
  fetchModuleDetailed,
  ModuleFetchError,
  type ModuleFetcher,
} from './module-source.js';
import type { PluginSpec } from './plugin-spec.js';

export interface LoadedPlugin {
  spec: PluginSpec;
  plugin: Plugin;
}

export class PluginLoadError extends Error {
  constructor(
    readonly spec: PluginSpec,
    cause: unknown,
  ) {
    const where = spec.origin ? `${spec.origin}: ` : '';
    super(
      `${where}plugin ${spec.key} (${spec.url}): ${cause instanceof Error ? cause.message : String(cause)}`,
      {
        cause,
      },
    );
    this.name = 'PluginLoadError';
  }
}

export interface LoadOptions {
  /** The module fetcher (default: the shared one, configured from the environment). */
  fetcher?: ModuleFetcher;
}

/**
 * Fetches a plugin's module (pull policy and sha256 pin applied) and checks what its image declares
 * (ABI versions in the fetcher; root ids here, since only the spec knows its root id).
 */
export async function fetchPluginModule(spec: PluginSpec, options: LoadOptions = {}): Promise<FetchedModule> {
  const m = await fetchModuleDetailed(spec.url, spec.sha256, {
    pullPolicy: spec.imagePullPolicy,
    fetcher: options.fetcher,
  });
  // An image that lists its root ids cannot serve another one: refuse it up front (images only). An
  // empty root id (no pluginName) is the default root context, which SDKs serve whatever they list.
  const roots = m.runtimeConfig?.rootIds ?? [];
  if (roots.length > 0 && spec.rootId !== '' && !roots.includes(spec.rootId))
    throw new ModuleFetchError(
      spec.url,
      `the image declares root id${roots.length > 1 ? 's' : ''} ${roots.map((r) => `"${r}"`).join(', ')}, ` +
        `not "${spec.rootId}" (set pluginName / root_id to one of them)`,
      'format',
    );
  return m;
}

/** Starts every plugin, or none: on the first failure the ones already started are stopped. */
export async function loadPlugins(
  host: Host,
  specs: readonly PluginSpec[],
  options: LoadOptions = {},
  prefetched?: ReadonlyMap<PluginSpec, FetchedModule>,
): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = [];
  const vms = new Map<string, WasmVm>();
  try {
    for (const spec of specs) {
      let plugin: Plugin;
      try {
        const bytes = (prefetched?.get(spec) ?? (await fetchPluginModule(spec, options))).bytes;
        const module = await host.compile(bytes, spec.url);
        const vmKey = spec.vmId ? `${spec.vmId}\0${module.sha256}\0${spec.vmConfiguration}` : undefined;
        const shared = vmKey ? vms.get(vmKey) : undefined;
        plugin = await Plugin.start(
          host,
          module,
          {
            name: spec.name,
            rootId: spec.rootId,
            vmId: spec.vmId,
            configuration: spec.configuration,
            vmConfiguration: spec.vmConfiguration,
            env: spec.env,
            failStrategy: spec.failStrategy,
          },
          shared,
        );
        if (vmKey && !shared) vms.set(vmKey, plugin.vm);
      } catch (e) {
        throw new PluginLoadError(spec, e);
      }
      loaded.push({ spec, plugin });
    }
  } catch (e) {
    for (const l of loaded) l.plugin.stop();
    throw e;
  }
  return loaded;
}

/**
 * Replaces a running set of plugins: every module is fetched first, then every plugin started; only
 * when all of that worked are the old plugins stopped. Any failure (registry down, pin mismatch, a
 * module that does not start) throws and leaves `current` serving, untouched.
 */
export async function reloadPlugins(
  host: Host,
  current: readonly LoadedPlugin[],
  specs: readonly PluginSpec[],
  options: LoadOptions = {},
): Promise<LoadedPlugin[]> {
  const fetched = new Map<PluginSpec, FetchedModule>();
  const results = await Promise.allSettled(specs.map((s) => fetchPluginModule(s, options)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') throw new PluginLoadError(specs[i], r.reason);
    fetched.set(specs[i], r.value);
  });
  const next = await loadPlugins(host, specs, options, fetched);
  for (const l of current) l.plugin.stop();
  return next;
}

// From plugin specs to running plugins: fetch, verify, compile (cached by digest), then start each
// plugin's root context — in a VM shared by plugins with the same vm_id, module and VM configuration,
// as Envoy keys its VMs.

import type { Host } from '../host/host.js';
import { Plugin } from '../host/plugin.js';
import type { WasmVm } from '../host/vm.js';
import { fetchModule } from './module-source.js';
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
    super(`plugin ${spec.key} (${spec.url}): ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'PluginLoadError';
  }
}

/** Starts every plugin, or none: on the first failure the ones already started are stopped. */
export async function loadPlugins(host: Host, specs: readonly PluginSpec[]): Promise<LoadedPlugin[]> {
  const loaded: LoadedPlugin[] = [];
  const vms = new Map<string, WasmVm>();
  try {
    for (const spec of specs) {
      let plugin: Plugin;
      try {
        const bytes = await fetchModule(spec.url, spec.sha256);
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

// Applying a new list of plugin specs to the running set, as one transaction: every module is fetched,
// verified and compiled (known digests cost no compile), and every new root context is started and
// configured before anything changes. Unchanged plugins keep their VM and their state; a plugin whose only
// change is its configuration gets a new root context in the same VM (proxy_on_configure runs again, no
// recompile). Any failure stops what was started and throws: the running set is untouched.

import { isDeepStrictEqual } from 'node:util';
import type { CrashBundleOptions } from '../host/crash-bundle.js';
import type { Host } from '../host/host.js';
import { Plugin } from '../host/plugin.js';
import type { WasmVm } from '../host/vm.js';
import { fetchPluginModule, type LoadedPlugin, type LoadOptions, PluginLoadError } from './plugin-loader.js';
import type { PluginSpec } from './plugin-spec.js';

export type PluginChange = 'created' | 'updated' | 'reconfigured' | 'unchanged' | 'deleted';

export interface PluginSetResult {
  /** The new set, in the order of `specs`. */
  plugins: LoadedPlugin[];
  /** Plugins of the old set the new one no longer uses: stop them once their streams are done. */
  retired: LoadedPlugin[];
  changes: Array<{ key: string; change: PluginChange }>;
  /**
   * Applies what changes plugins the old set keeps (their trace switch, their spec): call it when the new
   * set takes over, never before, so that a change refused later leaves the running plugins as they were.
   */
  commit(): void;
}

/**
 * Specs compared without where they were written (a plugin moved between files is not changed) and
 * without the trace switch, which is applied to the running plugin.
 */
function same(a: PluginSpec, b: PluginSpec): boolean {
  return isDeepStrictEqual({ ...a, origin: '', trace: false }, { ...b, origin: '', trace: false });
}

function sameExceptConfiguration(a: PluginSpec, b: PluginSpec): boolean {
  const ignore = { configuration: '', routeConfigurations: undefined };
  return same({ ...a, ...ignore }, { ...b, ...ignore });
}

// Plugins share a VM only when it is the same VM for each of them: same module, configuration, limits and
// capabilities (both are per VM). Singleton services share theirs only among themselves, as Envoy runs them
// on its main thread, apart from the workers' VMs.
const vmKey = (spec: PluginSpec, sha256: string) =>
  spec.vmId
    ? `${spec.singleton ? 'singleton\0' : ''}${spec.vmId}\0${sha256}\0${spec.vmConfiguration}\0${JSON.stringify([spec.limits ?? null, spec.capabilities ?? null])}`
    : undefined;

export interface ApplySpecsOptions extends LoadOptions {
  /** Crash bundles for every plugin started (the gateway's crashBundles section). */
  crashBundles?: CrashBundleOptions;
}

export async function applyPluginSpecs(
  host: Host,
  current: readonly LoadedPlugin[],
  specs: readonly PluginSpec[],
  options: ApplySpecsOptions = {},
): Promise<PluginSetResult> {
  const byKey = new Map(current.map((l) => [l.spec.key, l]));
  // Fetch and compile everything first (in parallel): a registry that is down or a module that does not
  // compile fails the transaction before any start. Known digests hit the host's compile cache.
  const modules = await Promise.all(
    specs.map(async (s) => {
      try {
        // Pull policy, sha256 pin, and what an image declares (ABI versions, root ids) are checked here.
        const { bytes, from } = await fetchPluginModule(s, options);
        return { module: await host.compile(bytes, s.url), from };
      } catch (e) {
        throw new PluginLoadError(s, e);
      }
    }),
  );
  // Cancelled while fetching: nothing was started, nothing changes.
  options.signal?.throwIfAborted();
  // VMs that may be shared (same vm_id, module and VM configuration), the running ones included.
  const vms = new Map<string, WasmVm>();
  for (const l of current) {
    const k = vmKey(l.spec, l.plugin.module.sha256);
    if (k && !l.plugin.vm.failure) vms.set(k, l.plugin.vm);
  }
  const started: LoadedPlugin[] = [];
  const plugins: LoadedPlugin[] = [];
  const onCommit: Array<() => void> = [];
  const changes: PluginSetResult['changes'] = [];
  try {
    for (let i = 0; i < specs.length; i++) {
      const spec = specs[i];
      const { module, from } = modules[i];
      const old = byKey.get(spec.key);
      const sameModule = old !== undefined && old.plugin.module.sha256 === module.sha256;
      // A failed VM is not "unchanged": applying the same spec again restarts it.
      if (old && sameModule && same(old.spec, spec) && !old.plugin.vm.failure) {
        // A changed trace switch applies to the running plugin (no restart) once the change commits; an
        // unchanged one leaves what the admin API may have set.
        onCommit.push(() => {
          if ((old.spec.trace ?? false) !== (spec.trace ?? false)) old.plugin.setTrace(spec.trace ?? false);
          old.spec = spec;
        });
        plugins.push(old);
        changes.push({ key: spec.key, change: 'unchanged' });
        continue;
      }
      const reconfigure =
        old !== undefined && sameModule && sameExceptConfiguration(old.spec, spec) && !old.plugin.vm.failure;
      let plugin: Plugin;
      try {
        const k = vmKey(spec, module.sha256);
        const shared = reconfigure ? old.plugin.vm : k ? vms.get(k) : undefined;
        plugin = await Plugin.start(
          host,
          module,
          {
            name: spec.name,
            rootId: spec.rootId,
            vmId: spec.vmId,
            configuration: spec.configuration,
            moreConfigurations: spec.routeConfigurations,
            vmConfiguration: spec.vmConfiguration,
            env: spec.env,
            failStrategy: spec.failStrategy,
            allowOnHeadersStopIteration: spec.allowOnHeadersStopIteration,
            limits: spec.limits,
            capabilities: spec.capabilities,
            sanitize: spec.sanitize,
            trace: spec.trace,
            service: spec.role === 'service',
            crashBundles: options.crashBundles,
          },
          shared,
        );
        if (k && !shared) vms.set(k, plugin.vm);
      } catch (e) {
        throw new PluginLoadError(spec, e);
      }
      const loaded = { spec, plugin, source: from };
      started.push(loaded);
      plugins.push(loaded);
      changes.push({ key: spec.key, change: old ? (reconfigure ? 'reconfigured' : 'updated') : 'created' });
    }
  } catch (e) {
    for (const l of started) l.plugin.stop();
    throw e;
  }
  const kept = new Set(plugins);
  const retired = current.filter((l) => !kept.has(l));
  const keys = new Set(specs.map((s) => s.key));
  for (const l of retired) if (!keys.has(l.spec.key)) changes.push({ key: l.spec.key, change: 'deleted' });
  return {
    plugins,
    retired,
    changes,
    commit: () => {
      for (const f of onCommit) f();
    },
  };
}

/** Starts every plugin, or none: on the first failure the ones already started are stopped. */
export async function loadPlugins(
  host: Host,
  specs: readonly PluginSpec[],
  options: LoadOptions = {},
): Promise<LoadedPlugin[]> {
  const r = await applyPluginSpecs(host, [], specs, options);
  r.commit();
  return r.plugins;
}

/**
 * Replaces a running set of plugins at once (for embeddings without streams in flight): the new set is
 * fetched and started first; only then are the plugins it no longer uses stopped. Any failure throws and
 * leaves `current` serving, untouched.
 */
export async function reloadPlugins(
  host: Host,
  current: readonly LoadedPlugin[],
  specs: readonly PluginSpec[],
  options: LoadOptions = {},
): Promise<LoadedPlugin[]> {
  const r = await applyPluginSpecs(host, current, specs, options);
  r.commit();
  for (const l of r.retired) l.plugin.stop();
  return r.plugins;
}

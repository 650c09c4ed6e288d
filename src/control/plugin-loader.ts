// What loading a plugin needs before it starts: its module fetched with the spec's pull policy and pin,
// checked against what its image declares and against the load policy (src/trust: before the fetch where it
// comes from, after it size, capabilities and signature). Starting plugins (all or none, incrementally on reload) is
// plugin-set.ts.

import type { Plugin } from '../host/plugin.js';
import { LoadGate } from '../trust/load-gate.js';
import {
  defaultFetcher,
  type FetchedModule,
  fetchModuleDetailed,
  ModuleFetchError,
  type ModuleFetcher,
} from './module-source.js';
import type { PluginSpec } from './plugin-spec.js';

export interface LoadedPlugin {
  spec: PluginSpec;
  plugin: Plugin;
  /** Where the running module came from: a file, the module cache, the local image store, a registry, a web server. */
  source: FetchedModule['from'];
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
  /** The load policy (src/trust): default, only the default denied networks and plugins' verificationKey. */
  gate?: LoadGate;
  /** Cancels the load: fetches stop, and nothing is started once it has aborted. */
  signal?: AbortSignal;
}

let defaultGate: LoadGate | undefined;

/**
 * Fetches a plugin's module (pull policy and sha256 pin applied) and checks what its image declares
 * (ABI versions in the fetcher; root ids here, since only the spec knows its root id).
 */
export async function fetchPluginModule(spec: PluginSpec, options: LoadOptions = {}): Promise<FetchedModule> {
  defaultGate ??= new LoadGate();
  const gate = options.gate ?? defaultGate;
  await gate.beforeFetch(spec.url);
  // And again at every connection the fetch makes (a name that rebinds, a redirect elsewhere).
  (options.fetcher ?? defaultFetcher()).setDeniedNetworks(gate.denied);
  let m: FetchedModule;
  try {
    m = await fetchModuleDetailed(spec.url, spec.sha256, {
      pullPolicy: spec.imagePullPolicy,
      fetcher: options.fetcher,
      signal: options.signal,
    });
  } catch (e) {
    if (e instanceof ModuleFetchError && e.kind === 'denied-network') gate.refusedAtConnect(e.message);
    throw e;
  }
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
  // The policy's checks of what came (size, capabilities, signature) before anything compiles it.
  await gate.afterFetch(
    { url: spec.url, bytes: m.bytes, manifestDigest: m.manifestDigest },
    spec.verificationKey,
    () => (options.fetcher ?? defaultFetcher()).registry,
  );
  return m;
}

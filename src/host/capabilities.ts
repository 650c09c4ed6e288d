// Capability restrictions per plugin: which host functions a module may use, by group (the spec's
// grouping) or by function name. A module importing a function outside its allow-list is refused at load
// (onViolation: refuse), or the function is linked to a stub that answers an error (onViolation: error):
// UNIMPLEMENTED for proxy_* functions, ENOTCAPABLE for WASI.
// Envoy's own capability_restriction_config (style: envoy) is served as cpp-host serves it: function and
// callback names only, nothing allowed implicitly, a stub answering INTERNAL_FAILURE (ENOTCAPABLE for WASI)
// for a function left out, and a callback left out never called.

import { CAPABILITY_GROUP_NAMES, HOSTCALLS, hostcallNames } from '../abi/hostcalls.js';

/** The functions of each group one can allow, from the hostcall table. */
export const CAPABILITY_GROUPS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  CAPABILITY_GROUP_NAMES.map((g) => [g, HOSTCALLS.filter((h) => h.group === g).map((h) => h.name)]),
);

/**
 * Always allowed (the table's lifecycle group): contexts cannot work without them (proxy_done,
 * proxy_set_effective_context, proxy_get_status) and toolchain runtime helpers that reach nothing outside
 * the VM.
 */
export const ALWAYS_ALLOWED: ReadonlySet<string> = new Set(
  HOSTCALLS.filter((h) => h.group === 'lifecycle').map((h) => h.name),
);

export type OnViolation = 'refuse' | 'error';

export interface CapabilityConfig {
  /** Group names (see CAPABILITY_GROUPS) and/or function names; with style envoy, Envoy's names. */
  allow: readonly string[];
  onViolation: OnViolation;
  /** envoy: Envoy's capability_restriction_config (see above). */
  style?: 'envoy';
}

/** The resolved restriction: the function names allowed. */
export interface Capabilities {
  allow: readonly string[];
  onViolation: OnViolation;
  allowed: ReadonlySet<string>;
  style?: 'envoy';
}

/** A module callback cpp-host gates by capability (the allocator is not one). */
export function isGatedCallback(name: string): boolean {
  return name.startsWith('proxy_on_') && name !== 'proxy_on_memory_allocate';
}

const GROUP_OF = new Map<string, string>(HOSTCALLS.map((h) => [h.name, h.group]));

/** The capability group a host function belongs to ("lifecycle" for the always-allowed ones). */
export function capabilityGroup(name: string): string {
  return GROUP_OF.get(name) ?? 'lifecycle';
}

/** Every valid allow-list entry: group names and function names. */
export function capabilityNames(): string[] {
  const { env, wasi } = hostcallNames();
  return [...Object.keys(CAPABILITY_GROUPS), ...env, ...wasi];
}

/** Resolves an allow-list; throws naming an unknown entry. */
export function resolveCapabilities(config: CapabilityConfig): Capabilities {
  const { env, wasi } = hostcallNames();
  const functions = new Set([...env, ...wasi]);
  if (config.style === 'envoy') {
    for (const entry of config.allow)
      if (!functions.has(entry) && !isGatedCallback(entry))
        throw new RangeError(
          `unknown capability "${entry}": expected a host function or proxy_on_* callback name`,
        );
    // cpp-host links these two toolchain helpers before its capability checks: always there.
    const allowed = new Set(['emscripten_notify_memory_growth', 'pthread_equal', ...config.allow]);
    return { allow: [...config.allow], onViolation: 'error', allowed, style: 'envoy' };
  }
  const allowed = new Set(ALWAYS_ALLOWED);
  for (const entry of config.allow) {
    const group = CAPABILITY_GROUPS[entry];
    if (group) for (const n of group) allowed.add(n);
    else if (functions.has(entry)) allowed.add(entry);
    else
      throw new RangeError(
        `unknown capability "${entry}": expected a group (${Object.keys(CAPABILITY_GROUPS).join(', ')}) or a host function name`,
      );
  }
  return { allow: [...config.allow], onViolation: config.onViolation, allowed };
}

/** The module's imports the restriction does not allow, as "env.proxy_http_call (http_call)". */
export function forbiddenImports(
  imports: ReadonlyArray<{ module: string; name: string; kind: string }>,
  caps: Capabilities,
): string[] {
  return imports
    .filter((i) => i.kind === 'function' && !caps.allowed.has(i.name))
    .map((i) => `${i.module}.${i.name} (${capabilityGroup(i.name)})`);
}

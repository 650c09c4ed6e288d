// Per-route plugin settings (routes[].plugins): a route may turn a plugin off or give it a configuration
// of its own. Each distinct configuration becomes one more root context in the plugin's VM, so the plugin's
// spec lists them; the data plane then serves a stream from the root context of its route.

import type { PluginSpec } from './plugin-spec.js';
import type { GatewayConfig, RouteConfig } from './schema.js';

/** What a route does with one plugin: null turns it off; a string is the configuration it runs with. */
export type RoutePluginChoice = string | null;

type RoutePluginSetting = NonNullable<RouteConfig['plugins']>[string];

export function routePluginChoice(setting: RoutePluginSetting): RoutePluginChoice {
  if (setting.disabled) return null;
  const c = setting.configuration;
  // As a WasmPlugin's pluginConfig: a string is passed as it is, anything else as JSON.
  return typeof c === 'string' ? c : JSON.stringify(c);
}

/** Every route of the configuration with where it is written, for errors. */
function allRoutes(config: GatewayConfig): Array<{ route: RouteConfig; at: string }> {
  const out = config.routes.map((route, i) => ({ route, at: `routes[${i}]` }));
  config.listeners.forEach((l, i) => {
    (l.routes ?? []).forEach((route, j) => {
      out.push({ route, at: `listeners[${i}].routes[${j}]` });
    });
  });
  return out;
}

/**
 * The specs with the configurations their routes give them (`routeConfigurations`, sorted, so that an
 * unchanged set compares equal), and the problems: a route naming a plugin that does not exist.
 */
export function withRouteConfigurations(
  config: GatewayConfig,
  specs: readonly PluginSpec[],
): { specs: PluginSpec[]; problems: string[] } {
  const byKey = new Map(specs.map((s) => [s.key, new Set<string>()]));
  const problems: string[] = [];
  for (const { route, at } of allRoutes(config)) {
    for (const [key, setting] of Object.entries(route.plugins ?? {})) {
      const set = byKey.get(key);
      if (!set) {
        const known = [...byKey.keys()].map((k) => `"${k}"`).join(', ') || 'none';
        problems.push(`${at}.plugins.${key}: no plugin "${key}" (plugins: ${known})`);
        continue;
      }
      const choice = routePluginChoice(setting);
      if (choice !== null) set.add(choice);
    }
  }
  return {
    specs: specs.map((s) => {
      const configs = [...(byKey.get(s.key) ?? [])].filter((c) => c !== s.configuration).sort();
      return configs.length > 0 ? { ...s, routeConfigurations: configs } : s;
    }),
    problems,
  };
}

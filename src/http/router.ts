// Route matching (first match wins, as in Envoy): host, path prefix / exact / regex, methods, headers.

import type { HeaderMap } from '../abi/header-map.js';
import type { RoutePluginChoice } from '../control/route-plugins.js';
import type { RouteConfig } from '../control/schema.js';
import type { Plugin } from '../host/plugin.js';

/** A route's plugin settings, resolved to the running plugins (routes[].plugins). */
export type RoutePlugins = ReadonlyMap<Plugin, RoutePluginChoice>;

export interface Route {
  name: string;
  config: RouteConfig;
  matches(headers: HeaderMap): boolean;
  /** :path after prefix rewriting. */
  rewritePath(path: string): string;
  /** What the route does with `plugin`: off (null), its own configuration, or nothing special (undefined). */
  pluginChoice(plugin: Plugin): RoutePluginChoice | undefined;
}

const DEFAULT_TIMEOUT_MS = 15_000;

export function routeTimeout(r: RouteConfig): number {
  return r.timeoutMs ?? DEFAULT_TIMEOUT_MS;
}

function hostMatcher(pattern: string | undefined): (host: string) => boolean {
  if (pattern === undefined || pattern === '*') return () => true;
  const p = pattern.toLowerCase();
  const strip = (h: string) => {
    const lower = h.toLowerCase();
    if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
    const i = lower.lastIndexOf(':');
    return i >= 0 ? lower.slice(0, i) : lower;
  };
  if (p.startsWith('*.')) return (h) => strip(h).endsWith(p.slice(1));
  return (h) => strip(h) === p || h.toLowerCase() === p;
}

const NO_PLUGINS: RoutePlugins = new Map();

export function compileRoute(config: RouteConfig, index: number, plugins: RoutePlugins = NO_PLUGINS): Route {
  const m = config.match;
  const host = hostMatcher(m.host);
  const regex = m.regex !== undefined ? new RegExp(`^(?:${m.regex})$`) : undefined;
  const methods = m.methods?.map((x) => x.toUpperCase());
  const headers = (m.headers ?? []).map((h) => {
    const re = h.regex !== undefined ? new RegExp(`^(?:${h.regex})$`) : undefined;
    const test = (v: string | undefined): boolean => {
      if (h.present !== undefined) return (v !== undefined) === h.present;
      if (v === undefined) return false;
      if (h.exact !== undefined) return v === h.exact;
      if (h.prefix !== undefined) return v.startsWith(h.prefix);
      if (re) return re.test(v);
      return true;
    };
    return (map: HeaderMap) => test(map.get(h.name)) !== (h.invert ?? false);
  });
  // A request whose :path a filter removed has an empty path, as in Envoy: no prefix or exact path matches it.
  const pathOf = (headers: HeaderMap) => {
    const p = headers.get(':path') ?? '';
    const q = p.indexOf('?');
    return q >= 0 ? p.slice(0, q) : p;
  };
  return {
    name: config.name ?? `route-${index}`,
    config,
    matches(h) {
      if (!host(h.get(':authority') ?? '')) return false;
      if (methods && !methods.includes(h.get(':method') ?? '')) return false;
      const path = pathOf(h);
      if (m.path !== undefined && path !== m.path) return false;
      if (m.prefix !== undefined && !path.startsWith(m.prefix)) return false;
      if (regex && !regex.test(path)) return false;
      for (const hm of headers) if (!hm(h)) return false;
      return true;
    },
    rewritePath(path) {
      if (config.prefixRewrite === undefined) return path;
      const prefix = m.prefix ?? m.path;
      if (prefix === undefined || !path.startsWith(prefix)) return path;
      return config.prefixRewrite + path.slice(prefix.length);
    },
    pluginChoice(plugin) {
      return plugins.get(plugin);
    },
  };
}

export class RouteTable {
  readonly routes: Route[];

  /** `plugins` resolves a route's plugin settings to the running plugins. */
  constructor(configs: RouteConfig[], plugins?: (config: RouteConfig) => RoutePlugins) {
    this.routes = configs.map((c, i) => compileRoute(c, i, plugins?.(c)));
  }

  match(headers: HeaderMap): Route | undefined {
    for (const r of this.routes) if (r.matches(headers)) return r;
    return undefined;
  }
}

// Plugins as the data plane needs them, from either form the config accepts: Istio's WasmPlugin or
// Envoy's wasm filter config. Ordering follows Istio: phase AUTHN, AUTHZ, STATS, then unspecified;
// within a phase, higher priority first; ties keep the order of the configuration.

import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginOptions } from '../host/plugin.js';
import { type SandboxSettings, sandboxFromAnnotations, sandboxFromConfig } from './sandbox-settings.js';
import type { EnvoyWasmConfig, TrafficExtensionResource, WasmPluginResource } from './schema.js';

export type Phase = 'AUTHN' | 'AUTHZ' | 'STATS' | 'UNSPECIFIED_PHASE';
const PHASE_RANK: Record<Phase, number> = { AUTHN: 0, AUTHZ: 1, STATS: 2, UNSPECIFIED_PHASE: 3 };

/**
 * What the config resolves a plugin to. The fields the host takes as they are (root and VM ids, environment,
 * failure policy, allow_on_headers_stop_iteration) are PluginOptions' own, so they are declared once.
 */
export interface PluginSpec
  extends SandboxSettings,
    Required<Pick<PluginOptions, 'rootId' | 'vmId' | 'env' | 'failStrategy'>>,
    Pick<PluginOptions, 'allowOnHeadersStopIteration'> {
  /** Unique key: namespace/name for WasmPlugins, the filter name for plain wasm filters. */
  key: string;
  /** plugin_name as filters see it (Istio: namespace.name). */
  name: string;
  /** Where the module comes from: an absolute path (file URL or plain path resolved) or a URL. */
  url: string;
  sha256?: string;
  configuration: string;
  /** Other configurations routes give the plugin (routes[].plugins), each run by a root context of its own. */
  routeConfigurations?: string[];
  vmConfiguration: string;
  phase: Phase;
  priority: number;
  matchLabels: Record<string, string>;
  /** Istio's match: the plugin applies where any entry matches (a listener's direction and port); all when empty. */
  match: TrafficMatch[];
  /** Istio's targetRefs (kind Gateway): the listeners named so, or labelled with the gateway's name; all when absent. */
  targetGateways?: string[];
  /** HTTP filters (the default) run on HTTP listeners, NETWORK (L4) filters on TCP listeners. */
  type?: 'HTTP' | 'NETWORK';
  /**
   * Where the module runs besides a filter chain (absent: a filter): an access logger (proxy_on_log in its
   * root context after each stream or connection) or a service (a root context only, started with the proxy).
   */
  role?: 'accessLogger' | 'service';
  /**
   * The only listener it applies to (a filter declared in a TCP listener's chain, an access logger declared
   * in a listener); any matching one when absent.
   */
  listener?: string;
  /** A service with a VM of its own (Envoy's WasmService singleton), not shared with filters of its vm_id. */
  singleton?: boolean;
  imagePullPolicy?: string;
  /** A public key (PEM text, or an absolute path) a signature of the module must verify with. */
  verificationKey?: string;
  /** Fields given that wasmgate does not act on (Kubernetes-only ones), warned about when the plugin loads. */
  unused?: string[];
  /** Where it was defined, for errors: "gateway.yaml: plugins[2]", "plugins/auth.yaml: document 1", "admin API". */
  origin?: string;
}

/** Resolves file:// URLs and plain paths against the config file's directory. */
export function resolveModuleUrl(url: string, baseDir: string): string {
  if (url.startsWith('file://'))
    return fileURLToPath(url.startsWith('file:///') ? url : `file://${resolve(baseDir, url.slice(7))}`);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  return isAbsolute(url) ? url : resolve(baseDir, url);
}

/**
 * A WasmPlugin's url: without a scheme, Istio reads it as an image reference (oci://); a path written as
 * one (`/…`, `./…`, `../…`) stays a file, resolved against the config file's directory.
 */
export function wasmPluginUrl(url: string, baseDir: string): string {
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url);
  if (!hasScheme && !/^(\/|\.\.?\/)/.test(url)) return `oci://${url}`;
  return resolveModuleUrl(url, baseDir);
}

/** Istio's TrafficSelector: traffic by direction (CLIENT: outbound and gateways, SERVER: inbound) and port. */
export interface TrafficMatch {
  mode: 'UNDEFINED' | 'CLIENT' | 'SERVER' | 'CLIENT_AND_SERVER';
  ports: number[];
}

/** The label Istio puts on a Gateway API gateway's deployment: a listener carrying it stands for that Gateway. */
export const GATEWAY_NAME_LABEL = 'gateway.networking.k8s.io/gateway-name';

/** A WasmPlugin or a TrafficExtension: the same plugin, the module's fields under spec.wasm in the latter. */
export function fromWasmPlugin(
  r: WasmPluginResource | TrafficExtensionResource,
  baseDir: string,
  hostEnv: NodeJS.ProcessEnv,
): PluginSpec {
  const s = wasmPluginSpec(r);
  const env: Record<string, string> = {};
  for (const e of s.vmConfig?.env ?? []) {
    const v = e.valueFrom === 'HOST' ? hostEnv[e.name] : e.value;
    if (v !== undefined) env[e.name] = v;
  }
  const ns = r.metadata.namespace;
  return {
    key: `${ns}/${r.metadata.name}`,
    name: `${ns}.${r.metadata.name}`,
    url: wasmPluginUrl(s.url, baseDir),
    sha256: s.sha256,
    rootId: s.pluginName ?? '',
    // Each WasmPlugin gets its own VM, as Istio configures them.
    vmId: `${ns}.${r.metadata.name}`,
    configuration: s.pluginConfig === undefined ? '' : JSON.stringify(s.pluginConfig),
    vmConfiguration: '',
    env,
    phase: s.phase,
    priority: s.priority ?? 0,
    failStrategy: s.failStrategy,
    matchLabels: s.selector?.matchLabels ?? {},
    match: (s.match ?? []).map((m) => ({ mode: m.mode, ports: (m.ports ?? []).map((p) => p.number) })),
    ...targetGateways(s),
    type: s.type === 'NETWORK' ? 'NETWORK' : 'HTTP',
    imagePullPolicy: s.imagePullPolicy,
    ...verificationKeyFrom(s.verificationKey, baseDir),
    ...unusedFields(s, r.kind === 'TrafficExtension' ? 'spec.wasm' : 'spec'),
    ...sandboxFromAnnotations(r.metadata.annotations).settings,
  };
}

/** A TrafficExtension's spec as a WasmPlugin's (its schema made sure spec.wasm is there). */
function wasmPluginSpec(r: WasmPluginResource | TrafficExtensionResource): WasmPluginResource['spec'] {
  if (r.kind === 'WasmPlugin') return r.spec;
  const { wasm, lua: _lua, ...placement } = r.spec;
  if (!wasm) throw new Error(`TrafficExtension ${r.metadata.name} has no spec.wasm`);
  return { ...placement, ...wasm };
}

/** The Gateways the resource targets (its schema refused every other kind). */
function targetGateways(s: WasmPluginResource['spec']): { targetGateways?: string[] } {
  const refs = s.targetRefs ?? (s.targetRef ? [s.targetRef] : []);
  return refs.length > 0 ? { targetGateways: refs.map((r) => r.name) } : {};
}

/** A verification key as the spec keeps it: PEM text as given, a path made absolute. */
export function verificationKeyFrom(key: string | undefined, baseDir: string): { verificationKey?: string } {
  if (key === undefined) return {};
  return { verificationKey: key.includes('-----BEGIN') ? key : resolve(baseDir, key) };
}

// Kubernetes-only fields: a pull secret names a Secret (wasmgate reads credentials from `wasmgate login`
// and Docker's config).
const KUBERNETES_ONLY = {
  imagePullSecret: "registry credentials come from `wasmgate login` or Docker's config.json",
} as const;

function unusedFields(s: WasmPluginResource['spec'], at: string): { unused?: string[] } {
  const unused = Object.entries(KUBERNETES_ONLY)
    .filter(([field]) => s[field as keyof typeof KUBERNETES_ONLY] !== undefined)
    .map(([field, instead]) => `${at}.${field} is not used: ${instead}`);
  return unused.length > 0 ? { unused } : {};
}

function configString(v: EnvoyWasmConfig['configuration']): string {
  if (v === undefined) return '';
  return typeof v === 'string' ? v : v.value;
}

export function fromEnvoyWasm(
  c: EnvoyWasmConfig,
  index: number,
  baseDir: string,
  hostEnv: NodeJS.ProcessEnv,
): PluginSpec {
  const code = c.vm_config.code;
  const url = code.local ? resolveModuleUrl(code.local.filename, baseDir) : code.remote!.http_uri.uri;
  const env: Record<string, string> = { ...(c.vm_config.environment_variables?.key_values ?? {}) };
  for (const k of c.vm_config.environment_variables?.host_env_keys ?? []) {
    const v = hostEnv[k];
    if (v !== undefined) env[k] = v;
  }
  const name = c.name ?? `wasm-${index}`;
  return {
    key: name,
    name,
    url,
    sha256: code.remote?.sha256,
    rootId: c.root_id,
    vmId: c.vm_config.vm_id,
    configuration: configString(c.configuration),
    vmConfiguration: configString(c.vm_config.configuration),
    env,
    phase: 'UNSPECIFIED_PHASE',
    priority: 0,
    failStrategy: c.failStrategy ?? (c.fail_open ? 'FAIL_OPEN' : 'FAIL_CLOSE'),
    ...(c.allow_on_headers_stop_iteration ? { allowOnHeadersStopIteration: true } : {}),
    matchLabels: c.selector?.matchLabels ?? {},
    match: [],
    type: 'HTTP',
    ...verificationKeyFrom(c.verification_key, baseDir),
    ...envoySandbox(c),
  };
}

function envoySandbox(c: EnvoyWasmConfig): SandboxSettings {
  const out = sandboxFromConfig(c);
  if (!c.capabilities && c.capability_restriction_config) {
    // As Envoy: an empty allow-list restricts nothing.
    const allow = Object.keys(c.capability_restriction_config.allowed_capabilities);
    if (allow.length > 0) out.capabilities = { allow, onViolation: 'error', style: 'envoy' };
  }
  return out;
}

/** Istio's order. Array.prototype.sort is stable, so ties keep configuration order. */
export function orderPlugins<T extends { spec: PluginSpec }>(plugins: readonly T[]): T[] {
  return [...plugins].sort(
    (a, b) => PHASE_RANK[a.spec.phase] - PHASE_RANK[b.spec.phase] || b.spec.priority - a.spec.priority,
  );
}

/**
 * Envoy's network wasm filter declared in TCP listener `listener`'s chain (`tcp.filters[index]`): a plugin
 * of that listener alone, keyed by it.
 */
export function fromListenerNetworkFilter(
  c: EnvoyWasmConfig,
  listener: string,
  index: number,
  baseDir: string,
  hostEnv: NodeJS.ProcessEnv,
): PluginSpec {
  const spec = fromEnvoyWasm(c, index, baseDir, hostEnv);
  const name = c.name ?? `network-wasm-${index}`;
  return { ...spec, key: `${listener}/${name}`, name, type: 'NETWORK', listener };
}

/** What placing a plugin looks at of a listener. */
export interface ListenerPlace {
  name: string;
  labels: Record<string, string>;
  port: number;
  direction: 'UNSPECIFIED' | 'INBOUND' | 'OUTBOUND';
  protocol: string;
}

/**
 * Whether the plugin runs on `listener`: a filter's type is the listener's (NETWORK filters on TCP
 * listeners, HTTP ones on the others), a filter declared in a listener's chain runs there alone, every
 * selector label matches, it is one of the targeted Gateways (by name or gateway-name label), and some match entry takes its traffic. Istio's directions: SERVER is
 * inbound traffic; CLIENT is outbound, and a gateway's (a listener of direction UNSPECIFIED).
 */
export function pluginAppliesTo(spec: PluginSpec, listener: ListenerPlace): boolean {
  // A filter runs on the listeners of its type; an access logger logs HTTP streams and TCP connections alike.
  if (spec.role === undefined && (spec.type === 'NETWORK') !== (listener.protocol === 'tcp')) return false;
  if (spec.listener !== undefined) return spec.listener === listener.name;
  for (const [k, v] of Object.entries(spec.matchLabels)) if (listener.labels[k] !== v) return false;
  const gateways = spec.targetGateways;
  if (gateways && !gateways.some((g) => listener.name === g || listener.labels[GATEWAY_NAME_LABEL] === g))
    return false;
  if (spec.match.length === 0) return true;
  return spec.match.some(
    (m) => modeTakes(m.mode, listener.direction) && (m.ports.length === 0 || m.ports.includes(listener.port)),
  );
}

function modeTakes(mode: TrafficMatch['mode'], direction: ListenerPlace['direction']): boolean {
  if (mode === 'SERVER') return direction === 'INBOUND';
  if (mode === 'CLIENT') return direction !== 'INBOUND';
  return true;
}

/** Targeted Gateways no listener stands for: the plugin would run nowhere, which is refused, named. */
export function unmatchedTargets(
  specs: readonly PluginSpec[],
  listeners: readonly ListenerPlace[],
): string[] {
  const problems: string[] = [];
  for (const spec of specs)
    for (const g of spec.targetGateways ?? [])
      if (!listeners.some((l) => l.name === g || l.labels[GATEWAY_NAME_LABEL] === g))
        problems.push(
          `plugin ${spec.key}${spec.origin ? ` (${spec.origin})` : ''}: targetRefs name Gateway "${g}", and no listener is named so or labelled ${GATEWAY_NAME_LABEL}: ${g}`,
        );
  return problems;
}

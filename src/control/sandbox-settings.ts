// A plugin's sandbox settings — CPU and memory limits, the trace switch, capabilities and header
// sanitizing — from Envoy-style wasm entries (fields), WasmPlugin resources (annotations: Istio has no such
// fields, and annotations keep the resource valid for Istio) and the gateway-wide pluginDefaults.

import { type CapabilityConfig, capabilityNames } from '../host/capabilities.js';
import { DEFAULT_LIMITS, type Limits, MAX_MEMORY_MIB } from '../host/limits.js';
import { type SanitizeConfig, SUGGESTED_HIDDEN_HEADERS } from '../host/sanitize.js';

export interface SandboxSettings {
  limits?: Partial<Limits>;
  trace?: boolean;
  capabilities?: CapabilityConfig;
  sanitize?: SanitizeConfig;
}

/** The config forms of `sanitize`: true (the suggested headers), false, or an object. */
export function sanitizeFrom(
  v: boolean | { headers: string[]; sourceAddress: boolean } | undefined,
): SanitizeConfig | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'boolean')
    return v ? { headers: [...SUGGESTED_HIDDEN_HEADERS], sourceAddress: false } : {};
  return { headers: v.headers.map((h) => h.toLowerCase()), sourceAddress: v.sourceAddress };
}

export const ANNOTATION_PREFIX = 'wasmgate.io/';

/** The annotations a WasmPlugin may carry, with what they hold. */
export const SANDBOX_ANNOTATIONS: Record<string, string> = {
  'wasmgate.io/cpu-ms': 'CPU time per callback, ms (0: no limit)',
  'wasmgate.io/start-cpu-ms':
    'CPU time to start (start functions, proxy_on_vm_start, proxy_on_configure), ms',
  'wasmgate.io/memory-mib': `memory limit, MiB (0: no limit; at most ${MAX_MEMORY_MIB})`,
  'wasmgate.io/trace': 'true: log every call between the VM and the host',
  'wasmgate.io/capabilities': 'comma-separated host function groups and names the module may use',
  'wasmgate.io/capabilities-on-violation': 'refuse (default) or error',
  'wasmgate.io/sanitize-headers': 'comma-separated headers hidden from the filter, or "default"',
  'wasmgate.io/sanitize-source-address': 'true: hide the client address',
};

const list = (v: string) =>
  v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** Settings from a WasmPlugin's annotations; problems name the annotation. */
export function sandboxFromAnnotations(annotations: Record<string, string> | undefined): {
  settings: SandboxSettings;
  problems: Array<{ key: string; message: string }>;
} {
  const settings: SandboxSettings = {};
  const problems: Array<{ key: string; message: string }> = [];
  const limits: Partial<Limits> = {};
  const names = new Set(capabilityNames());
  let allow: string[] | undefined;
  let onViolation: 'refuse' | 'error' | undefined;
  let sanitize: SanitizeConfig | undefined;
  const bool = (key: string, v: string): boolean | undefined => {
    if (v === 'true') return true;
    if (v === 'false') return false;
    problems.push({ key, message: `expected "true" or "false", got "${v}"` });
    return undefined;
  };
  const number = (key: string, v: string, max = Number.POSITIVE_INFINITY, integer = false) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > max || (integer && !Number.isInteger(n))) {
      problems.push({
        key,
        message: `expected ${integer ? 'an integer' : 'a number'} from 0${Number.isFinite(max) ? ` to ${max}` : ''}, got "${v}"`,
      });
      return undefined;
    }
    return n;
  };
  for (const [key, v] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(ANNOTATION_PREFIX)) continue;
    switch (key) {
      case 'wasmgate.io/cpu-ms':
        limits.cpuMs = number(key, v);
        break;
      case 'wasmgate.io/start-cpu-ms':
        limits.startCpuMs = number(key, v);
        break;
      case 'wasmgate.io/memory-mib':
        limits.memoryMiB = number(key, v, MAX_MEMORY_MIB, true);
        break;
      case 'wasmgate.io/trace':
        settings.trace = bool(key, v);
        break;
      case 'wasmgate.io/capabilities': {
        allow = list(v);
        const unknown = allow.filter((n) => !names.has(n));
        if (unknown.length > 0)
          problems.push({
            key,
            message: `unknown capabilit${unknown.length > 1 ? 'ies' : 'y'} ${unknown.join(', ')}`,
          });
        break;
      }
      case 'wasmgate.io/capabilities-on-violation':
        if (v === 'refuse' || v === 'error') onViolation = v;
        else problems.push({ key, message: `expected "refuse" or "error", got "${v}"` });
        break;
      case 'wasmgate.io/sanitize-headers':
        sanitize = {
          ...sanitize,
          headers:
            v.trim() === 'default' ? [...SUGGESTED_HIDDEN_HEADERS] : list(v).map((h) => h.toLowerCase()),
        };
        break;
      case 'wasmgate.io/sanitize-source-address':
        sanitize = { ...sanitize, sourceAddress: bool(key, v) ?? false };
        break;
      default:
        problems.push({
          key,
          message: `unknown wasmgate annotation (known: ${Object.keys(SANDBOX_ANNOTATIONS).join(', ')})`,
        });
    }
  }
  for (const k of Object.keys(limits) as Array<keyof Limits>) if (limits[k] === undefined) delete limits[k];
  if (Object.keys(limits).length > 0) settings.limits = limits;
  if (allow !== undefined) settings.capabilities = { allow, onViolation: onViolation ?? 'refuse' };
  else if (onViolation !== undefined)
    problems.push({
      key: 'wasmgate.io/capabilities-on-violation',
      message: 'needs wasmgate.io/capabilities (the allow-list)',
    });
  if (sanitize) settings.sanitize = sanitize;
  if (settings.trace === undefined) delete settings.trace;
  return { settings, problems };
}

/** The settings a plugin runs with: its own, else the gateway's defaults, else the built-in defaults. */
export function effectiveSettings(
  own: SandboxSettings,
  defaults: SandboxSettings = {},
): Required<Pick<SandboxSettings, 'limits' | 'trace'>> & SandboxSettings {
  return {
    limits: { ...DEFAULT_LIMITS, ...defaults.limits, ...own.limits },
    trace: own.trace ?? defaults.trace ?? false,
    capabilities: own.capabilities ?? defaults.capabilities,
    sanitize: own.sanitize ?? defaults.sanitize,
  };
}

// A plugin's sandbox settings — CPU and memory limits, the trace switch, capabilities and header
// sanitizing — declared once, as `sandboxSchema`. Every form reads through it: the fields of Envoy-style wasm
// entries, the gateway-wide pluginDefaults, and a WasmPlugin's annotations (Istio has no such fields, and
// annotations keep the resource valid for Istio), which are mapped onto the same fields and validated by
// the same schema. What comes out is the host's SandboxOptions.

import { z } from 'zod';
import { capabilityNames } from '../host/capabilities.js';
import { DEFAULT_LIMITS, MAX_HOST_MEMORY_MIB, MAX_MEMORY_MIB } from '../host/limits.js';
import type { SandboxOptions } from '../host/plugin.js';
import { SUGGESTED_HIDDEN_HEADERS } from '../host/sanitize.js';

const CAPABILITY_NAMES = new Set(capabilityNames());

export const limitsSchema = z
  .object({
    /** Linear memory per VM, MiB (0: no limit). */
    memoryMiB: z.number().int().min(0).max(MAX_MEMORY_MIB).optional(),
    /** Host memory the VM's filters may make the host keep (shared data, queues, metrics, callouts), MiB (0: no limit). */
    hostMemoryMiB: z.number().int().min(0).max(MAX_HOST_MEMORY_MIB).optional(),
    /** Time one callback may run, ms (0: no limit). */
    cpuMs: z.number().min(0).optional(),
    /** Time the start functions, proxy_on_vm_start and proxy_on_configure may run, ms (0: no limit). */
    startCpuMs: z.number().min(0).optional(),
    /** Leak guard: replace the VM once its linear memory is past this, MiB (0: off). */
    leakMemoryMiB: z.number().int().min(0).max(MAX_MEMORY_MIB).optional(),
    /** Leak guard: replace the VM once its memory grew by more than this within the window, MiB (0: off). */
    leakGrowthMiB: z.number().int().min(0).max(MAX_MEMORY_MIB).optional(),
    /** The growth window, in streams. */
    leakWindowStreams: z.number().int().min(1).optional(),
    /** The growth window in minutes as well (0: streams only). */
    leakWindowMinutes: z.number().min(0).optional(),
  })
  .strict();

export const capabilitiesSchema = z
  .object({
    allow: z.array(
      z.string().refine((n) => CAPABILITY_NAMES.has(n), {
        message:
          'unknown capability: expected a group (logging, timers, buffers, headers, stream, http_call, grpc_call, shared_data, shared_queue, metrics, properties, foreign_function, wasi) or a host function name',
      }),
    ),
    onViolation: z.enum(['refuse', 'error']).default('refuse'),
  })
  .strict();

/** `true`: hide authorization, cookie and proxy-authorization; or the headers (and client address) to hide. */
export const sanitizeSchema = z.union([
  z.boolean(),
  z
    .object({
      headers: z.array(z.string().min(1)).default([]),
      sourceAddress: z.boolean().default(false),
    })
    .strict(),
]);

/** The sandbox fields, as a plugin entry or pluginDefaults writes them. */
export const sandboxSchema = z
  .object({
    limits: limitsSchema.optional(),
    trace: z.boolean().optional(),
    capabilities: capabilitiesSchema.optional(),
    sanitize: sanitizeSchema.optional(),
  })
  .strict();

export type SandboxConfig = z.infer<typeof sandboxSchema>;

/** What a plugin's sandbox resolves to (the host's plugin options). */
export type SandboxSettings = SandboxOptions;

/** The settings a sandbox configuration gives: `sanitize: true` names the suggested headers. */
export function sandboxFromConfig(c: SandboxConfig): SandboxSettings {
  const out: SandboxSettings = {};
  if (c.limits) out.limits = c.limits;
  if (c.trace !== undefined) out.trace = c.trace;
  if (c.capabilities) out.capabilities = c.capabilities;
  if (c.sanitize !== undefined)
    out.sanitize =
      typeof c.sanitize === 'boolean'
        ? c.sanitize
          ? { headers: [...SUGGESTED_HIDDEN_HEADERS], sourceAddress: false }
          : {}
        : {
            headers: c.sanitize.headers.map((h) => h.toLowerCase()),
            sourceAddress: c.sanitize.sourceAddress,
          };
  return out;
}

export const ANNOTATION_PREFIX = 'wasmgate.io/';

type AnnotationValue = { value: unknown } | { problem: string };

const number = (v: string): AnnotationValue =>
  v.trim() !== '' && Number.isFinite(Number(v))
    ? { value: Number(v) }
    : { problem: `expected a number, got "${v}"` };
const bool = (v: string): AnnotationValue =>
  v === 'true' || v === 'false'
    ? { value: v === 'true' }
    : { problem: `expected "true" or "false", got "${v}"` };
const list = (v: string): AnnotationValue => ({
  value: v
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== ''),
});
const text = (v: string): AnnotationValue => ({ value: v.trim() });
const headers = (v: string): AnnotationValue =>
  v.trim() === 'default' ? { value: [...SUGGESTED_HIDDEN_HEADERS] } : list(v);

/** Each annotation: the sandboxSchema field it sets, how its text is read, and what it holds. */
export const SANDBOX_ANNOTATIONS: Record<
  string,
  { field: readonly [keyof SandboxConfig, string?]; read: (v: string) => AnnotationValue; help: string }
> = {
  'wasmgate.io/cpu-ms': {
    field: ['limits', 'cpuMs'],
    read: number,
    help: 'CPU time per callback, ms (0: no limit)',
  },
  'wasmgate.io/start-cpu-ms': {
    field: ['limits', 'startCpuMs'],
    read: number,
    help: 'CPU time to start (start functions, proxy_on_vm_start, proxy_on_configure), ms',
  },
  'wasmgate.io/memory-mib': {
    field: ['limits', 'memoryMiB'],
    read: number,
    help: `memory limit, MiB (0: no limit; at most ${MAX_MEMORY_MIB})`,
  },
  'wasmgate.io/host-memory-mib': {
    field: ['limits', 'hostMemoryMiB'],
    read: number,
    help: `host memory limit (shared data, queues, metrics, callouts), MiB (0: no limit; at most ${MAX_HOST_MEMORY_MIB})`,
  },
  'wasmgate.io/leak-memory-mib': {
    field: ['limits', 'leakMemoryMiB'],
    read: number,
    help: 'leak guard: replace the VM once its memory is past this, MiB (0: off)',
  },
  'wasmgate.io/leak-growth-mib': {
    field: ['limits', 'leakGrowthMiB'],
    read: number,
    help: 'leak guard: replace the VM once its memory grew by more than this within the window, MiB (0: off)',
  },
  'wasmgate.io/leak-window-streams': {
    field: ['limits', 'leakWindowStreams'],
    read: number,
    help: 'leak guard: the growth window, in streams (default 1000)',
  },
  'wasmgate.io/leak-window-minutes': {
    field: ['limits', 'leakWindowMinutes'],
    read: number,
    help: 'leak guard: the growth window in minutes as well (0: streams only)',
  },
  'wasmgate.io/trace': {
    field: ['trace'],
    read: bool,
    help: 'true: log every call between the VM and the host',
  },
  'wasmgate.io/capabilities': {
    field: ['capabilities', 'allow'],
    read: list,
    help: 'comma-separated host function groups and names the module may use',
  },
  'wasmgate.io/capabilities-on-violation': {
    field: ['capabilities', 'onViolation'],
    read: text,
    help: 'refuse (default) or error',
  },
  'wasmgate.io/sanitize-headers': {
    field: ['sanitize', 'headers'],
    read: headers,
    help: 'comma-separated headers hidden from the filter, or "default"',
  },
  'wasmgate.io/sanitize-source-address': {
    field: ['sanitize', 'sourceAddress'],
    read: bool,
    help: 'true: hide the client address',
  },
};

function annotationFor(path: readonly PropertyKey[]): string | undefined {
  return Object.entries(SANDBOX_ANNOTATIONS).find(([, a]) =>
    a.field.every((f, i) => f === undefined || path[i] === f),
  )?.[0];
}

/** Settings from a WasmPlugin's annotations, checked by sandboxSchema; problems name the annotation. */
export function sandboxFromAnnotations(annotations: Record<string, string> | undefined): {
  settings: SandboxSettings;
  problems: Array<{ key: string; message: string }>;
} {
  const problems: Array<{ key: string; message: string }> = [];
  const raw: Record<string, Record<string, unknown> | unknown> = {};
  for (const [key, v] of Object.entries(annotations ?? {})) {
    if (!key.startsWith(ANNOTATION_PREFIX)) continue;
    const a = SANDBOX_ANNOTATIONS[key];
    if (!a) {
      problems.push({
        key,
        message: `unknown wasmgate annotation (known: ${Object.keys(SANDBOX_ANNOTATIONS).join(', ')})`,
      });
      continue;
    }
    const r = a.read(v);
    if ('problem' in r) {
      problems.push({ key, message: r.problem });
      continue;
    }
    const [top, sub] = a.field;
    if (sub === undefined) raw[top] = r.value;
    else raw[top] = { ...(raw[top] as Record<string, unknown> | undefined), [sub]: r.value };
  }
  const capabilities = raw.capabilities as Record<string, unknown> | undefined;
  if (capabilities && capabilities.allow === undefined) {
    problems.push({
      key: 'wasmgate.io/capabilities-on-violation',
      message: 'needs wasmgate.io/capabilities (the allow-list)',
    });
    delete raw.capabilities;
  }
  const parsed = sandboxSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = annotationFor(issue.path) ?? ANNOTATION_PREFIX;
      // The value at fault: one entry of a list, else the annotation's text.
      const at = issue.path.reduce<unknown>((o, k) => (o as Record<PropertyKey, unknown>)?.[k], raw);
      const got = typeof at === 'string' ? at : (annotations?.[key] ?? '');
      problems.push({ key, message: `${issue.message} (got "${got}")` });
    }
    return { settings: {}, problems };
  }
  return { settings: sandboxFromConfig(parsed.data), problems };
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

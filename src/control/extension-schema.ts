// Envoy's other places for a Wasm module besides the HTTP filter chain: access loggers
// (envoy.access_loggers.wasm) and bootstrap services (envoy.bootstrap.wasm, a WasmService). Each entry is
// written either as Envoy writes it (name + typed_config around a PluginConfig) or in wasmgate's own shape
// (url, configuration, …, the sandbox fields). The gateway schema takes the entries as they are; load-config
// checks them one by one with these, so that an error names the entry and its field.

import { z } from 'zod';
import { FAIL_STRATEGIES } from '../host/plugin.js';
import { sandboxSchema } from './sandbox-settings.js';
import { envoyWasmSchema, pullPolicy, sha256Pin } from './schema.js';

export const WASM_ACCESS_LOG_TYPE =
  'type.googleapis.com/envoy.extensions.access_loggers.wasm.v3.WasmAccessLog';
export const WASM_SERVICE_TYPE = 'type.googleapis.com/envoy.extensions.wasm.v3.WasmService';

const matchLabels = z
  .object({ matchLabels: z.record(z.string(), z.string()).default({}) })
  .strict()
  .optional();

/** A PluginConfig field that only a filter has: refused rather than ignored. */
const FILTER_ONLY = 'allow_on_headers_stop_iteration';
const noFilterField = <T extends { typed_config: { config: Record<string, unknown> } }>(
  what: string,
): [(e: T) => boolean, { message: string; path: PropertyKey[] }] => [
  (e) => e.typed_config.config[FILTER_ONLY] === undefined,
  { message: `a filter setting, not one of ${what}`, path: ['typed_config', 'config', FILTER_ONLY] },
];

/** An access_log entry of Envoy's HTTP connection manager (or TCP proxy) running a Wasm module. */
export const envoyAccessLogSchema = z
  .object({
    /** envoy.wasm_access_log is the name Envoy still registers it under, besides the current one. */
    name: z.enum(['envoy.access_loggers.wasm', 'envoy.wasm_access_log']),
    typed_config: z.object({ '@type': z.literal(WASM_ACCESS_LOG_TYPE), config: envoyWasmSchema }).strict(),
  })
  .strict()
  .refine(...noFilterField('an access logger'));

/** In a listener: it logs that listener's streams, so a selector would mean nothing. */
export const listenerEnvoyAccessLogSchema = envoyAccessLogSchema.refine(
  (e) => e.typed_config.config.selector === undefined,
  { message: "a listener's own access logger has no selector", path: ['typed_config', 'config', 'selector'] },
);

/** Envoy's bootstrap_extensions entry for a Wasm service. */
export const envoyServiceSchema = z
  .object({
    name: z.literal('envoy.bootstrap.wasm').optional(),
    typed_config: z
      .object({
        '@type': z.literal(WASM_SERVICE_TYPE),
        /** Envoy: one VM on the main thread (true) or one per worker thread (false, the default). */
        singleton: z.boolean().default(false),
        config: envoyWasmSchema,
      })
      .strict(),
  })
  .strict()
  .refine(...noFilterField('a service'))
  .refine((e) => e.typed_config.config.selector === undefined, {
    message: 'a service runs once for the proxy: it has no selector',
    path: ['typed_config', 'config', 'selector'],
  });

/** wasmgate's own shape of a logger or service: the module and its settings, in the gateway's casing. */
const nativeFields = {
  name: z.string().min(1),
  /** As a WasmPlugin's url: a path, file://, https://, or an image (oci://, or a reference without a scheme). */
  url: z.string().min(1),
  sha256: sha256Pin.optional(),
  imagePullPolicy: pullPolicy.optional(),
  rootId: z.string().default(''),
  /** Modules with the same vm_id share shared data and queues (and a VM, when module and settings match). */
  vmId: z.string().default(''),
  /** proxy_on_configure's configuration: a string as it is, anything else as JSON. */
  configuration: z.unknown().optional(),
  /** proxy_on_vm_start's configuration. */
  vmConfiguration: z.string().optional(),
  env: z.record(z.string(), z.string()).default({}),
  /** FAIL_RELOAD replaces a failed VM; with the others a failed logger or service stays failed. */
  failStrategy: z.enum(FAIL_STRATEGIES).default('FAIL_CLOSE'),
  /** A public key (PEM or path) the module's signature must verify with. */
  verificationKey: z.string().min(1).optional(),
  ...sandboxSchema.shape,
};

export const nativeAccessLoggerSchema = z
  .object({
    ...nativeFields,
    /** Top-level entries only: the listeners (by label) whose streams it logs; all when absent. */
    selector: matchLabels,
  })
  .strict();

/** In a listener: it logs that listener's streams (no selector). */
export const listenerNativeAccessLoggerSchema = z.object(nativeFields).strict();

export const nativeServiceSchema = z
  .object({
    ...nativeFields,
    /** As Envoy's WasmService.singleton: a VM of its own (true), or shared with filters of its vm_id (false). */
    singleton: z.boolean().default(false),
  })
  .strict();

export type EnvoyAccessLogEntry = z.infer<typeof envoyAccessLogSchema>;
export type EnvoyServiceEntry = z.infer<typeof envoyServiceSchema>;
export type NativeAccessLogger = z.infer<typeof nativeAccessLoggerSchema>;
export type NativeService = z.infer<typeof nativeServiceSchema>;

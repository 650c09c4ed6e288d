// Access loggers and services as PluginSpecs, from either shape (extension-schema.ts). They join the filters
// in one plugin set, so that a logger or a service shares a VM (and shared data and queues) with the filters
// of its vm_id, and is kept, reconfigured or replaced by a configuration change as a filter is.

import type { z } from 'zod';
import { formatPath } from './config-error.js';
import {
  envoyAccessLogSchema,
  envoyServiceSchema,
  listenerEnvoyAccessLogSchema,
  listenerNativeAccessLoggerSchema,
  type NativeAccessLogger,
  type NativeService,
  nativeAccessLoggerSchema,
  nativeServiceSchema,
} from './extension-schema.js';
import { fromEnvoyWasm, type PluginSpec, verificationKeyFrom, wasmPluginUrl } from './plugin-spec.js';
import { sandboxFromConfig } from './sandbox-settings.js';

/** Validates `entry` at `at`, recording what is wrong; undefined when it is not valid. */
export type Validate = <T>(schema: z.ZodType<T>, entry: unknown, at: PropertyKey[]) => T | undefined;

/** An entry written as Envoy writes it: a typed_config around the module's PluginConfig. */
const isEnvoyShape = (entry: unknown) =>
  typeof entry === 'object' && entry !== null && 'typed_config' in entry;

/**
 * The access loggers of the gateway (`accessLoggers`, each applying to the listeners its selector picks) or
 * of one listener (`listeners[i].accessLoggers`).
 */
export function accessLoggerSpecs(
  entries: readonly unknown[],
  at: PropertyKey[],
  listener: string | undefined,
  baseDir: string,
  env: NodeJS.ProcessEnv,
  validate: Validate,
): PluginSpec[] {
  const specs: PluginSpec[] = [];
  entries.forEach((entry, i) => {
    const where = [...at, i];
    let spec: PluginSpec | undefined;
    if (isEnvoyShape(entry)) {
      const e = validate(listener ? listenerEnvoyAccessLogSchema : envoyAccessLogSchema, entry, where);
      if (!e) return;
      const c = e.typed_config.config;
      spec = { ...fromEnvoyWasm(c, i, baseDir, env), name: c.name ?? `access-log-${i}` };
    } else {
      const n: NativeAccessLogger | undefined = validate(
        listener ? listenerNativeAccessLoggerSchema : nativeAccessLoggerSchema,
        entry,
        where,
      );
      if (!n) return;
      spec = { ...fromNative(n, baseDir), matchLabels: n.selector?.matchLabels ?? {} };
    }
    // Keys of their own kind (a WasmPlugin's is namespace/name): the admin API's /plugins/<ns>/<name> never names one.
    const scope = listener === undefined ? '' : `listener:${listener}:`;
    specs.push({
      ...spec,
      key: `${scope}access-logger:${spec.name}`,
      role: 'accessLogger',
      ...(listener === undefined ? {} : { listener }),
      origin: formatPath(where),
    });
  });
  return specs;
}

/** The services (`services`): Envoy's bootstrap WasmService, or wasmgate's shape. */
export function serviceSpecs(
  entries: readonly unknown[],
  baseDir: string,
  env: NodeJS.ProcessEnv,
  validate: Validate,
): PluginSpec[] {
  const specs: PluginSpec[] = [];
  entries.forEach((entry, i) => {
    const where = ['services', i];
    let spec: PluginSpec;
    let singleton: boolean;
    if (isEnvoyShape(entry)) {
      const e = validate(envoyServiceSchema, entry, where);
      if (!e) return;
      const c = e.typed_config.config;
      spec = { ...fromEnvoyWasm(c, i, baseDir, env), name: c.name ?? `service-${i}` };
      singleton = e.typed_config.singleton;
    } else {
      const n = validate(nativeServiceSchema, entry, where);
      if (!n) return;
      spec = fromNative(n, baseDir);
      singleton = n.singleton;
    }
    specs.push({
      ...spec,
      key: `service:${spec.name}`,
      role: 'service',
      singleton,
      origin: formatPath(where),
    });
  });
  return specs;
}

function fromNative(n: NativeAccessLogger | NativeService, baseDir: string): PluginSpec {
  const c = n.configuration;
  return {
    key: n.name,
    name: n.name,
    url: wasmPluginUrl(n.url, baseDir),
    sha256: n.sha256,
    imagePullPolicy: n.imagePullPolicy,
    rootId: n.rootId,
    vmId: n.vmId,
    configuration: c === undefined ? '' : typeof c === 'string' ? c : JSON.stringify(c),
    vmConfiguration: n.vmConfiguration ?? '',
    env: { ...n.env },
    phase: 'UNSPECIFIED_PHASE',
    priority: 0,
    failStrategy: n.failStrategy,
    matchLabels: {},
    match: [],
    ...verificationKeyFrom(n.verificationKey, baseDir),
    ...sandboxFromConfig(n),
  };
}

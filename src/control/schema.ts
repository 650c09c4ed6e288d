// The gateway configuration (YAML), validated up front: an unknown field, a wrong type or a bad value is
// refused with its path, before anything starts.

import { z } from 'zod';
import { hostcallNames } from '../abi/hostcalls.js';
import { isGatedCallback } from '../host/capabilities.js';
import { FAIL_STRATEGIES } from '../host/plugin.js';
import { DEFAULT_TIME_SAMPLING } from '../host/plugin-cost.js';
import { defaultPolicy, policySchema } from '../trust/policy.js';
import { sandboxFromAnnotations, sandboxSchema } from './sandbox-settings.js';

const port = z.number().int().min(0).max(65535);
const durationMs = z.number().int().min(0);

const headerMatch = z
  .object({
    name: z.string().min(1),
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: z.string().optional(),
    present: z.boolean().optional(),
    invert: z.boolean().optional(),
  })
  .strict();

const routeMatch = z
  .object({
    prefix: z.string().startsWith('/').optional(),
    path: z.string().startsWith('/').optional(),
    regex: z.string().optional(),
    host: z.string().optional(),
    methods: z.array(z.string().min(1)).optional(),
    headers: z.array(headerMatch).optional(),
  })
  .strict()
  .refine((m) => [m.prefix, m.path, m.regex].filter((v) => v !== undefined).length <= 1, {
    message: 'give at most one of prefix, path, regex',
  });

const directResponse = z
  .object({
    status: z.number().int().min(100).max(599),
    body: z.string().optional(),
    headers: z.record(z.string(), z.string()).optional(),
  })
  .strict();

/** Envoy's Metadata: filter_metadata by filter name, each a JSON object (a protobuf Struct). */
const metadata = z
  .object({ filter_metadata: z.record(z.string(), z.record(z.string(), z.unknown())).default({}) })
  .strict();

/** A plugin on one route: off, or with a configuration of the route's own (a string as is, else JSON). */
const routePlugin = z
  .object({ disabled: z.boolean().optional(), configuration: z.unknown().optional() })
  .strict()
  .refine((p) => (p.disabled === true) !== (p.configuration !== undefined), {
    message: 'give either disabled: true or a configuration',
  });

const route = z
  .object({
    name: z.string().optional(),
    /** What filters read as route_metadata (xds.route_metadata). */
    metadata: metadata.optional(),
    match: routeMatch.default({ prefix: '/' }),
    cluster: z.string().optional(),
    prefixRewrite: z.string().optional(),
    timeoutMs: durationMs.optional(),
    retries: z
      .object({
        attempts: z.number().int().min(0).max(10),
        retryOn: z
          .array(z.enum(['connect-failure', 'reset', '5xx', 'gateway-error']))
          .default(['connect-failure', 'reset']),
      })
      .strict()
      .optional(),
    /** Request/response bytes a filter may make the proxy buffer (Envoy: 413 / 500 past it). */
    bufferLimitBytes: z.number().int().min(1).optional(),
    directResponse: directResponse.optional(),
    /** Per-route plugin settings, by plugin key (a WasmPlugin's namespace/name, a wasm filter's name). */
    plugins: z.record(z.string().min(1), routePlugin).optional(),
  })
  .strict()
  .refine((r) => (r.cluster === undefined) !== (r.directResponse === undefined), {
    message: 'a route needs exactly one of cluster or directResponse',
  });

const endpoint = z.union([
  z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'expected host:port'),
  z.object({ address: z.string().min(1), port }).strict(),
]);

const cluster = z
  .object({
    name: z.string().min(1),
    /** What filters read as cluster_metadata (xds.cluster_metadata). */
    metadata: metadata.optional(),
    endpoints: z.array(endpoint).min(1),
    connectTimeoutMs: durationMs.default(5000),
    /** How to speak to the endpoints: HTTP/1.1, HTTP/2 with prior knowledge (h2c), or HTTP/2 over TLS. */
    protocol: z.enum(['http1', 'h2c', 'h2']).default('http1'),
    /** Connections per endpoint (HTTP/1.1; HTTP/2 multiplexes over one). */
    maxConnections: z.number().int().min(1).default(64),
    /** Requests that may wait for a connection (HTTP/1.1) before the next is refused with 503 UO (Envoy's circuit breaker). */
    maxPendingRequests: z.number().int().min(0).default(1024),
    keepAliveTimeoutMs: durationMs.default(60000),
    outlier: z
      .object({
        consecutiveFailures: z.number().int().min(1).default(5),
        ejectionMs: durationMs.default(30000),
      })
      .strict()
      .optional(),
    tls: z.object({ caFile: z.string().optional(), insecure: z.boolean().optional() }).strict().optional(),
  })
  .strict();

/** Envoy's network wasm filter entry (envoy.filters.network.wasm), as it sits in a listener's filter chain. */
export const NETWORK_WASM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.wasm.v3.Wasm';
const networkWasmFilter = z
  .object({
    name: z.literal('envoy.filters.network.wasm'),
    typed_config: z.object({ '@type': z.literal(NETWORK_WASM_TYPE), config: z.unknown() }).strict(),
  })
  .strict();

/** A TCP listener's proxying (Envoy's tcp_proxy) and its network filters. */
const tcpProxy = z
  .object({
    /** The cluster connections are proxied to. */
    cluster: z.string().min(1),
    /** Bytes a stopped network filter may hold per direction before the side feeding it is paused (Envoy's per_connection_buffer_limit_bytes). */
    bufferLimitBytes: z.number().int().min(1024).default(1_048_576),
    /** Envoy's network wasm filters, in order; with the WasmPlugins of type NETWORK that apply, ordered as Istio orders plugins (these have no phase). */
    filters: z.array(networkWasmFilter).default([]),
  })
  .strict();

const listener = z
  .object({
    name: z.string().min(1),
    address: z.string().default('127.0.0.1'),
    port,
    /** http1, h2c (HTTP/2 prior knowledge), auto (with tls: ALPN h2 + http/1.1), or tcp (a TCP proxy: `tcp`). */
    protocol: z.enum(['http1', 'h2c', 'auto', 'tcp']).default('auto'),
    /** protocol tcp: where connections go, and their network filters. */
    tcp: tcpProxy.optional(),
    tls: z.object({ certFile: z.string(), keyFile: z.string() }).strict().optional(),
    labels: z.record(z.string(), z.string()).default({}),
    /** Envoy's traffic direction, what filters read as listener_direction (Istio's stats tell sidecar sides apart by it). */
    direction: z.enum(['UNSPECIFIED', 'INBOUND', 'OUTBOUND']).default('UNSPECIFIED'),
    routes: z.array(route).optional(),
    /** A connection's first request head must arrive within this (Envoy's request_headers_timeout), ms; 0: none. */
    requestHeadersTimeoutMs: durationMs.default(60_000),
    /** A request (head and body) must arrive within this (Envoy's request_timeout), ms; 0: none. */
    requestTimeoutMs: durationMs.default(300_000),
    /** A connection with no request under way (tcp: no bytes either way) is closed after this (Envoy's idle_timeout; HTTP/2: GOAWAY), ms; 0: never. */
    idleTimeoutMs: durationMs.default(3_600_000),
    /** Envoy's normalize_path: RFC 3986 dot segments resolved before routing and filters. */
    normalizePath: z.boolean().default(true),
    /** Envoy's merge_slashes: runs of slashes in the path merged into one. */
    mergeSlashes: z.boolean().default(true),
    /** Wasm access loggers of this listener's streams (checked one by one: src/control/extension-schema.ts). */
    accessLoggers: z.array(z.unknown()).default([]),
  })
  .strict();

// ---- sandboxing (wasmgate extensions): limits, trace, capabilities, sanitize --------------------------

const HOST_FUNCTIONS = new Set([...hostcallNames().env, ...hostcallNames().wasi]);

/**
 * Envoy's capability_restriction_config: allowed host functions and callbacks by name (their
 * SanitizationConfig is ignored, as in Envoy). Names are checked here, each error at its own key (a key
 * refinement inside the record would be reported as a bare "Invalid input").
 */
const capabilityRestrictionSchema = z
  .object({ allowed_capabilities: z.record(z.string(), z.unknown()) })
  .strict()
  .superRefine((c, ctx) => {
    for (const name of Object.keys(c.allowed_capabilities))
      if (!HOST_FUNCTIONS.has(name) && !isGatedCallback(name))
        ctx.addIssue({
          code: 'custom',
          message: `unknown host function or proxy_on_* callback "${name}"`,
          path: ['allowed_capabilities', name],
        });
  });

/** Gateway-wide defaults for every plugin: a plugin's own settings replace them field by field (limits) or whole. */
export const pluginDefaultsSchema = sandboxSchema;

const envVar = z
  .object({
    name: z.string().min(1),
    value: z.string().optional(),
    valueFrom: z.enum(['INLINE', 'HOST']).default('INLINE'),
  })
  .strict();

/** A module's sha256, as WasmPlugin's `sha256` pins it. */
export const sha256Pin = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 lower-case hex digits');
/** Istio's image pull policies. */
export const pullPolicy = z.enum(['UNSPECIFIED_POLICY', 'IfNotPresent', 'Always']);

const istioMetadata = z
  .object({
    name: z.string().min(1),
    namespace: z.string().default('default'),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();

/** A Gateway API policy target (Istio's PolicyTargetReference). Which kinds map to listeners: checkTargetRefs. */
const targetRef = z
  .object({
    group: z.string().optional(),
    kind: z.string().min(1),
    name: z.string().min(1),
    namespace: z.string().optional(),
  })
  .strict();

/** Where a WasmPlugin or TrafficExtension applies and in which order: the fields both resources share. */
const placementFields = {
  selector: z
    .object({ matchLabels: z.record(z.string(), z.string()).default({}) })
    .strict()
    .optional(),
  targetRefs: z.array(targetRef).min(1).optional(),
  phase: z.enum(['UNSPECIFIED_PHASE', 'AUTHN', 'AUTHZ', 'STATS']).default('UNSPECIFIED_PHASE'),
  priority: z.number().int().optional(),
  match: z
    .array(
      z
        .object({
          mode: z.enum(['UNDEFINED', 'CLIENT', 'SERVER', 'CLIENT_AND_SERVER']).default('UNDEFINED'),
          ports: z.array(z.object({ number: port }).strict()).optional(),
        })
        .strict(),
    )
    .optional(),
};

/** The module and how it runs: WasmPlugin's own fields, TrafficExtension's spec.wasm. */
const wasmModuleFields = {
  url: z.string().min(1),
  sha256: sha256Pin.optional(),
  imagePullPolicy: pullPolicy.optional(),
  imagePullSecret: z.string().optional(),
  pluginName: z.string().optional(),
  pluginConfig: z.unknown().optional(),
  failStrategy: z.enum(FAIL_STRATEGIES).default('FAIL_CLOSE'),
  vmConfig: z
    .object({ env: z.array(envVar).default([]) })
    .strict()
    .optional(),
  /** HTTP filters run on HTTP listeners, NETWORK ones (L4 filters) on TCP listeners. */
  type: z.enum(['HTTP', 'NETWORK', 'UNSPECIFIED_PLUGIN_TYPE']).default('HTTP'),
  verificationKey: z.string().optional(),
};

/**
 * What wasmgate cannot honour of a resource's placement, each at its path: a target that is no listener (only
 * Gateways are), another namespace's target, selector and targetRefs together (Istio refuses that too).
 */
function checkPlacement(
  r: {
    metadata: { namespace: string };
    spec: { selector?: unknown; targetRefs?: Array<z.infer<typeof targetRef>> };
  },
  refPath: (i: number) => PropertyKey[],
  ctx: z.RefinementCtx,
): void {
  const refs = r.spec.targetRefs ?? [];
  if (r.spec.selector !== undefined && refs.length > 0)
    ctx.addIssue({
      code: 'custom',
      message: 'give selector or targetRefs, not both (as Istio)',
      path: ['spec', 'selector'],
    });
  refs.forEach((ref, i) => {
    const at = refPath(i);
    if (ref.kind !== 'Gateway')
      ctx.addIssue({
        code: 'custom',
        message: `kind ${ref.kind}: only a Gateway (gateway.networking.k8s.io) maps to wasmgate listeners (by name, or by the label gateway.networking.k8s.io/gateway-name); a Service (an ambient waypoint's) has no listener here`,
        path: [...at, 'kind'],
      });
    if (ref.group !== undefined && ref.group !== '' && ref.group !== 'gateway.networking.k8s.io')
      ctx.addIssue({
        code: 'custom',
        message: `group ${ref.group}: a Gateway's group is gateway.networking.k8s.io`,
        path: [...at, 'group'],
      });
    if (ref.namespace !== undefined && ref.namespace !== r.metadata.namespace)
      ctx.addIssue({
        code: 'custom',
        message: `namespace ${ref.namespace}: a target must be in the resource's own namespace (${r.metadata.namespace}), as in Istio`,
        path: [...at, 'namespace'],
      });
  });
}

/** Sandbox settings ride on annotations (wasmgate.io/...): neither Istio resource has such fields. */
function checkAnnotations(
  r: { metadata: { annotations?: Record<string, string> } },
  ctx: z.RefinementCtx,
): void {
  for (const p of sandboxFromAnnotations(r.metadata.annotations).problems)
    ctx.addIssue({ code: 'custom', message: p.message, path: ['metadata', 'annotations', p.key] });
}

/** Istio's WasmPlugin (extensions.istio.io/v1alpha1), the fields a proxy can honour. */
export const wasmPluginSchema = z
  .object({
    apiVersion: z.enum(['extensions.istio.io/v1alpha1', 'extensions.istio.io/v1beta1']),
    kind: z.literal('WasmPlugin'),
    metadata: istioMetadata,
    spec: z
      .object({
        ...placementFields,
        /** Deprecated by Istio for targetRefs: one target. */
        targetRef: targetRef.optional(),
        ...wasmModuleFields,
      })
      .strict(),
  })
  .strict()
  .superRefine((r, ctx) => {
    checkAnnotations(r, ctx);
    if (r.spec.targetRef !== undefined && r.spec.targetRefs !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'give targetRef or targetRefs, not both',
        path: ['spec', 'targetRef'],
      });
    if (r.spec.targetRef !== undefined)
      checkPlacement(
        { ...r, spec: { ...r.spec, targetRefs: [r.spec.targetRef] } },
        () => ['spec', 'targetRef'],
        ctx,
      );
    else checkPlacement(r, (i) => ['spec', 'targetRefs', i], ctx);
  });

/**
 * Istio's TrafficExtension (extensions.istio.io/v1alpha1, Istio 1.30, istio/istio#59052): WasmPlugin's
 * placement with the module under spec.wasm. Its other kind, spec.lua, cannot run here.
 */
export const trafficExtensionSchema = z
  .object({
    apiVersion: z.literal('extensions.istio.io/v1alpha1'),
    kind: z.literal('TrafficExtension'),
    metadata: istioMetadata,
    spec: z
      .object({
        ...placementFields,
        wasm: z.object(wasmModuleFields).strict().optional(),
        lua: z.unknown().optional(),
      })
      .strict(),
  })
  .strict()
  .superRefine((r, ctx) => {
    checkAnnotations(r, ctx);
    checkPlacement(r, (i) => ['spec', 'targetRefs', i], ctx);
    if (r.spec.lua !== undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'a Lua extension cannot run here: wasmgate runs Proxy-Wasm modules (spec.wasm) only',
        path: ['spec', 'lua'],
      });
    else if (r.spec.wasm === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'give spec.wasm (the module: url, pluginConfig, …)',
        path: ['spec', 'wasm'],
      });
  });

/** Either Istio resource, told apart by its kind (each reports its own errors). */
export function istioResourceSchema(kind: unknown) {
  return kind === 'TrafficExtension' ? trafficExtensionSchema : wasmPluginSchema;
}

const configurationValue = z.union([
  z.string(),
  z.object({ '@type': z.string().optional(), value: z.string() }).strict(),
]);

/** Envoy's wasm HTTP filter config (envoy.extensions.filters.http.wasm.v3.Wasm), in YAML. */
export const envoyWasmSchema = z
  .object({
    name: z.string().min(1).optional(),
    root_id: z.string().default(''),
    configuration: configurationValue.optional(),
    fail_open: z.boolean().default(false),
    /** Envoy (1.35+): a headers callback's Pause stops only the headers; body callbacks still run. */
    allow_on_headers_stop_iteration: z.boolean().optional(),
    failStrategy: z.enum(FAIL_STRATEGIES).optional(),
    vm_config: z
      .object({
        vm_id: z.string().default(''),
        runtime: z.string().optional(),
        code: z
          .object({
            local: z
              .object({ filename: z.string().min(1) })
              .strict()
              .optional(),
            remote: z
              .object({ http_uri: z.object({ uri: z.string() }).loose(), sha256: z.string().optional() })
              .strict()
              .optional(),
          })
          .strict(),
        configuration: configurationValue.optional(),
        environment_variables: z
          .object({
            host_env_keys: z.array(z.string()).optional(),
            key_values: z.record(z.string(), z.string()).optional(),
          })
          .strict()
          .optional(),
        allow_precompiled: z.boolean().optional(),
      })
      .strict(),
    /** wasmgate extension: which listeners (by label) get this filter; all when absent. */
    selector: z
      .object({ matchLabels: z.record(z.string(), z.string()).default({}) })
      .strict()
      .optional(),
    /** Envoy: the host functions the module may use (by name). */
    capability_restriction_config: capabilityRestrictionSchema.optional(),
    /** wasmgate extensions: CPU and memory limits, trace log, capabilities by group, header sanitizing. */
    ...sandboxSchema.shape,
    /** wasmgate extension, as WasmPlugin's verificationKey: a public key (PEM or path) the module's signature must verify with. */
    verification_key: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => !(c.capabilities && c.capability_restriction_config), {
    message: 'give capabilities or capability_restriction_config, not both',
  });

/** `- wasm: {...}` (Envoy's fields) or `- wasm: { config: {...} }` (as nested in Envoy's typed_config). */
export const plainWasmFilterSchema = z
  .object({ wasm: z.union([z.object({ config: envoyWasmSchema }).strict(), envoyWasmSchema]) })
  .strict();

export const gatewaySchema = z
  .object({
    admin: z
      .object({
        address: z.string().default('127.0.0.1'),
        port,
        /** The bearer token of every change (else one is generated at start and written to tokenFile). */
        token: z.string().min(16, 'at least 16 characters').optional(),
        /** Where a generated token is written (0600); default: a file per admin port (docs/security.md). */
        tokenFile: z.string().min(1).optional(),
        /** Host header names answered besides localhost and IP addresses. */
        allowedHosts: z.array(z.string().min(1).toLowerCase()).default([]),
      })
      .strict()
      .optional(),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'critical']).default('info'),
    accessLog: z
      .object({ enabled: z.boolean().default(true), path: z.string().default('stdout') })
      .strict()
      .default({ enabled: true, path: 'stdout' }),
    drainTimeoutMs: durationMs.default(10000),
    /** Per-plugin cost (docs/operations.md): one callback in `timeSampling` is timed (1: all, 0: none). */
    wasmCost: z
      .object({ timeSampling: z.number().int().min(0).max(1_000_000).default(DEFAULT_TIME_SAMPLING) })
      .strict()
      .default({ timeSampling: DEFAULT_TIME_SAMPLING }),
    /** What filters read as the node.* properties (Envoy's node identity). */
    node: z
      .object({
        id: z.string().default('wasmgate'),
        cluster: z.string().default('wasmgate'),
        /** A JSON object, as Envoy's node metadata (a Struct): Istio's LABELS is a map, for instance. */
        metadata: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .default({ id: 'wasmgate', cluster: 'wasmgate', metadata: {} }),
    listeners: z.array(listener).min(1),
    routes: z.array(route).default([]),
    clusters: z.array(cluster).default([]),
    /** Directories of WasmPlugin YAML files (one resource per file or `---`-separated), watched for changes. */
    pluginDirs: z.array(z.string()).default([]),
    /** Validated one by one (WasmPlugin or plain wasm), for precise errors. */
    plugins: z.array(z.unknown()).default([]),
    /** Wasm access loggers (envoy.access_loggers.wasm) of the listeners their selector picks; checked one by one. */
    accessLoggers: z.array(z.unknown()).default([]),
    /** Wasm services started with the proxy (Envoy's bootstrap WasmService); checked one by one. */
    services: z.array(z.unknown()).default([]),
    /** Limits, trace, capabilities and sanitizing for every plugin that does not set its own. */
    pluginDefaults: pluginDefaultsSchema.default({}),
    /** What may run: signatures, sources, size, capabilities, networks (src/trust/policy.ts, docs/security.md). */
    policy: policySchema.default(defaultPolicy()),
    /**
     * Crash bundles (read at start): when a callback traps, hits a limit, or a plugin fails to start, the
     * recorded calls of that stream and the module are written to `dir` (docs/operations.md).
     */
    crashBundles: z
      .object({
        dir: z.string().min(1),
        /** Bundles written per minute at most; more are dropped and counted. */
        maxPerMinute: z.number().int().min(1).default(6),
        /** One bundle's size, bytes: the module's bytes, then the oldest events, are left out to fit. */
        maxBytes: z
          .number()
          .int()
          .min(65536)
          .default(16 * 1024 * 1024),
        /** Bundles kept in `dir` (this process's newest). */
        maxFiles: z.number().int().min(1).default(100),
        /** Calls recorded per stream (older ones are dropped). */
        eventsPerStream: z.number().int().min(16).default(2000),
        /** Header names whose values are never written (default: authorization, cookie, set-cookie, proxy-authorization, x-api-key); sanitized headers are added. */
        redact: z.array(z.string().min(1)).optional(),
      })
      .strict()
      .optional(),
    /** How modules are fetched (read at start): each setting unset here comes from the environment. */
    fetch: z
      .object({
        /** Overall deadline of one module fetch, ms (WASMGATE_FETCH_TIMEOUT_MS; default 60 000). */
        timeoutMs: z.number().int().min(1).optional(),
        /** Per request to a registry or web server, ms (WASMGATE_REQUEST_TIMEOUT_MS; default 30 000). */
        requestTimeoutMs: z.number().int().min(1).optional(),
        /** PEM file of CA certificates for registries with a private CA (WASMGATE_REGISTRY_CA_FILE). */
        caFile: z.string().min(1).optional(),
        /** Hosts reached over plain HTTP or unverified TLS (WASMGATE_INSECURE_REGISTRIES). */
        insecureRegistries: z.array(z.string().min(1)).optional(),
        /** Module size limit, bytes (WASMGATE_MAX_MODULE_BYTES; default 100 MiB). */
        maxModuleBytes: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type GatewayConfig = z.infer<typeof gatewaySchema>;
export type ListenerConfig = GatewayConfig['listeners'][number];
export type RouteConfig = z.infer<typeof route>;
export type ClusterConfig = z.infer<typeof cluster>;
export type TcpProxyConfig = z.infer<typeof tcpProxy>;
export type WasmPluginResource = z.infer<typeof wasmPluginSchema>;
export type TrafficExtensionResource = z.infer<typeof trafficExtensionSchema>;
export type EnvoyWasmConfig = z.infer<typeof envoyWasmSchema>;
export type PluginDefaults = z.infer<typeof pluginDefaultsSchema>;

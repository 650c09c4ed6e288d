// What `wasmgate deploy` prints for an image as the hub serves it: Istio's WasmPlugin (the image by
// oci:// URL with the manifest digest Istio verifies), or Envoy's wasm HTTP filter with the module's
// https URL and sha256 (Envoy's remote data source cannot read an OCI image).

import type { ModuleInfo } from './catalogue.js';

export interface DeployTarget {
  /** host[:port] as clients reach the hub's registry. */
  registry: string;
  /** The hub's base URL (for module downloads). */
  hubUrl: string;
  repository: string;
  tag?: string;
  /** The image manifest's digest. */
  digest: string;
  module?: ModuleInfo;
}

export interface IstioOptions {
  name?: string;
  namespace?: string;
  selector?: Record<string, string>;
  phase?: 'AUTHN' | 'AUTHZ' | 'STATS' | 'UNSPECIFIED_PHASE';
  priority?: number;
  config?: unknown;
  rootId?: string;
}

export const ISTIO_PHASES = ['AUTHN', 'AUTHZ', 'STATS', 'UNSPECIFIED_PHASE'] as const;

/** A Kubernetes name from the repository's last component. */
function resourceName(repository: string): string {
  return (
    (repository.split('/').pop() ?? 'filter').replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '') || 'filter'
  );
}

export function istioWasmPlugin(t: DeployTarget, o: IstioOptions): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  if (o.selector && Object.keys(o.selector).length) spec.selector = { matchLabels: o.selector };
  spec.url = `oci://${t.registry}/${t.repository}${t.tag ? `:${t.tag}` : ''}`;
  spec.sha256 = t.digest.slice('sha256:'.length);
  spec.imagePullPolicy = 'IfNotPresent';
  if (o.phase) spec.phase = o.phase;
  if (o.priority !== undefined) spec.priority = o.priority;
  const rootId = o.rootId ?? t.module?.rootIds[0];
  if (rootId) spec.pluginName = rootId;
  if (o.config !== undefined) spec.pluginConfig = o.config;
  return {
    apiVersion: 'extensions.istio.io/v1alpha1',
    kind: 'WasmPlugin',
    metadata: {
      name: o.name ?? resourceName(t.repository),
      ...(o.namespace ? { namespace: o.namespace } : {}),
    },
    spec,
  };
}

export interface EnvoyOptions {
  name?: string;
  /** The Envoy cluster that reaches the hub. */
  cluster: string;
  config?: unknown;
  rootId?: string;
}

export function envoyWasmFilter(t: DeployTarget, o: EnvoyOptions): Record<string, unknown> {
  if (!t.module)
    throw new Error(
      `${t.repository}@${t.digest}: the hub found no Wasm module in this image (not a Wasm image?)`,
    );
  const rootId = o.rootId ?? t.module.rootIds[0];
  const config: Record<string, unknown> = {
    name: o.name ?? resourceName(t.repository),
    ...(rootId ? { root_id: rootId } : {}),
    vm_config: {
      runtime: 'envoy.wasm.runtime.v8',
      code: {
        remote: {
          http_uri: {
            uri: `${t.hubUrl}/api/v1/repos/${t.repository}/modules/${t.module.wasmDigest}`,
            cluster: o.cluster,
            timeout: '10s',
          },
          sha256: t.module.wasmDigest.slice('sha256:'.length),
        },
      },
    },
  };
  if (o.config !== undefined)
    config.configuration = {
      '@type': 'type.googleapis.com/google.protobuf.StringValue',
      value: typeof o.config === 'string' ? o.config : JSON.stringify(o.config),
    };
  return {
    name: 'envoy.filters.http.wasm',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', config },
  };
}

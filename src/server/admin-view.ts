// What the admin API shows of a running gateway and what it may change there: the Prometheus page (proxy,
// plugin and cluster series), the effective configuration, each plugin's state, the log level, plugin
// changes and trace switches. src/observe/admin.ts serves it; the gateway stays unaware of HTTP routes.

import type { LogLevelName } from '../abi/constants.js';
import type { Plugin } from '../host/plugin.js';
import { costReport } from '../host/plugin-cost.js';
import { type AdminSource, type ApplyAnswer, redact } from '../observe/admin.js';
import { writeCostSeries } from '../observe/plugin-cost-series.js';
import type { ApplyReport, Gateway } from './gateway.js';
import { Recordings } from './recordings.js';

/** Per plugin in /stats/prometheus: series kind, name, help, and where its value comes from. */
const PLUGIN_SERIES: ReadonlyArray<['counter' | 'gauge', string, string, (p: Plugin) => number]> = [
  ['counter', 'wasmgate_wasm_traps_total', 'Traps in wasm plugins', (p) => p.counters.failures],
  [
    'counter',
    'wasmgate_wasm_vm_reloads_total',
    'VMs replaced after a failure (FAIL_RELOAD)',
    (p) => p.counters.reloads,
  ],
  [
    'gauge',
    'wasmgate_wasm_plugin_failed',
    '1 when the plugin VM has failed',
    (p) => (p.state === 'failed' ? 1 : 0),
  ],
  [
    'counter',
    'wasmgate_wasm_cpu_limit_hits_total',
    'Callbacks stopped by the CPU limit (each also a trap)',
    (p) => p.counters.cpuLimitHits,
  ],
  [
    'counter',
    'wasmgate_wasm_memory_limit_hits_total',
    'memory.grow refused by the memory limit',
    (p) => p.counters.memoryLimitHits,
  ],
  [
    'counter',
    'wasmgate_wasm_capability_denials_total',
    'Host calls answered with an error because the capabilities do not allow them',
    (p) => p.counters.capabilityDenials,
  ],
  [
    'counter',
    'wasmgate_wasm_vm_leak_replacements_total',
    'VMs replaced by the leak guard (limits.leakMemoryMiB, leakGrowthMiB)',
    (p) => p.counters.leakReplacements,
  ],
  ['gauge', 'wasmgate_wasm_memory_bytes', 'Linear memory of the plugin VM', (p) => p.vm.memory?.size ?? 0],
  [
    'counter',
    'wasmgate_wasm_host_memory_limit_hits_total',
    'Host calls refused by the host-memory limit (shared data, queues, metrics, callouts)',
    (p) => p.counters.hostMemoryLimitHits,
  ],
  [
    'gauge',
    'wasmgate_wasm_host_memory_bytes',
    'Host memory kept for the plugin VM’s vm_id (shared data, queues, metric definitions, callouts)',
    (p) => p.vm.hostMemory.used,
  ],
];

const answer = (r: ApplyReport): ApplyAnswer => ({
  generation: r.generation,
  plugins: r.plugins,
  listeners: r.listeners,
});

export function adminView(g: Gateway): AdminSource {
  const recordings = new Recordings();
  const pluginByKey = (key: string) => g.plugins.find((l) => l.spec.key === key);
  return {
    ready: () => !g.draining,
    prometheus: () => {
      for (const p of g.plugins) {
        const labels = { plugin: p.spec.name };
        for (const [kind, name, help, value] of PLUGIN_SERIES)
          g.stats[kind](name, help, labels).value = value(p.plugin);
        writeCostSeries(g.stats, p.spec.name, p.plugin.cost);
      }
      for (const c of g.clusters.all()) {
        g.stats.gauge('wasmgate_cluster_healthy_endpoints', 'Endpoints not ejected', {
          cluster: c.name,
        }).value = c.healthyCount();
        g.stats.gauge(
          'wasmgate_cluster_upstream_rq_pending_active',
          'Requests waiting for an HTTP/1.1 connection (maxPendingRequests bounds them)',
          { cluster: c.name },
        ).value = c.pending.count;
      }
      g.stats.gauge('wasmgate_config_generation', 'Configuration generation serving new streams').value =
        g.generation;
      return g.stats.exposition(g.host.metrics);
    },
    configDump: () => ({
      file: g.resolved.file,
      generation: g.generation,
      config: redact(g.resolved.config),
      plugins: g.plugins.map((p) => redact({ ...p.spec, configuration: safeJson(p.spec.configuration) })),
    }),
    plugins: () =>
      g.plugins.map((p) => ({
        key: p.spec.key,
        name: p.spec.name,
        role: p.spec.role ?? 'filter',
        url: p.spec.url,
        sha256: p.plugin.module.sha256,
        module_source: p.source,
        root_id: p.spec.rootId,
        vm_id: p.spec.vmId,
        abi_version: p.plugin.abiVersion,
        vm_instance: p.plugin.vm.instance,
        root_context_id: p.plugin.root.id,
        phase: p.spec.phase,
        priority: p.spec.priority,
        fail_strategy: p.spec.failStrategy,
        state: p.plugin.state,
        failures: p.plugin.counters.failures,
        last_failure: p.plugin.counters.lastFailure ?? null,
        singleton: p.spec.role === 'service' ? (p.spec.singleton ?? false) : undefined,
        tick_period_ms: p.plugin.root.tickPeriodMs,
        reloads: p.plugin.counters.reloads,
        limits: p.plugin.limits,
        cpu_limit_hits: p.plugin.counters.cpuLimitHits,
        memory_limit_hits: p.plugin.counters.memoryLimitHits,
        memory_bytes: p.plugin.vm.memory?.size ?? 0,
        leak_replacements: p.plugin.counters.leakReplacements,
        host_memory_limit_hits: p.plugin.counters.hostMemoryLimitHits,
        host_memory_bytes: p.plugin.vm.hostMemory.used,
        trace: p.plugin.trace,
        capabilities: p.plugin.capabilities
          ? { allow: p.plugin.capabilities.allow, on_violation: p.plugin.capabilities.onViolation }
          : null,
        capability_denials: p.plugin.counters.capabilityDenials,
        sanitize: p.plugin.sanitizer
          ? { headers: [...p.plugin.sanitizer.headers], source_address: p.plugin.sanitizer.sourceAddress }
          : null,
        listeners: g.listenersUsing(p.plugin),
        cost: costReport(p.plugin.cost),
      })),
    logLevel: () => g.logLevel,
    setLogLevel: (l: LogLevelName) => g.setLogLevel(l),
    putPlugin: async (ns, name, body) => answer(await g.putPlugin(ns, name, body)),
    deletePlugin: async (ns, name) => {
      const r = await g.deletePlugin(ns, name);
      return r && answer(r);
    },
    reload: async () => answer(await g.reload()),
    pluginTrace: (key, enabled) => {
      const p = g.plugins.find((l) => l.spec.key === key);
      if (!p) return undefined;
      if (enabled !== undefined) {
        p.plugin.setTrace(enabled);
        g.logger.info({ plugin: p.spec.name, trace: enabled }, 'wasm trace switched');
      }
      return p.plugin.trace;
    },
    lastError: () => g.lastApplyError,
    recordPlugin: (key, streams) => {
      const p = pluginByKey(key);
      if (!p) return false;
      recordings.start(key, p.plugin, streams);
      g.logger.info({ plugin: p.spec.name, streams }, 'recording streams');
      return true;
    },
    takeRecordings: (key) => {
      const p = pluginByKey(key);
      return p && { bundles: recordings.take(key), left: p.plugin.recordingLeft };
    },
  };
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

// A crash bundle: everything needed to re-run a failed stream (or a failed plugin start) offline — the
// module (its bytes when small enough, else its digest and source), the plugin's and VM's configuration
// and environment, the recorded calls (call-recorder.ts), and the failure with its backtrace. Built on the
// failure path only; writing it is the embedder's (src/observe/crash-writer.ts), off the hot path.

import { CallRecorder, DEFAULT_RECORDER_SETTINGS, type RecorderSettings } from './call-recorder.js';
import type { CapabilityConfig } from './capabilities.js';
import { CpuLimitError, WasmTrap } from './errors.js';
import type { Limits } from './limits.js';
import type { CompiledModule } from './module.js';
import { DEFAULT_REDACTED_HEADERS, REDACTED, type RecordedEvent, toBase64 } from './recording.js';
import { Redactor } from './redact.js';
import type { SanitizeConfig } from './sanitize.js';

export const BUNDLE_FORMAT = 'wasmgate-crash-bundle/1';

export type OutcomeKind = 'trap' | 'cpu-limit' | 'memory-limit' | 'start-failure' | 'ok';

/** How a recorded run ended (or a replay: the two are compared). */
export interface Outcome {
  kind: OutcomeKind;
  /** The callback that failed. */
  callback?: string;
  message: string;
  backtrace: string[];
}

/** Bytes as text when they are UTF-8, else base64. */
export type Blob = { text: string } | { base64: string };

export interface BundlePlugin {
  name: string;
  rootId: string;
  vmId: string;
  configuration: Blob;
  vmConfiguration: Blob;
  env: Record<string, string>;
  failStrategy: string;
  allowOnHeadersStopIteration: boolean;
  limits: Limits;
  capabilities?: CapabilityConfig;
  sanitize?: SanitizeConfig;
}

export interface CrashBundle {
  format: typeof BUNDLE_FORMAT;
  createdAt: string;
  outcome: Outcome;
  module: { sha256: string; source: string; size: number; bytes?: string };
  plugin: BundlePlugin;
  /** The stream's context and its root (absent for a plugin that failed to start). */
  stream?: { contextId: number; rootId: number };
  events: RecordedEvent[];
  /** Events dropped from the rings (eventsPerStream) or to fit maxBytes. */
  droppedEvents: number;
  /** Header (and environment variable) names whose values were replaced by "[redacted]". */
  redacted: string[];
}

/** What a plugin does with crash bundles (PluginOptions.crashBundles): the recording and the sink. */
export interface CrashBundleOptions {
  /** Header names redacted (default DEFAULT_REDACTED_HEADERS); the plugin's sanitized headers are added. */
  redact?: readonly string[];
  recorder?: Partial<RecorderSettings>;
  /** Modules up to this size are embedded in the bundle (base64); larger ones only named (default 8 MiB). */
  maxModuleBytes?: number;
  /** Takes a finished bundle; must not block (the writer queues it). */
  report(bundle: CrashBundle): void;
}

export const DEFAULT_MAX_MODULE_BYTES = 8 * 1024 * 1024;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function blob(bytes: Uint8Array): Blob {
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { base64: toBase64(bytes) };
  }
}

export function blobBytes(b: Blob): Uint8Array {
  return 'text' in b ? new TextEncoder().encode(b.text) : new Uint8Array(Buffer.from(b.base64, 'base64'));
}

/** The redaction list of a plugin: the configured (or default) names and what its sanitizer hides. */
export function redactionList(options: CrashBundleOptions, hidden?: ReadonlySet<string>): string[] {
  return [
    ...new Set(
      [...(options.redact ?? DEFAULT_REDACTED_HEADERS), ...(hidden ?? [])].map((n) => n.toLowerCase()),
    ),
  ];
}

export function newRecorder(options: CrashBundleOptions, hidden?: ReadonlySet<string>): CallRecorder {
  return new CallRecorder(new Redactor(redactionList(options, hidden)), {
    ...DEFAULT_RECORDER_SETTINGS,
    ...options.recorder,
  });
}

/** A run that did not fail. */
export function okOutcome(message: string): Outcome {
  return { kind: 'ok', message, backtrace: [] };
}

/** The outcome a trap (or a start failure, `start`) stands for. */
export function outcomeOf(error: unknown, start: boolean): Outcome {
  const trap = error instanceof WasmTrap ? error : undefined;
  const kind: OutcomeKind = start
    ? 'start-failure'
    : trap?.cause instanceof CpuLimitError
      ? 'cpu-limit'
      : trap?.memoryLimit
        ? 'memory-limit'
        : 'trap';
  return {
    kind,
    callback: trap?.callback,
    message: error instanceof Error ? error.message : String(error),
    backtrace: trap?.backtrace ?? [],
  };
}

export interface BundleSource {
  plugin: Omit<BundlePlugin, 'configuration' | 'vmConfiguration'> & {
    configuration: Uint8Array;
    vmConfiguration: Uint8Array;
  };
  module: CompiledModule;
  recorder: CallRecorder;
  options: CrashBundleOptions;
}

export function buildCrashBundle(
  src: BundleSource,
  outcome: Outcome,
  stream: { contextId: number; rootId: number } | undefined,
): CrashBundle {
  const { events, dropped } = stream
    ? src.recorder.events(stream.contextId, stream.rootId)
    : src.recorder.events(0, 0);
  const redactor = src.recorder.redactor;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(src.plugin.env)) env[k] = redactor.hides(k) ? REDACTED : v;
  const m = src.module;
  const maxModule = src.options.maxModuleBytes ?? DEFAULT_MAX_MODULE_BYTES;
  return {
    format: BUNDLE_FORMAT,
    createdAt: new Date().toISOString(),
    outcome,
    module: {
      sha256: m.sha256,
      source: m.source,
      size: m.bytes?.length ?? 0,
      ...(m.bytes && m.bytes.length <= maxModule ? { bytes: toBase64(m.bytes) } : {}),
    },
    plugin: {
      ...src.plugin,
      env,
      configuration: blob(src.plugin.configuration),
      vmConfiguration: blob(src.plugin.vmConfiguration),
    },
    ...(stream ? { stream } : {}),
    events,
    droppedEvents: dropped,
    redacted: [...redactor.names],
  };
}

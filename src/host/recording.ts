// The recorded calls of a crash bundle, as data (JSON as written): callbacks into the guest with what
// they were given, hostcalls with their arguments and results as the trace log shows them, and, for the
// hostcalls whose answer comes from outside the stream (clocks, random bytes, shared data, queues,
// properties, metrics, foreign functions), the answer itself, which a replay hands out again.

/** A value a replay writes back: a number (u32/u64, as a decimal string) or bytes (base64). */
export type AnswerValue = { n: string } | { b: string };

/** What a callback was given besides its arguments (headers, a body, a callout's response). */
export interface CallbackInput {
  headers?: Array<[string, string]>;
  /** Base64; the bytes the callback saw (cut at the recorder's value limit, see `cut`). */
  body?: string;
  response?: { headers: Array<[string, string]>; body: string; trailers: Array<[string, string]> };
  /** The value was longer than the limit: only its start was kept. */
  cut?: boolean;
}

export interface CallbackEvent {
  seq: number;
  /** The context the callback runs in (0: the module's start functions). */
  ctx: number;
  type: 'callback';
  name: string;
  args: number[];
  input?: CallbackInput;
  /** What the callback returned (absent: it trapped, see `failed`). */
  result?: number;
  failed?: string;
}

export interface HostcallEvent {
  seq: number;
  ctx: number;
  type: 'hostcall';
  name: string;
  /** As the trace log shows it: `proxy_get_header_map_value(0, ":path") -> OK "/x"` (secrets redacted). */
  call: string;
  result?: number;
  /** For answered hostcalls (ANSWERED_HOSTCALLS): what was written into the guest's return slots. */
  answer?: AnswerValue[];
  cut?: boolean;
}

export type RecordedEvent = CallbackEvent | HostcallEvent;

/** Hostcalls whose result comes from outside the stream: recorded with their answer, answered in a replay. */
export const ANSWERED_HOSTCALLS: ReadonlySet<string> = new Set([
  'proxy_get_current_time_nanoseconds',
  'proxy_get_shared_data',
  'proxy_register_shared_queue',
  'proxy_resolve_shared_queue',
  'proxy_dequeue_shared_queue',
  'proxy_get_property',
  'proxy_get_metric',
  'proxy_call_foreign_function',
  'clock_time_get',
  'random_get',
]);

/** Callbacks that start a VM or a plugin: recorded apart from any stream, and kept for every bundle. */
export const START_CALLBACKS: ReadonlySet<string> = new Set([
  '_initialize',
  '_start',
  'main',
  'proxy_on_vm_start',
  'proxy_on_configure',
]);

export const REDACTED = '[redacted]';

/** Headers never written into a bundle unless the redaction list is changed (crashBundles.redact). */
export const DEFAULT_REDACTED_HEADERS: readonly string[] = [
  'authorization',
  'cookie',
  'set-cookie',
  'proxy-authorization',
  'x-api-key',
];

export const toBase64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
export const fromBase64 = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'base64'));

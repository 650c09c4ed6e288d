// The access log: one JSON line per stream, to stdout or a file (Envoy's default fields, by name).
// Lines are written in batches, at most one write per 10 ms (or per 64 KiB): a write per request was a fifth
// system call on the proxy's hot path (to stdout it is even synchronous; to a file, a thread hand-off), and
// cost up to a quarter of its throughput. Envoy buffers its access logs too (and flushes them every second).

import { createWriteStream, type WriteStream } from 'node:fs';

export interface AccessLogEntry {
  start_time: string;
  method: string;
  path: string;
  protocol: string;
  response_code: number;
  response_flags: string;
  response_code_details: string;
  bytes_received: number;
  bytes_sent: number;
  duration_ms: number;
  upstream_service_time_ms: number | null;
  upstream_host: string | null;
  upstream_cluster: string | null;
  route_name: string | null;
  listener: string;
  authority: string;
  request_id: string | null;
  user_agent: string | null;
  x_forwarded_for: string | null;
}

/** A proxied TCP connection's line (Envoy's TCP access log fields). */
export interface TcpAccessLogEntry {
  start_time: string;
  protocol: 'tcp';
  connection_termination_details: string;
  bytes_received: number;
  bytes_sent: number;
  duration_ms: number;
  downstream_remote_address: string | null;
  upstream_host: string | null;
  upstream_cluster: string | null;
  listener: string;
}

const FLUSH_BYTES = 64 * 1024;
const FLUSH_INTERVAL_MS = 10;

export class AccessLog {
  private readonly out: WriteStream | NodeJS.WriteStream | undefined;
  private pending = '';
  private flushScheduled = false;
  private lastFlush = 0;
  private readonly flushNow = () => this.flush();

  constructor(enabled: boolean, path: string) {
    if (!enabled) return;
    this.out =
      path === 'stdout'
        ? process.stdout
        : path === 'stderr'
          ? process.stderr
          : createWriteStream(path, { flags: 'a' });
  }

  get enabled(): boolean {
    return this.out !== undefined;
  }

  write(entry: AccessLogEntry | TcpAccessLogEntry): void {
    if (!this.out) return;
    this.pending += `${jsonLine(entry)}\n`;
    if (this.pending.length >= FLUSH_BYTES) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Quiet: out with the current turn of the event loop. Busy: at most once per interval.
      const wait = this.lastFlush + FLUSH_INTERVAL_MS - performance.now();
      if (wait <= 0) setImmediate(this.flushNow);
      else setTimeout(this.flushNow, wait).unref();
    }
  }

  /** Bytes of lines gathered and not yet written (bounded by the 64 KiB batch). */
  get buffered(): number {
    return this.pending.length;
  }

  /** Writes the lines gathered so far. */
  flush(): void {
    this.flushScheduled = false;
    if (!this.pending) return;
    this.lastFlush = performance.now();
    const text = this.pending;
    this.pending = '';
    this.out?.write(text);
  }

  close(): Promise<void> {
    this.flush();
    const out = this.out;
    if (!out || out === process.stdout || out === process.stderr) return Promise.resolve();
    return new Promise((resolve) => (out as WriteStream).end(resolve));
  }
}

/** Characters JSON.stringify would escape (or might: anything past ASCII goes through it). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\uffff]/;

/**
 * The entry as JSON.stringify writes it, for its flat shape (strings, numbers, null), in half the time: plain
 * ASCII strings, nearly all of them, are quoted as they are.
 */
export function jsonLine(entry: AccessLogEntry | TcpAccessLogEntry): string {
  let out = '{';
  let first = true;
  const e = entry as unknown as Record<string, string | number | null>;
  for (const key in e) {
    const v = e[key];
    if (v === undefined) continue; // as JSON.stringify leaves such a key out
    const json =
      typeof v === 'number'
        ? Number.isFinite(v)
          ? String(v)
          : 'null'
        : v === null
          ? 'null'
          : NEEDS_ESCAPE.test(v)
            ? JSON.stringify(v)
            : `"${v}"`;
    out += first ? `"${key}":${json}` : `,"${key}":${json}`;
    first = false;
  }
  return `${out}}`;
}

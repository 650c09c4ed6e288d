// The access log: one JSON line per stream, to stdout or a file (Envoy's default fields, by name).

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

export class AccessLog {
  private readonly out: WriteStream | NodeJS.WriteStream | undefined;

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

  write(entry: AccessLogEntry): void {
    this.out?.write(`${JSON.stringify(entry)}\n`);
  }

  close(): Promise<void> {
    const out = this.out;
    if (!out || out === process.stdout || out === process.stderr) return Promise.resolve();
    return new Promise((resolve) => (out as WriteStream).end(resolve));
  }
}

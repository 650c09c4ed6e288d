// Progress of blob transfers on stderr: a bar per large blob when stderr is a terminal, nothing in pipes.

import type { ProgressEvent } from '../oci/registry.js';

const MIN_BYTES = 1024 * 1024;

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function progressReporter(
  stream: NodeJS.WriteStream = process.stderr,
): ((e: ProgressEvent) => void) | undefined {
  if (!stream.isTTY || process.env.CI) return undefined;
  let current = '';
  return (e) => {
    if (e.total < MIN_BYTES) return;
    const width = 30;
    const ratio = e.total ? Math.min(1, e.done / e.total) : 0;
    const filled = Math.round(ratio * width);
    const line = `${e.direction === 'push' ? 'pushing' : 'pulling'} ${e.digest.slice(7, 19)} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${Math.round(ratio * 100)}% ${mb(e.done)}/${mb(e.total)}`;
    if (current !== e.digest) current = e.digest;
    stream.write(`\r${line}`);
    if (e.done >= e.total) stream.write('\n');
  };
}

// The gateway's crash bundle writer, from the crashBundles section and `--crash-dir` (which overrides the
// section's dir, or turns bundles on with the defaults).

import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { GatewayConfig } from '../control/schema.js';
import { CrashWriter, DEFAULT_CRASH_WRITER } from '../observe/crash-writer.js';

export function crashWriter(
  section: GatewayConfig['crashBundles'],
  crashDir: string | undefined,
  logger: Logger,
): CrashWriter | undefined {
  const dir = crashDir ?? section?.dir;
  if (!dir) return undefined;
  return new CrashWriter(
    {
      ...DEFAULT_CRASH_WRITER,
      ...(section
        ? { maxPerMinute: section.maxPerMinute, maxBytes: section.maxBytes, maxFiles: section.maxFiles }
        : {}),
      dir: resolve(dir),
    },
    (level, message, fields) => logger[level](fields ?? {}, message),
  );
}

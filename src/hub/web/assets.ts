// The pages' stylesheet and script: static files from the package's web/ directory, read once, served
// with a strong ETag (the Content-Security-Policy allows scripts and styles from the hub itself only).

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Hono } from 'hono';

const WEB_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'web');

const TYPES: Record<string, string> = {
  'hub.css': 'text/css; charset=utf-8',
  'hub.js': 'text/javascript; charset=utf-8',
};

export function registerAssets(app: Hono): void {
  for (const [file, type] of Object.entries(TYPES)) {
    const body = readFileSync(join(WEB_DIR, file));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    app.get(`/static/${file}`, (c) => {
      const headers = {
        'Content-Type': type,
        ETag: etag,
        'Cache-Control': 'public, max-age=300',
        'X-Content-Type-Options': 'nosniff',
      };
      if (c.req.header('if-none-match') === etag) return c.body(null, 304, headers);
      return c.body(body, 200, headers);
    });
  }
}

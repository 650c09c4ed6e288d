// A hub on loopback for the tests: a fresh data directory, port 0, and small helpers for raw
// distribution-API requests (fetch) and the OCI error bodies they answer with.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type Hub, type HubOptions, startHub } from '../../src/hub/server.js';
import { digestOf } from '../../src/oci/digest.js';

export function tempDataDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'wasmgate-hub-')), 'data');
}

export type Backend = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL too when WASMGATE_TEST_PG names a database (.ci/run starts one). */
export function hubBackends(): Backend[] {
  return process.env.WASMGATE_TEST_PG ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** For postgres: a fresh schema in the test database, as a URL whose search_path is that schema. */
export async function testDatabase(backend: Backend): Promise<string | undefined> {
  if (backend === 'sqlite') return undefined;
  const url = process.env.WASMGATE_TEST_PG as string;
  const schema = `hub_test_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** Without accounts (anyone may do anything) unless `open: false` is given. */
export async function startTestHub(o: Partial<HubOptions> & { backend?: Backend } = {}): Promise<Hub> {
  const { backend = 'sqlite', ...rest } = o;
  const database = rest.database ?? (await testDatabase(backend));
  return startHub({
    data: rest.data ?? tempDataDir(),
    port: 0,
    open: true,
    onError: () => {},
    ...rest,
    database,
  });
}

export async function ociError(res: Response, code: string, status?: number): Promise<string> {
  const text = await res.text();
  if (status !== undefined) assert.equal(res.status, status, text);
  const body = JSON.parse(text) as { errors: Array<{ code: string; message: string }> };
  assert.equal(body.errors[0].code, code, text);
  return body.errors[0].message;
}

/** Uploads a blob monolithically (POST ?digest=); returns its digest. */
export async function putBlob(
  base: string,
  repo: string,
  bytes: Uint8Array<ArrayBuffer>,
  auth?: string,
): Promise<string> {
  const digest = digestOf(bytes);
  const res = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    body: bytes,
    headers: { 'content-type': 'application/octet-stream', ...(auth ? { authorization: auth } : {}) },
  });
  assert.equal(res.status, 201, await res.text());
  return digest;
}

export function json(v: unknown): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(JSON.stringify(v));
}

/** An image manifest over a config and one layer (its own unless given), both uploaded. */
export async function putImage(
  base: string,
  repo: string,
  tag: string,
  extra: Record<string, unknown> = {},
  auth?: string,
  layerBytes: Uint8Array<ArrayBuffer> = new TextEncoder().encode(`layer of ${repo}:${tag}`),
): Promise<{ digest: string; bytes: Uint8Array<ArrayBuffer>; config: string; layer: string }> {
  const configBytes = json({ architecture: 'wasm', os: 'wasip1', tag, n: Math.random() });
  const config = await putBlob(base, repo, configBytes, auth);
  const layer = await putBlob(base, repo, layerBytes, auth);
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: config,
      size: configBytes.length,
    },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: layerBytes.length }],
    ...extra,
  };
  const bytes = json(manifest);
  const res = await fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: bytes,
    headers: {
      'content-type': 'application/vnd.oci.image.manifest.v1+json',
      ...(auth ? { authorization: auth } : {}),
    },
  });
  assert.equal(res.status, 201, await res.text());
  return { digest: digestOf(bytes), bytes, config, layer };
}

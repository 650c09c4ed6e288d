// The sandbox settings are declared once (sandboxSchema): a WasmPlugin's annotations and an Envoy entry's
// fields give the same settings, and are refused by the same rules.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SANDBOX_ANNOTATIONS,
  sandboxFromAnnotations,
  sandboxFromConfig,
  sandboxSchema,
} from '../src/control/sandbox-settings.js';

describe('sandbox settings', () => {
  it('annotations and fields give the same settings', () => {
    const fromAnnotations = sandboxFromAnnotations({
      'wasmgate.io/cpu-ms': '20',
      'wasmgate.io/start-cpu-ms': '2000',
      'wasmgate.io/memory-mib': '32',
      'wasmgate.io/trace': 'true',
      'wasmgate.io/capabilities': 'logging, headers',
      'wasmgate.io/capabilities-on-violation': 'error',
      'wasmgate.io/sanitize-headers': 'Authorization,cookie',
      'wasmgate.io/sanitize-source-address': 'true',
    });
    assert.deepEqual(fromAnnotations.problems, []);
    const fields = sandboxSchema.parse({
      limits: { cpuMs: 20, startCpuMs: 2000, memoryMiB: 32 },
      trace: true,
      capabilities: { allow: ['logging', 'headers'], onViolation: 'error' },
      sanitize: { headers: ['Authorization', 'cookie'], sourceAddress: true },
    });
    assert.deepEqual(fromAnnotations.settings, sandboxFromConfig(fields));
    assert.deepEqual(sandboxFromConfig(fields).sanitize?.headers, ['authorization', 'cookie']);
  });

  it('every annotation sets a field the schema declares', () => {
    const shape = sandboxSchema.shape as Record<string, unknown>;
    for (const [key, a] of Object.entries(SANDBOX_ANNOTATIONS)) assert.ok(a.field[0] in shape, key);
  });

  it("the schema's limits apply to annotations, each problem named by its annotation and value", () => {
    const { problems } = sandboxFromAnnotations({
      'wasmgate.io/memory-mib': '5000',
      'wasmgate.io/start-cpu-ms': '-1',
      'wasmgate.io/cpu-ms': 'soon',
      'wasmgate.io/capabilities': 'logging,network',
      'wasmgate.io/trace': 'yes',
      'wasmgate.io/cpu-msec': '5',
    });
    const by = Object.fromEntries(problems.map((p) => [p.key, p.message]));
    assert.match(by['wasmgate.io/memory-mib'], /<=4096 \(got "5000"\)/);
    assert.match(by['wasmgate.io/start-cpu-ms'], />=0 \(got "-1"\)/);
    assert.match(by['wasmgate.io/cpu-ms'], /expected a number, got "soon"/);
    assert.match(by['wasmgate.io/capabilities'], /unknown capability.*\(got "network"\)/);
    assert.match(by['wasmgate.io/trace'], /expected "true" or "false", got "yes"/);
    assert.match(by['wasmgate.io/cpu-msec'], /unknown wasmgate annotation/);
  });

  it('an on-violation without an allow-list is refused', () => {
    const { problems } = sandboxFromAnnotations({ 'wasmgate.io/capabilities-on-violation': 'error' });
    assert.deepEqual(problems, [
      {
        key: 'wasmgate.io/capabilities-on-violation',
        message: 'needs wasmgate.io/capabilities (the allow-list)',
      },
    ]);
  });
});

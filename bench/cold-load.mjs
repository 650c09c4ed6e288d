// Load + instantiate + configure one module, once, in this (fresh) process: what a proxy pays for its
// first plugin, before V8 has compiled the host's code (the instrumenter runs in the interpreter then).
// Usage: node bench/cold-load.mjs <module.wasm> [plain]   ("plain": no CPU/memory limits, no instrumenting)
// Prints the milliseconds. bench/host-bench.mjs runs it.
import { readFileSync } from 'node:fs';
import { Host, Plugin } from '../dist/index.js';

const bytes = readFileSync(process.argv[2]);
const limits = process.argv[3] === 'plain' ? { cpuMs: 0, startCpuMs: 0, memoryMiB: 0 } : undefined;
const host = new Host({ logLevel: 'error', timers: 'manual', log: () => {} });
const t0 = process.hrtime.bigint();
const module = await host.compile(bytes, 'cold');
const plugin = await Plugin.start(host, module, { name: 'cold', configuration: 'x', limits });
process.stdout.write(`${Number(process.hrtime.bigint() - t0) / 1e6}\n`);
plugin.stop();

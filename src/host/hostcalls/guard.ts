// Hostcalls never throw into the guest. Bad pointers become INVALID_MEMORY_ACCESS (WASI: FAULT); a bug
// in the host becomes INTERNAL_FAILURE with an error log. Only what must unwind the guest passes
// through: proc_exit, a CPU limit stop (in the host's work or a nested guest call) and traps raised inside
// a nested guest call (the allocator).

import { Status, WasiErrno } from '../../abi/constants.js';
import { MemoryFault } from '../../abi/memory.js';
import { CpuLimitError, ProcExit, WasmTrap } from '../errors.js';
import type { HostcallEnv } from './env.js';

type Fn = (...args: never[]) => unknown;

function passesThrough(e: unknown): boolean {
  return (
    e instanceof ProcExit ||
    e instanceof CpuLimitError ||
    e instanceof WasmTrap ||
    e instanceof WebAssembly.RuntimeError ||
    (e instanceof RangeError && /call stack/i.test(e.message))
  );
}

/**
 * A guarded hostcall's implementation, swappable while the VM runs (tracing swaps in a logging
 * implementation): the import V8 calls stays the same function.
 */
export interface HostcallSlot {
  name: string;
  wasi: boolean;
  /** The plain implementation. */
  readonly raw: Fn;
  set(fn: Fn): void;
}

/**
 * Wraps `fn` so that nothing it throws reaches the guest but what must unwind it. The wrapper takes the
 * table's parameter count (`arity`), whatever the implementation declares: every argument the guest passed
 * reaches a swapped-in implementation (the trace log's).
 */
export function guard<F extends Fn>(
  vm: HostcallEnv,
  name: string,
  arity: number,
  fn: F,
  wasi: boolean,
  slots?: HostcallSlot[],
): F {
  const fault: number = wasi ? WasiErrno.Fault : Status.InvalidMemoryAccess;
  const failure: number = wasi ? WasiErrno.Inval : Status.InternalFailure;
  const handle = (e: unknown): number => {
    if (e instanceof MemoryFault) return fault;
    if (passesThrough(e)) throw e;
    vm.host.log({
      level: 'error',
      source: 'host',
      vmId: vm.vmId,
      message: `hostcall ${name} failed inside the host: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
    });
    return failure;
  };
  // Fixed-arity wrappers keep V8's calls monomorphic and avoid rest-argument arrays per call.
  let f = fn as unknown as (...a: unknown[]) => unknown;
  slots?.push({
    name,
    wasi,
    raw: fn,
    set: (g) => {
      f = g as unknown as (...a: unknown[]) => unknown;
    },
  });
  let wrapped: (...a: unknown[]) => unknown;
  switch (arity) {
    case 0:
      wrapped = () => {
        vm.tally.hostcalls++;
        try {
          return f();
        } catch (e) {
          return handle(e);
        }
      };
      break;
    case 1:
      wrapped = (a) => {
        vm.tally.hostcalls++;
        try {
          return f(a);
        } catch (e) {
          return handle(e);
        }
      };
      break;
    case 2:
      wrapped = (a, b) => {
        vm.tally.hostcalls++;
        try {
          return f(a, b);
        } catch (e) {
          return handle(e);
        }
      };
      break;
    case 3:
      wrapped = (a, b, c) => {
        vm.tally.hostcalls++;
        try {
          return f(a, b, c);
        } catch (e) {
          return handle(e);
        }
      };
      break;
    case 4:
      wrapped = (a, b, c, d) => {
        vm.tally.hostcalls++;
        try {
          return f(a, b, c, d);
        } catch (e) {
          return handle(e);
        }
      };
      break;
    case 5:
      wrapped = (a, b, c, d, e5) => {
        vm.tally.hostcalls++;
        try {
          return f(a, b, c, d, e5);
        } catch (e) {
          return handle(e);
        }
      };
      break;
    default:
      wrapped = (...args) => {
        vm.tally.hostcalls++;
        try {
          return f(...args);
        } catch (e) {
          return handle(e);
        }
      };
  }
  return wrapped as unknown as F;
}

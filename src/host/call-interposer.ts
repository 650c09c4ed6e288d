// What sits between a VM and its guest when calls are recorded (crash bundles) or replayed: it sees every
// callback into the guest and every hostcall out of it. A VM without one pays a single test per callback
// and nothing per hostcall (the guarded imports call their implementation through a slot, see
// hostcalls/guard.ts, which the interposer's wrapper takes only while one is set).

import type { CallContext, HostcallEnv } from './hostcalls/env.js';

export type HostcallFn = (...args: never[]) => unknown;

export interface CallInterposer {
  /** The implementation a VM links for one hostcall, wrapping `fn` (the plain or the traced one). */
  hostcall(vm: HostcallEnv, name: string, wasi: boolean, fn: HostcallFn): HostcallFn;
  /**
   * Runs a callback into the guest (`run`): `ctx` is undefined for the module's start functions. What `run`
   * throws (a trap) is rethrown.
   */
  callback(
    vm: HostcallEnv,
    ctx: CallContext | undefined,
    name: string,
    args: ReadonlyArray<number | undefined>,
    run: () => number | undefined,
  ): number | undefined;
}

// What a function the plugin's capabilities do not allow (onViolation: error) is linked to.

import { Status, WasiErrno } from '../../abi/constants.js';
import type { HostcallSpec } from '../../abi/hostcalls.js';
import type { Capabilities } from '../capabilities.js';
import { type HostcallEnv, logForCurrent } from './env.js';

/**
 * Answers an error status (UNIMPLEMENTED, INTERNAL_FAILURE under Envoy's capability_restriction_config as
 * cpp-host's stubs answer, or ENOTCAPABLE for WASI), warns once per function and counts each call.
 */
export function deniedHostcall(
  vm: HostcallEnv,
  spec: HostcallSpec,
  capabilities: Capabilities | undefined,
): () => number {
  const wasi = spec.module === 'wasi';
  let warned = false;
  const answer: number = wasi
    ? WasiErrno.Notcapable
    : capabilities?.style === 'envoy'
      ? Status.InternalFailure
      : Status.Unimplemented;
  const answerName = wasi
    ? 'ENOTCAPABLE'
    : answer === Status.InternalFailure
      ? 'INTERNAL_FAILURE'
      : 'UNIMPLEMENTED';
  return () => {
    const ctx = vm.current;
    ctx?.plugin.counters.capabilityDenied();
    if (!warned) {
      warned = true;
      logForCurrent(
        vm,
        'warn',
        `capability denied: ${spec.name} is not allowed for this plugin (answered ${answerName})`,
      );
    }
    return answer;
  };
}

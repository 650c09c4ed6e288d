// Returning data to the guest: allocate in guest memory, copy, and write (pointer, size) to the
// guest's return slots. Empty values are returned as (0, 0) without allocating, as Envoy does.

import { Status } from '../../abi/constants.js';
import { type HeaderMap, writePairs } from '../../abi/header-map.js';
import { utf8Length, writeUtf8 } from '../../abi/utf8.js';
import type { HostcallEnv } from './env.js';

export function returnBytes(vm: HostcallEnv, ptrPtr: number, sizePtr: number, data: Uint8Array): number {
  const mem = vm.memory;
  mem.check(ptrPtr, 4);
  mem.check(sizePtr, 4);
  let p = 0;
  if (data.length > 0) {
    p = vm.allocate(data.length);
    if (p === 0) return Status.InvalidMemoryAccess;
    mem.write(p, data);
  }
  mem.setU32(ptrPtr, p);
  mem.setU32(sizePtr, data.length);
  return Status.Ok;
}

/** Encodes straight into guest memory: no intermediate byte array. */
export function returnString(vm: HostcallEnv, ptrPtr: number, sizePtr: number, text: string): number {
  const mem = vm.memory;
  mem.check(ptrPtr, 4);
  mem.check(sizePtr, 4);
  const len = utf8Length(text);
  let p = 0;
  if (len > 0) {
    p = vm.allocate(len);
    if (p === 0) return Status.InvalidMemoryAccess;
    writeUtf8(mem.bytes(), p, text);
    mem.moved(len);
  }
  mem.setU32(ptrPtr, p);
  mem.setU32(sizePtr, len);
  return Status.Ok;
}

export function returnPairs(vm: HostcallEnv, ptrPtr: number, sizePtr: number, map: HeaderMap): number {
  const mem = vm.memory;
  mem.check(ptrPtr, 4);
  mem.check(sizePtr, 4);
  const size = map.serializedSize();
  const p = vm.allocate(size);
  if (p === 0) return Status.InvalidMemoryAccess;
  writePairs(map.flat(), mem.bytes(), p);
  mem.moved(size);
  mem.setU32(ptrPtr, p);
  mem.setU32(sizePtr, size);
  return Status.Ok;
}

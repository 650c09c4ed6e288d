// Foreign functions every host offers, as Envoy does: zlib compress/uncompress.

import { deflateSync, inflateSync } from 'node:zlib';
import { Status } from '../abi/constants.js';
import type { ForeignFunction } from './driver.js';

export const builtinForeignFunctions: Record<string, ForeignFunction> = {
  compress: (args) => new Uint8Array(deflateSync(args)),
  uncompress: (args) => {
    try {
      return new Uint8Array(inflateSync(args));
    } catch {
      return Status.SerializationFailure; // not zlib data
    }
  },
};

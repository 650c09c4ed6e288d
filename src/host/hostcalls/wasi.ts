// The WASI preview1 subset Envoy provides: stdout/stderr to the log, the plugin's own environment,
// clocks, randomness, proc_exit as a trap. Every other preview1 function is present (so modules built
// for wasm32-wasi link, as toolchains import more than they call) and answers ENOSYS — never a fake
// success.

import { randomFillSync } from 'node:crypto';
import { WasiErrno } from '../../abi/constants.js';
import { encodeUtf8 } from '../../abi/utf8.js';
import { ProcExit } from '../errors.js';
import type { HostcallEnv } from './env.js';

const MAX_RANDOM = 64 * 1024;
const decoder = new TextDecoder();

/** Preview1 functions beyond the served subset: linked, answering ENOSYS. */
export const WASI_UNSUPPORTED = [
  'fd_advise',
  'fd_allocate',
  'fd_datasync',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_pwrite',
  'fd_readdir',
  'fd_renumber',
  'fd_sync',
  'fd_tell',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'proc_raise',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
];

export function wasiCalls(vm: HostcallEnv) {
  const mem = () => vm.memory;
  const envEntries = () => Object.entries(vm.env).map(([k, v]) => encodeUtf8(`${k}=${v}\0`));
  const calls: Record<string, (...args: never[]) => number | undefined> = {
    fd_write(fd: number, iovs: number, iovsLen: number, nwrittenPtr: number): number {
      const m = mem();
      m.check(nwrittenPtr, 4);
      m.check(iovs, (iovsLen >>> 0) * 8);
      if (fd !== 1 && fd !== 2) return WasiErrno.Badf;
      let text = '';
      let written = 0;
      for (let i = 0; i < iovsLen >>> 0; i++) {
        const ptr = m.u32(iovs + i * 8);
        const len = m.u32(iovs + i * 8 + 4);
        text += decoder.decode(m.view(ptr, len));
        written += len;
      }
      const ctx = vm.current;
      if (text.endsWith('\n')) text = text.slice(0, -1);
      if (text.length > 0) {
        vm.host.log({
          level: fd === 1 ? 'info' : 'error',
          message: text,
          source: 'filter',
          plugin: ctx?.plugin.name,
          vmId: vm.vmId,
          contextId: ctx?.id,
        });
      }
      m.setU32(nwrittenPtr, written);
      return WasiErrno.Success;
    },
    fd_read(): number {
      return WasiErrno.Nosys;
    },
    fd_close(fd: number): number {
      return fd <= 2 ? WasiErrno.Nosys : WasiErrno.Badf;
    },
    fd_seek(fd: number): number {
      return fd <= 2 ? WasiErrno.Spipe : WasiErrno.Badf;
    },
    fd_fdstat_get(fd: number, statPtr: number): number {
      const m = mem();
      m.check(statPtr, 24);
      if (fd > 2) return WasiErrno.Badf;
      m.setU8(statPtr, 2); // filetype: character device
      m.setU16(statPtr + 2, 0); // flags
      m.setU64(statPtr + 8, fd === 0 ? 2n : 64n); // rights: fd_read / fd_write
      m.setU64(statPtr + 16, 0n);
      return WasiErrno.Success;
    },
    fd_prestat_get(): number {
      return WasiErrno.Badf; // no preopened directories
    },
    fd_prestat_dir_name(): number {
      return WasiErrno.Badf;
    },
    path_open(): number {
      return WasiErrno.Badf; // no directory is open to resolve a path against
    },
    environ_sizes_get(countPtr: number, sizePtr: number): number {
      const m = mem();
      m.check(countPtr, 4);
      m.check(sizePtr, 4);
      const entries = envEntries();
      m.setU32(countPtr, entries.length);
      m.setU32(
        sizePtr,
        entries.reduce((n, e) => n + e.length, 0),
      );
      return WasiErrno.Success;
    },
    environ_get(arrayPtr: number, bufPtr: number): number {
      const m = mem();
      const entries = envEntries();
      m.check(arrayPtr, entries.length * 4);
      let p = bufPtr >>> 0;
      entries.forEach((e, i) => {
        m.write(p, e);
        m.setU32(arrayPtr + i * 4, p);
        p += e.length;
      });
      return WasiErrno.Success;
    },
    args_sizes_get(argcPtr: number, sizePtr: number): number {
      const m = mem();
      m.check(argcPtr, 4);
      m.check(sizePtr, 4);
      m.setU32(argcPtr, 0);
      m.setU32(sizePtr, 0);
      return WasiErrno.Success;
    },
    args_get(): number {
      return WasiErrno.Success;
    },
    clock_time_get(id: number, _precision: bigint, ptr: number): number {
      const m = mem();
      m.check(ptr, 8);
      if (id === 0) m.setU64(ptr, vm.host.now());
      else if (id === 1) m.setU64(ptr, vm.host.monotonic());
      else return WasiErrno.Notsup;
      return WasiErrno.Success;
    },
    clock_res_get(id: number, ptr: number): number {
      const m = mem();
      m.check(ptr, 8);
      if (id !== 0 && id !== 1) return WasiErrno.Notsup;
      m.setU64(ptr, 1n);
      return WasiErrno.Success;
    },
    random_get(ptr: number, len: number): number {
      if (len >>> 0 > MAX_RANDOM) return WasiErrno.Inval;
      randomFillSync(mem().view(ptr, len));
      return WasiErrno.Success;
    },
    proc_exit(code: number): undefined {
      throw new ProcExit(code >>> 0);
    },
    sched_yield(): number {
      return WasiErrno.Success;
    },
    /**
     * Sleeps would block the proxy, so clock subscriptions fire at once; fd subscriptions report BADF.
     * Subscription: 48 bytes (userdata u64, tag u8 …); event: 32 bytes (userdata, error u16, type u8).
     */
    poll_oneoff(inPtr: number, outPtr: number, nsubs: number, neventsPtr: number): number {
      const m = mem();
      const n = nsubs >>> 0;
      m.check(inPtr, n * 48);
      m.check(outPtr, n * 32);
      m.check(neventsPtr, 4);
      if (n === 0) return WasiErrno.Inval;
      for (let i = 0; i < n; i++) {
        const sub = inPtr + i * 48;
        const ev = outPtr + i * 32;
        const tag = m.view(sub + 8, 1)[0];
        m.write(ev, m.copy(sub, 8)); // userdata
        m.setU16(ev + 8, tag === 0 ? WasiErrno.Success : WasiErrno.Badf);
        m.setU8(ev + 10, tag);
        m.write(ev + 16, new Uint8Array(16)); // fd_readwrite: nbytes, flags
      }
      m.setU32(neventsPtr, n);
      return WasiErrno.Success;
    },
  };
  for (const name of WASI_UNSUPPORTED) calls[name] = () => WasiErrno.Nosys;
  return calls;
}

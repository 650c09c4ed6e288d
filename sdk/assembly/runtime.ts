// What the AssemblyScript runtime would otherwise import from the embedder: `abort`, `trace` and
// `seed`. The SDK's compiler options map them here (`--use abort=wasmgate_abort` …), so a filter
// imports nothing but env.proxy_* functions.

import { proxy_get_current_time_nanoseconds, proxy_log } from './imports';
import { borrow, encodeInto, RET_EXTRA, utf8Max } from './memory';
import { LogLevel } from './types';

let aborting = false;

/**
 * AssemblyScript's abort (a failed assert, an index out of range, `unwrap()` of a failed Result …):
 * logs `abort: <message> at <file>(<line>:<column>)` at critical, then traps, which the host handles
 * with the plugin's failure policy.
 */
// @ts-ignore: decorator
@global
export function wasmgate_abort(
  message: string | null = null,
  fileName: string | null = null,
  line: u32 = 0,
  column: u32 = 0,
): void {
  if (!aborting) {
    aborting = true;
    let text = 'abort: ' + (message !== null ? message : '(no message)');
    if (fileName !== null) text += ' at ' + fileName + '(' + line.toString() + ':' + column.toString() + ')';
    const buf = borrow(utf8Max(text));
    const len = encodeInto(text, buf);
    proxy_log(<u32>LogLevel.Critical, buf, len);
  }
  unreachable();
}

/** AssemblyScript's trace(): a line at trace level with the numbers given. */
// @ts-ignore: decorator
@global
export function wasmgate_trace(message: string, n: i32 = 0, a0: f64 = 0, a1: f64 = 0, a2: f64 = 0, a3: f64 = 0, a4: f64 = 0): void {
  let text = 'trace: ' + message;
  if (n > 0) text += ' ' + a0.toString();
  if (n > 1) text += ', ' + a1.toString();
  if (n > 2) text += ', ' + a2.toString();
  if (n > 3) text += ', ' + a3.toString();
  if (n > 4) text += ', ' + a4.toString();
  const buf = borrow(utf8Max(text));
  const len = encodeInto(text, buf);
  proxy_log(<u32>LogLevel.Trace, buf, len);
}

/** Seeds Math.random from the host clock (no WASI needed). */
// @ts-ignore: decorator
@global
export function wasmgate_seed(): f64 {
  store<u64>(RET_EXTRA, 0);
  proxy_get_current_time_nanoseconds(RET_EXTRA);
  return <f64>load<u64>(RET_EXTRA);
}

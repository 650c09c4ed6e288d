// A replay's interposer: the hostcalls whose answer came from outside the stream (the clock, random bytes,
// shared data, queues, properties, metrics, foreign functions: ANSWERED_HOSTCALLS) are answered from the
// bundle, in the order they were recorded, per function; every other hostcall runs as it would. Everything
// is recorded again (the same CallRecorder a crash bundle uses), so the replay's calls can be compared with
// the bundle's.

import { hostcallSpec } from '../abi/hostcalls.js';
import type { CallInterposer, HostcallFn } from '../host/call-interposer.js';
import { CallRecorder, DEFAULT_RECORDER_SETTINGS } from '../host/call-recorder.js';
import type { CallContext, HostcallEnv } from '../host/hostcalls/env.js';
import { returnBytes } from '../host/hostcalls/returns.js';
import { ANSWERED_HOSTCALLS, type AnswerValue, fromBase64, type RecordedEvent } from '../host/recording.js';
import { Redactor } from '../host/redact.js';
import { type OutSlot, readArgs } from '../host/trace.js';

interface Answer {
  result: number;
  values: AnswerValue[];
}

export class Replayer implements CallInterposer {
  /** What the replay did, recorded as the bundle was. */
  readonly recorder: CallRecorder;
  /** Answered hostcalls the replay made beyond the recording (answered by the host instead), by name. */
  readonly unanswered = new Map<string, number>();
  /** The last clock value handed out: the replay's host clock, when the recording has no more. */
  lastClock: bigint | undefined;
  private readonly answers = new Map<string, Answer[]>();

  constructor(events: readonly RecordedEvent[], redacted: readonly string[]) {
    this.recorder = new CallRecorder(new Redactor(redacted), {
      ...DEFAULT_RECORDER_SETTINGS,
      eventsPerStream: Number.MAX_SAFE_INTEGER,
      keepEnded: true,
    });
    for (const e of events) {
      if (e.type !== 'hostcall' || !e.answer || e.result === undefined) continue;
      let list = this.answers.get(e.name);
      if (!list) {
        list = [];
        this.answers.set(e.name, list);
      }
      list.push({ result: e.result, values: e.answer });
    }
  }

  hostcall(vm: HostcallEnv, name: string, wasi: boolean, fn: HostcallFn): HostcallFn {
    if (!ANSWERED_HOSTCALLS.has(name)) return this.recorder.hostcall(vm, name, wasi, fn);
    const real = fn as unknown as (...a: unknown[]) => unknown;
    const sig = wasi ? '' : (hostcallSpec('env', name)?.args ?? '');
    const answered = (...args: unknown[]) => {
      const next = this.answers.get(name)?.shift();
      if (!next) {
        this.unanswered.set(name, (this.unanswered.get(name) ?? 0) + 1);
        return real(...args);
      }
      if (next.result === 0) this.write(vm, name, sig, args, next.values);
      return next.result;
    };
    return this.recorder.hostcall(vm, name, wasi, answered as unknown as HostcallFn);
  }

  callback(
    vm: HostcallEnv,
    ctx: CallContext | undefined,
    name: string,
    args: ReadonlyArray<number | undefined>,
    run: () => number | undefined,
  ): number | undefined {
    return this.recorder.callback(vm, ctx, name, args, run);
  }

  /** Writes a recorded answer where the guest asked for it: its return slots, or WASI's buffers. */
  private write(vm: HostcallEnv, name: string, sig: string, args: unknown[], values: AnswerValue[]): void {
    const mem = vm.memory;
    if (name === 'clock_time_get') {
      const v = values[0];
      if (v && 'n' in v) {
        this.lastClock = BigInt(v.n);
        mem.setU64(args[2] as number, this.lastClock);
      }
      return;
    }
    if (name === 'random_get') {
      const v = values[0];
      if (v && 'b' in v) mem.write(args[0] as number, fromBase64(v.b).subarray(0, args[1] as number));
      return;
    }
    const outs: OutSlot[] = [];
    readArgs(vm, sig, args, outs);
    outs.forEach((slot, i) => {
      const v = values[i];
      if (!v) return;
      if (slot.kind === 'u') mem.setU32(slot.a, 'n' in v ? Number(v.n) : 0);
      else if (slot.kind === 'U') {
        const n = 'n' in v ? BigInt(v.n) : 0n;
        if (name === 'proxy_get_current_time_nanoseconds') this.lastClock = n;
        mem.setU64(slot.a, n);
      } else returnBytes(vm, slot.a, slot.b, 'b' in v ? fromBase64(v.b) : new Uint8Array(0));
    });
  }
}

// Why a socket is not being read: it is paused while any reason stands and resumed when the last one goes,
// so that one reason ending (the other side drained) never resumes it under another (a full buffer).

import type { Socket } from 'node:net';

/** The upstream is being connected (Envoy's tcp_proxy disables reading until then). */
export const CONNECTING = 1;
/** The other side's socket holds more than the buffer limit unwritten. */
export const SLOW_PEER = 2;
/** Data held by a stopped filter passed the buffer limit. */
export const FILTER_HOLD = 4;

export class SocketPause {
  private reasons = 0;

  constructor(private readonly socket: Socket) {}

  get paused(): boolean {
    return this.reasons !== 0;
  }

  set(reason: number, on: boolean): void {
    const before = this.reasons;
    this.reasons = on ? before | reason : before & ~reason;
    if (before === 0 && this.reasons !== 0) this.socket.pause();
    else if (before !== 0 && this.reasons === 0) this.socket.resume();
  }
}

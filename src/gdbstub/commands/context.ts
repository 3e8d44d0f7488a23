// What every command handler gets: the target, and the session's state.

import type { BreakpointType } from "../protocol/commands.js";
import type { DebugTarget, StopEvent } from "../target.js";

export interface SessionState {
  noAck: boolean;
  /** Features GDB said it supports in qSupported (swbreak, hwbreak...). */
  gdbFeatures: Set<string>;
  /** A resume is under way: the reply is the next stop. */
  waiting: boolean;
  /** The session is over (detach or kill): close after this reply. */
  ending: boolean;
  /** Files opened through vFile: GDB's fd -> a host fd, or the contents of a /proc file the target made. */
  files: Map<number, number | Buffer>;
  nextFile: number;
  /**
   * Breakpoints and watchpoints this client has in the target, and whether
   * it catches syscalls: undone when it goes away without removing them,
   * or they would stop the program under the next debugger.
   */
  inserted: Array<{ type: BreakpointType; addr: bigint; length: number }>;
  catching: boolean;
  /** Hg and Hc: the thread registers are read from, and the one c/s resume; undefined: the stop's thread. */
  generalThread?: number;
  continueThread?: number;
  /** The library list (qXfer:libraries-svr4) as made for the read at offset 0, for the reads of its later pieces. */
  librariesXml?: Buffer;
}

export interface Context {
  readonly target: DebugTarget;
  readonly state: SessionState;
  /** Sends an extra packet before the reply (monitor output: O packets). */
  send(payload: string): void;
  /** The stop reply for an event. */
  stopReply(event: StopEvent): string;
}

/** A reply: the packet payload, or undefined for none now (resume, k). */
export type Reply = string | Buffer | undefined;

export const ERR_FAULT = "E0e"; // EFAULT
export const ERR_INVALID = "E16"; // EINVAL

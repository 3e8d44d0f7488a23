// What the GDB stub debugs. The VM implements it (src/vmm/debug.ts); the
// stub knows nothing else of torov.

/** Why the target is stopped, or how it ended. Signals are Linux numbers. */
export type StopEvent =
  | { kind: "stopped"; signal: number; reason?: StopReason; thread?: number }
  | { kind: "exited"; status: number }
  | { kind: "killed"; signal: number };

export type StopReason =
  | { type: "swbreak" | "hwbreak" }
  | { type: "watch" | "rwatch" | "awatch"; addr: bigint }
  | { type: "syscall_entry" | "syscall_return"; nr: number };

export type BreakpointKind = "sw" | "hw";
export type WatchKind = "w" | "r" | "a";

export interface StepRange {
  start: bigint;
  end: bigint;
}

/** A thread of the stopped program: its id (the main thread's is the pid) and name. */
export interface ThreadInfo {
  readonly tid: number;
  readonly name: string;
}

/**
 * How one thread goes on: one instruction when `step`; with `range`
 * (vCont;r), stepping while the pc stays in [range.start, range.end).
 */
export interface ResumeOrder {
  /** The thread (the one whose stop was reported when absent). */
  tid?: number;
  step: boolean;
  signal: number;
  range?: StepRange;
}

export interface DebugTarget {
  /** The process id GDB is shown (also its main thread's id). */
  readonly pid: number;
  /** The program's path, as qXfer:exec-file:read reports it. */
  readonly execFile: string;
  /** The program's name (the main thread's name). */
  readonly name: string;

  /** The last stop (or the end), for '?'. */
  lastStop(): StopEvent;
  /** Called whenever the target stops or ends after a resume. */
  onStop(listener: (event: StopEvent) => void): void;
  isRunning(): boolean;

  /** The live threads while stopped (all-stop: every one is stopped), the main one first. */
  threads(): ThreadInfo[];
  /** Registers in the native layout (src/vmm/regs.ts) of a thread (the stop's when absent), while stopped. */
  readRegisters(tid?: number): Buffer;
  writeRegisters(regs: Buffer, tid?: number): boolean;
  /** Bytes at addr (possibly fewer than asked), breakpoints hidden; undefined if none. */
  readMemory(addr: bigint, length: number): Buffer | undefined;
  writeMemory(addr: bigint, data: Buffer): boolean;

  /**
   * Runs on: the thread the order names as it says, and every other one
   * too unless `othersContinue` is false (a step with scheduler locking).
   */
  resume(order: ResumeOrder, othersContinue: boolean): void;
  interrupt(): void;
  kill(): void;
  detach(): void;

  insertBreakpoint(kind: BreakpointKind, addr: bigint): boolean;
  removeBreakpoint(kind: BreakpointKind, addr: bigint): boolean;
  insertWatchpoint(kind: WatchKind, addr: bigint, length: number): boolean;
  removeWatchpoint(kind: WatchKind, addr: bigint, length: number): boolean;
  /** Stop on entry to and return from these syscalls ("all", or none with []). */
  catchSyscalls(which: "all" | number[]): void;
  /** Linux signals delivered without stopping for the debugger first (QPassSignals). */
  passSignals?(signals: number[]): void;

  /** The auxiliary vector, as /proc/PID/auxv would have it. */
  auxv(): Buffer;
  /** Opens a file of the target for vFile (read-only): a host fd, or -errno. */
  openFile(path: string): number;
  /** The program's /proc/PID/maps or cmdline, as Linux would write them (GDB's info proc). */
  procFile?(file: "maps" | "cmdline"): Buffer;
  /** Answers a `monitor` command: the text to print. */
  monitor(command: string): string;
}

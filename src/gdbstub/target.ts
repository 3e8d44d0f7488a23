// What the GDB stub debugs. The VM implements it (src/vmm/debug.ts); the
// stub knows nothing else of torov.

/** Why the target is stopped, or how it ended. Signals are Linux numbers. */
export type StopEvent =
  | { kind: "stopped"; signal: number; reason?: StopReason }
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

export interface DebugTarget {
  /** The process id GDB is shown, and its one thread's id. */
  readonly pid: number;
  /** The program's path, as qXfer:exec-file:read reports it. */
  readonly execFile: string;
  /** The program's name (the thread's name). */
  readonly name: string;

  /** The last stop (or the end), for '?'. */
  lastStop(): StopEvent;
  /** Called whenever the target stops or ends after a resume. */
  onStop(listener: (event: StopEvent) => void): void;
  isRunning(): boolean;

  /** Registers in the native layout (src/vmm/regs.ts), while stopped. */
  readRegisters(): Buffer;
  writeRegisters(regs: Buffer): boolean;
  /** Bytes at addr (possibly fewer than asked), breakpoints hidden; undefined if none. */
  readMemory(addr: bigint, length: number): Buffer | undefined;
  writeMemory(addr: bigint, data: Buffer): boolean;

  /**
   * Runs on, one instruction when `step`; with `range` (vCont;r), goes on
   * stepping while the pc stays in [range.start, range.end).
   */
  resume(step: boolean, signal: number, range?: StepRange): void;
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

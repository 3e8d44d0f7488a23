// The VM as a debug target (src/gdbstub/target.ts): turns the vCPU's stops
// into what GDB expects of a Linux process under gdbserver.
//
// Software breakpoints are int3 bytes the target writes and hides again
// from every memory read. Where KVM gives debug registers (VT-x, AMD-V),
// hardware breakpoints and watchpoints use them, four at most, as
// gdbserver's do. Where it does not (PVM, QEMU's emulated AMD-V),
// "hardware" breakpoints are the same int3s, reported as hwbreak, and
// watchpoints come from page protection in the vCPU.

import { constants } from "node:os";
import { openSync, realpathSync } from "node:fs";
import { isAbsolute } from "node:path";
import type { BreakpointKind, DebugTarget, ResumeOrder, StopEvent, StopReason, ThreadInfo, WatchKind } from "../gdbstub/target.js";
import { HYPERCALLS, syscallName } from "./hypercalls.js";
import type { Machine } from "./machine.js";
import type { DebugMechanisms, NativeStop } from "./native.js";
import { getReg, setReg } from "./regs.js";
import { syscallBitmap } from "./syscall-set.js";
import type { RunOutcome } from "./report.js";
import { parseTraceFilter } from "../trace/filter.js";
import { Tracer } from "../trace/tracer.js";
import { isTorovError } from "./errors.js";

const { SIGTRAP, SIGINT, SIGSYS, SIGKILL } = constants.signals;
const INT3 = 0xcc;
/** How long resume() waits for the next stop before leaving it to the event loop. */
const RESUME_WAIT_MICROS = 300;
const PROT = ["---", "r--", "-w-", "rw-", "--x", "r-x", "-wx", "rwx"];

export class VmDebugTarget implements DebugTarget {
  readonly pid: number;
  readonly execFile: string;
  readonly name: string;
  /** Which features use KVM's help on this host (native/debug.h). */
  readonly mechanisms: DebugMechanisms;
  /** Resolves with the run's outcome when the program ends. */
  readonly outcome: Promise<RunOutcome>;

  private running = true;
  private last: StopEvent = { kind: "stopped", signal: SIGTRAP };
  /** While stopped: each thread's registers as read (by tid), and the threads. */
  private readonly regs = new Map<number, Buffer>();
  private threadList: ThreadInfo[] = [];
  private readonly listeners: Array<(e: StopEvent) => void> = [];
  private readonly breakpoints = new Map<bigint, { original: number; kinds: Set<BreakpointKind> }>();
  /** Hardware breakpoints in debug registers. */
  private readonly hwBreakpoints = new Set<bigint>();
  private firstStop: Promise<void>;
  private tracer: Tracer | undefined;
  private resolveFirst!: () => void;

  constructor(private readonly machine: Machine) {
    this.pid = machine.native.pid;
    this.execFile = machine.manifest.binary;
    this.name = machine.image.name;
    this.firstStop = new Promise((r) => (this.resolveFirst = r));
    this.mechanisms = machine.native.debugAttach(() => this.onNativeStop());
    this.outcome = machine.start().then((outcome) => {
      this.onEnd(outcome);
      return outcome;
    });
  }

  /** Resolves once the program is stopped before its first instruction. */
  ready(): Promise<void> {
    return this.firstStop;
  }

  private onNativeStop(): void {
    const st = this.machine.native.debugState();
    if (!st) return;
    // The calls made up to this stop show before GDB does.
    if (this.tracer?.isEnabled) this.tracer.take();
    this.regs.clear();
    this.regs.set(st.tid, st.regs);
    this.threadList = st.threads;
    this.running = false;
    const event = this.translate(st);
    this.last = event.kind === "stopped" ? { ...event, thread: st.tid } : event;
    this.resolveFirst();
    for (const l of this.listeners) l(this.last);
  }

  private translate(st: NativeStop): StopEvent {
    let reason: StopReason | undefined;
    switch (st.why) {
      case "trap": {
        // int3 traps after itself: at one of our breakpoints, report it at
        // the breakpoint's address, as Linux does for gdbserver.
        const at = getReg(st.regs, "rip") - 1n;
        const bp = this.breakpoints.get(at);
        if (bp) {
          setReg(st.regs, "rip", at);
          this.machine.native.debugSetRegisters(st.regs, st.tid);
          reason = { type: bp.kinds.has("sw") ? "swbreak" : "hwbreak" };
        }
        return { kind: "stopped", signal: SIGTRAP, reason };
      }
      case "syscall_entry":
      case "syscall_return":
        return { kind: "stopped", signal: SIGTRAP, reason: { type: st.why, nr: st.syscall ?? 0 } };
      case "hwbreak":
        return { kind: "stopped", signal: SIGTRAP, reason: { type: "hwbreak" } };
      case "watch": {
        const type = st.watchKind === "w" ? "watch" : st.watchKind === "r" ? "rwatch" : "awatch";
        return { kind: "stopped", signal: SIGTRAP, reason: { type, addr: st.watchAddr ?? 0n } };
      }
      case "interrupt":
        return { kind: "stopped", signal: SIGINT };
      case "denied":
        return { kind: "stopped", signal: SIGSYS };
      case "signal":
        return { kind: "stopped", signal: st.signal };
      default:
        return { kind: "stopped", signal: SIGTRAP };
    }
  }

  private onEnd(outcome: RunOutcome): void {
    if (this.tracer?.isEnabled) this.tracer.finish(outcome);
    this.running = false;
    this.regs.clear();
    this.threadList = [];
    const r = outcome.native;
    if (r.kind === "exited") this.last = { kind: "exited", status: r.status };
    else if (r.kind === "killed") this.last = { kind: "killed", signal: SIGKILL };
    else if (r.kind === "error") this.last = { kind: "exited", status: 2 };
    else this.last = { kind: "killed", signal: r.signal };
    this.resolveFirst();
    for (const l of this.listeners) l(this.last);
  }

  lastStop(): StopEvent {
    return this.last;
  }

  onStop(listener: (event: StopEvent) => void): void {
    this.listeners.push(listener);
  }

  isRunning(): boolean {
    return this.running;
  }

  /** The registers of a stopped thread (the stop's when undefined). */
  private stopped(tid?: number): Buffer {
    const last = this.last;
    if (this.running || last.kind !== "stopped") throw new Error("the program is not stopped");
    const id = tid ?? last.thread ?? this.pid;
    let regs = this.regs.get(id);
    if (!regs) {
      const st = this.machine.native.debugState(id);
      if (!st) throw new Error(`thread ${id} is not stopped`);
      regs = st.regs;
      this.regs.set(id, regs);
    }
    return regs;
  }

  threads(): ThreadInfo[] {
    return this.running ? [] : this.threadList;
  }

  readRegisters(tid?: number): Buffer {
    return Buffer.from(this.stopped(tid));
  }

  writeRegisters(regs: Buffer, tid?: number): boolean {
    this.stopped(tid);
    const id = tid ?? (this.last.kind === "stopped" ? this.last.thread : undefined);
    if (!this.machine.native.debugSetRegisters(regs, id)) return false;
    this.regs.set(id ?? this.pid, Buffer.from(regs));
    return true;
  }

  readMemory(addr: bigint, length: number): Buffer | undefined {
    const bytes = this.machine.native.debugRead(addr, length);
    if (!bytes) return undefined;
    for (const [at, bp] of this.breakpoints) {
      const off = at - addr;
      if (off >= 0n && off < BigInt(bytes.length)) bytes[Number(off)] = bp.original;
    }
    return bytes;
  }

  writeMemory(addr: bigint, data: Buffer): boolean {
    const out = Buffer.from(data);
    for (const [at, bp] of this.breakpoints) {
      const off = at - addr;
      if (off >= 0n && off < BigInt(out.length)) {
        bp.original = out[Number(off)];
        this.machine.native.debugSoftBreak(at, bp.original);
        out[Number(off)] = INT3;
      }
    }
    return this.machine.native.debugWrite(addr, out) === out.length;
  }

  resume(order: ResumeOrder, othersContinue: boolean): void {
    this.stopped(order.tid);
    this.running = true;
    this.regs.clear();
    // A step, or a breakpoint close by, stops again within microseconds:
    // the native side waits for that here, briefly, which spares the trip
    // from the vCPU thread through the event loop. A thread's stop that
    // was not reported yet comes back at once, with nothing resumed.
    const { step, signal, range, tid } = order;
    const native = { step, signal, wait: RESUME_WAIT_MICROS, rangeStart: range?.start, rangeEnd: range?.end, tid, others: othersContinue };
    if (this.machine.native.debugResume(native)) this.onNativeStop();
  }

  interrupt(): void {
    if (this.running) this.machine.native.debugInterrupt();
  }

  kill(): void {
    this.machine.kill();
  }

  detach(): void {
    for (const at of [...this.breakpoints.keys()]) this.restore(at);
    this.breakpoints.clear();
    this.hwBreakpoints.clear();
    this.machine.native.debugCatchSyscalls(false);
    this.running = true;
    this.regs.clear();
    this.machine.native.debugDetach();
  }

  private restore(at: bigint): void {
    const bp = this.breakpoints.get(at);
    if (bp) this.machine.native.debugWrite(at, Uint8Array.of(bp.original));
    this.machine.native.debugSoftBreak(at, -1);
  }

  insertBreakpoint(kind: BreakpointKind, addr: bigint): boolean {
    if (kind === "hw" && this.mechanisms.debugRegisters) {
      if (this.hwBreakpoints.has(addr)) return true;
      if (!this.machine.native.debugHwBreak(addr, true)) return false;
      this.hwBreakpoints.add(addr);
      return true;
    }
    const bp = this.breakpoints.get(addr);
    if (bp) {
      bp.kinds.add(kind);
      return true;
    }
    const original = this.machine.native.debugRead(addr, 1);
    if (!original || original.length !== 1) return false;
    if (this.machine.native.debugWrite(addr, Uint8Array.of(INT3)) !== 1) return false;
    this.breakpoints.set(addr, { original: original[0], kinds: new Set([kind]) });
    // A forked child gets the original byte back (native/processes/fork.cc).
    this.machine.native.debugSoftBreak(addr, original[0]);
    return true;
  }

  removeBreakpoint(kind: BreakpointKind, addr: bigint): boolean {
    if (kind === "hw" && this.mechanisms.debugRegisters) {
      if (!this.hwBreakpoints.has(addr) || !this.machine.native.debugHwBreak(addr, false)) return false;
      return this.hwBreakpoints.delete(addr);
    }
    const bp = this.breakpoints.get(addr);
    if (!bp || !bp.kinds.delete(kind)) return false;
    if (bp.kinds.size === 0) {
      this.restore(addr);
      this.breakpoints.delete(addr);
    }
    return true;
  }

  insertWatchpoint(kind: WatchKind, addr: bigint, length: number): boolean {
    return this.machine.native.debugWatch(kind, addr, length, true);
  }

  removeWatchpoint(kind: WatchKind, addr: bigint, length: number): boolean {
    return this.machine.native.debugWatch(kind, addr, length, false);
  }

  catchSyscalls(which: "all" | number[]): void {
    if (which === "all") {
      this.machine.native.debugCatchSyscalls(true);
      return;
    }
    this.machine.native.debugCatchSyscalls(which.length ? syscallBitmap(which) : false);
  }

  passSignals(signals: number[]): void {
    this.machine.native.debugPassSignals(signals);
  }

  stopOnDenied(on: boolean): void {
    this.machine.native.debugStopOnDenied(on);
  }

  auxv(): Buffer {
    const { auxv } = this.machine.stack;
    const b = Buffer.alloc(auxv.length * 16);
    auxv.forEach(([k, v], i) => {
      b.writeBigUInt64LE(BigInt(k), i * 16);
      b.writeBigUInt64LE(BigInt(v), i * 16 + 8);
    });
    return b;
  }

  openFile(path: string): number {
    // The program itself, by its host path (what exec-file reports)...
    try {
      if (isAbsolute(path) && realpathSync(path) === realpathSync(this.machine.manifest.binary)) return openSync(path, "r");
    } catch {
      // not the program
    }
    // ...or a file of the guest, resolved in what it sees (its MountPoint
    // and mounts) like its own paths. Nothing else of the host.
    if (!this.machine.manifest.mountPoint) return -2;
    return this.machine.native.openGuestFile(path.startsWith("/") ? path : `/${path}`);
  }

  procFile(file: "maps" | "cmdline"): Buffer {
    if (file === "cmdline") return Buffer.from(this.machine.argv.map((a) => `${a}\0`).join(""));
    // As Linux writes them: start-end perms offset dev inode name. The
    // program's segments are named by its host path, as exec-file names it.
    const hex = (n: number | bigint) => n.toString(16).padStart(8, "0");
    const lines = this.machine.native.mappings().map((m) => {
      const perms = `${m.prot & 1 ? "r" : "-"}${m.prot & 2 ? "w" : "-"}${m.prot & 4 ? "x" : "-"}p`;
      const name = m.kind === "stack" ? "[stack]" : m.kind === "heap" ? "[heap]" : m.kind === "image" ? this.execFile : m.name;
      const head = `${hex(m.start)}-${hex(m.end)} ${perms} 00000000 00:00 0`;
      return name ? `${head.padEnd(73)}${name}\n` : `${head}\n`;
    });
    return Buffer.from(lines.join(""));
  }

  monitor(command: string): string {
    const [verb, ...args] = command.split(/\s+/).filter(Boolean);
    switch (verb) {
      case undefined:
      case "help":
        return [
          "torov monitor commands:",
          "  hypercalls      hypercalls the program made so far, by count",
          "  policy          what the manifest lets reach the host",
          "  memory          the program's memory map",
          "  trace on|off    hypercall trace lines (strace's format) on torov's stderr;",
          "                  trace on -e NAMES -s N: which calls, how long strings",
          "  help            this list",
        ].join("\n");
      case "hypercalls": {
        const counts = Object.entries(this.machine.native.hypercallCounts())
          .map(([nr, n]) => [syscallName(Number(nr)), n] as const)
          .sort((a, b) => b[1] - a[1]);
        if (!counts.length) return "no hypercalls yet";
        return counts.map(([name, n]) => `${String(n).padStart(8)}  ${name}`).join("\n");
      }
      case "policy": {
        const p = this.machine.policy;
        const forwarded = p.forwarded().map((h) => h.name);
        const emulated = HYPERCALLS.filter((h) => h.kind === "emulated").length;
        return [
          `forwarded to the host (${forwarded.length}): ${forwarded.join(" ") || "none"}`,
          `emulated by torov, always allowed: ${emulated} hypercalls`,
          `anything else: ${this.machine.manifest.onDenied === "kill" ? "SIGSYS" : "EPERM"}`,
        ].join("\n");
      }
      case "memory":
        return this.machine.native
          .mappings()
          .map((m) => `${m.start.toString(16).padStart(12, "0")}-${m.end.toString(16).padStart(12, "0")} ${PROT[m.prot & 7]} ${m.kind.padEnd(5)} ${m.name}`)
          .join("\n");
      case "trace":
        return this.traceCommand(args);
      default:
        return `unknown monitor command "${[verb, ...args].join(" ")}": try "monitor help"`;
    }
  }

  /** monitor trace on [-e NAMES] [-s N] | off */
  private traceCommand(args: string[]): string {
    const [what, ...rest] = args;
    if (what === undefined) return `hypercall trace is ${this.tracer?.isEnabled ? "on" : "off"}`;
    if (what === "off") {
      this.tracer?.disable();
      return "hypercall trace off";
    }
    if (what !== "on") return `monitor trace: expected "on" or "off", not "${what}"`;
    const exprs: string[] = [];
    let strsize = 32;
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "-e" && rest[i + 1]) exprs.push(rest[++i]);
      else if (rest[i] === "-s" && /^\d+$/.test(rest[i + 1] ?? "")) strsize = Number(rest[++i]);
      else return `monitor trace on: unexpected "${rest[i]}" (try: trace on -e read,write -s 64)`;
    }
    try {
      this.tracer?.disable();
      this.tracer = new Tracer(this.machine, { filter: parseTraceFilter(exprs), strsize });
      this.tracer.enable();
    } catch (e) {
      if (isTorovError(e)) return `monitor trace on: ${e.message}`;
      throw e;
    }
    return "hypercall trace on: lines go to torov's stderr";
  }
}

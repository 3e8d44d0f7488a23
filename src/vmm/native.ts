// Loads and types the native addon (native/, built by node-gyp).

import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { TorovError } from "./errors.js";
import type { FilterRule, FilterSlot } from "./seccomp.js";

/** An argument for probeSeccomp: a number, a slot, "other" (an fd no rule names), or a pointer to bytes the probe holds. */
export type ProbeArg = number | bigint | FilterSlot | "other" | { str: string } | { bytes: Uint8Array } | { buf: number };
export interface ProbeCall {
  nr: number;
  args: ProbeArg[];
}

/** How a run ended, as the vCPU thread reports it. */
export interface NativeRunResult {
  kind: "exited" | "signaled" | "fault" | "killed" | "error";
  status: number;
  signal: number;
  message: string;
  /** The thread the outcome is about: the one that faulted, or the last to end. */
  tid: number;
  deniedCount: number;
  deniedNr?: number;
  vector?: number;
  errorCode?: number;
  address?: bigint;
  /** The application's registers at the fault (src/vmm/regs.ts). */
  regs?: Buffer;
}

/** Why the vCPU is parked (src/vmm/debug.ts). */
export interface NativeStop {
  why: "initial" | "trap" | "step" | "signal" | "syscall_entry" | "syscall_return" | "interrupt" | "denied" | "watch" | "hwbreak" | "quiet";
  /** The thread this stop is of, the thread whose stop was reported, and every live thread. */
  tid: number;
  eventTid: number;
  threads: Array<{ tid: number; name: string }>;
  signal: number;
  vector?: number;
  errorCode: number;
  faultAddr: bigint;
  syscall?: number;
  watchAddr?: bigint;
  watchKind?: "w" | "r" | "a";
  /** The application's registers (src/vmm/regs.ts). */
  regs: Buffer;
}

export interface NativeMachineConfig {
  memory: number;
  /** Processes at once (fork past it: EAGAIN); 64 when absent. */
  processes?: number;
  root?: string;
  /** Host paths the guest sees at `target` (native/paths.h). */
  mounts?: Array<{ source: string; target: string; readOnly: boolean }>;
  exe: string;
  exeName: string;
  newpid: boolean;
  flat: boolean;
  onDenied: "errno" | "kill";
  allowed: Uint8Array;
  /** Host fds for the guest's 0, 1, 2 (duplicated); -1: closed. Default: the process's own. */
  stdio?: [number, number, number];
  /** The host calls the vCPU thread's seccomp filter admits, with their argument checks (src/vmm/seccomp.ts); absent: no filter. */
  hostFilter?: readonly FilterRule[];
  /**
   * For the tests only (TOROV_TEST_USER_SLOTS=1): map the hypercall slots
   * user-writable even where the syscall stub runs at CPL 0 (VT-x, AMD-V),
   * as PVM must, so that the races on them that a PVM guest can run are run
   * in test/harness's AMD-V guests too.
   */
  userSlots?: boolean;
}

export interface NativeMapping {
  start: bigint;
  end: bigint;
  prot: number;
  kind: "image" | "heap" | "stack" | "anon" | "file";
  name: string;
}

export interface NativeMachine {
  /** All of guest RAM, raw (created on first use). */
  readonly memory: ArrayBuffer;
  readonly appLow: number;
  readonly appHigh: number;
  /** The guest's pid, its main thread's tid (1 with Newpid). */
  readonly pid: number;
  addMapping(start: number, end: number, prot: number, kind: string, name?: string): boolean;
  /** Copies bytes into guest RAM; RangeError outside the application's area. */
  write(addr: number, bytes: Uint8Array): void;
  fill(addr: number, length: number, byte: number): void;
  /**
   * Opens `path` as the guest's own open(path, O_RDONLY) would find it, in
   * its MountPoint: a host fd (read-only, close-on-exec, non-blocking) the
   * caller closes, or -errno.
   */
  openGuestFile(path: string): number;
  /**
   * Copies `ranges` of the program file `fd` (file offsets, [start, end)
   * pairs) for the guest: what mapProgram and copyProgram take bytes from.
   * TorovError (EBINARY) when the file ends before a range.
   */
  snapshotProgram(fd: number, ranges: number[]): void;
  /** Maps pages of the program's copy, copy-on-write, at a page-aligned guest address; false when it cannot. */
  mapProgram(addr: number, length: number, offset: number): boolean;
  /** Copies bytes of the program's copy into guest RAM; RangeError outside the application's area or the copy. */
  copyProgram(addr: number, offset: number, length: number): void;
  setBrk(addr: number): void;
  setMmapTop(addr: number): void;
  mappings(): NativeMapping[];
  start(init: { rip: number | bigint; rsp: number | bigint }, done: (result: NativeRunResult) => void): void;
  kill(): void;
  /** Hypercalls made so far, by number. */
  hypercallCounts(): Record<number, number>;
  /** The numbers the policy had to allow so far (what a profile lists). */
  neededHypercalls(): number[];
  /** The containment layers the vCPU thread is in ("" = active, else why not); null before the run starts. */
  containment(): { chroot: string; seccomp: string; capabilities: string; hostSyscalls: number } | null;
  /** Who made the guest's detached mounts: "root", "user namespace", or "" (none). */
  mountsMadeBy(): string;

  // The debugger's side: see src/vmm/debug.ts.
  /** The debugger features that use KVM's help here (the others use the runtime's handlers and page protection). */
  debugAttach(onStop: () => void): DebugMechanisms;
  debugState(tid?: number): NativeStop | null;
  debugSetRegisters(regs: Buffer, tid?: number): boolean;
  /** Resumes; true when it stopped again within `wait` µs (onStop is then not called for that stop). */
  debugResume(order: { step?: boolean; signal?: number; wait?: number; rangeStart?: bigint; rangeEnd?: bigint; tid?: number; others?: boolean }): boolean;
  debugDetach(): void;
  debugInterrupt(): void;
  debugRead(addr: number | bigint, length: number): Buffer | null;
  debugWrite(addr: number | bigint, bytes: Uint8Array): number;
  /** The debugger's int3 at `addr` over `original`, or (-1) gone: a forked child gets the originals back. */
  debugSoftBreak(addr: bigint, original: number): void;
  debugWatch(kind: "w" | "r" | "a", addr: number | bigint, length: number, insert: boolean): boolean;
  /** An execute breakpoint in a debug register ("kvm" only); false when none is free. */
  debugHwBreak(addr: bigint, insert: boolean): boolean;
  debugCatchSyscalls(which: boolean | Uint8Array): void;
  debugStopOnDenied(on: boolean): void;
  /** Linux signals delivered without a stop for the debugger first. */
  debugPassSignals(signals: number[]): void;

  // Tracing: see src/trace/tracer.ts and native/trace.h.
  traceConfigure(options: { plan: Int32Array; filter: Uint8Array; records: boolean; bufferBytes?: number; onReady: () => void }): void;
  traceEnable(on: boolean): void;
  /** The records written since the last call, or null. */
  traceTake(): Buffer | null;
  /** Calls, errors and nanoseconds per hypercall number (3 per number). */
  traceCounts(): Float64Array;
}

/** Which debugger features use KVM's help (native/debug.h); each false uses the guest runtime's own handlers. */
export interface DebugMechanisms {
  /** KVM_GUESTDBG_SINGLESTEP, else the trap flag. */
  kvmStep: boolean;
  /** int3 intercepted by KVM, else the runtime's #BP handler. */
  kvmInt3: boolean;
  /** hbreak and watchpoints in the 4 debug registers, else int3s and page protection. */
  debugRegisters: boolean;
}

/** What probeDebug() finds: what this host's KVM does for a debugger of user-mode code. */
export interface DebugProbe {
  kvmStep: boolean;
  kvmSwBreakpoints: boolean;
  kvmHwBreakpoints: boolean;
  kvmWatchpoints: boolean;
  guestDebugRegisters: boolean;
  mechanisms: DebugMechanisms;
  /** What each probe's run ended in: single step, int3, execute breakpoint, data breakpoint. */
  seen: string[];
}

export interface KvmInfo {
  flavour: "pvm" | "vmx" | "svm" | "unknown";
  /** The hypervisor this host runs under, by CPUID signature ("TCGTCGTCGTCG" is QEMU's software CPU); "" on bare metal. */
  hypervisor: string;
  syncRegs: boolean;
  immediateExit: boolean;
  guestDebug: boolean;
  debugRegs: boolean;
  hwBreakpoints: number;
  cpuidEntries: number;
}

export interface NativeAddon {
  NativeMachine: new (config: NativeMachineConfig) => NativeMachine;
  setErrorClass(cls: new (message: string, code: string) => Error): void;
  kvmInfo(): KvmInfo;
  /** The ioctl requests a vCPU thread makes on its vCPU. */
  vcpuRequests(): number[];
  implementedHypercalls(): number[];
  getRandom(buf: Uint8Array): Uint8Array;
  /** µs per exit of a guest looping on `out` at CPL 3, nothing done per exit. */
  rawExitBenchmark(iterations: number): number;
  /** A read-only fd for a guest path inside `root` (confined as the guest's paths), or -errno. */
  openInRoot(root: string, path: string): number;
  /** Which debug mechanisms this host's KVM honours for user-mode code (scratch VMs, once per process). */
  probeDebug(): DebugProbe;
  /** What the debugger loads into the debug registers for these hbreaks and watches; null when they do not fit. */
  planDebugRegisters(breaks: bigint[], watches: { addr: bigint; len: number; kind: "w" | "r" | "a" }[]): { used: number; dr7: bigint; slots: { addr: bigint; watch: number }[] } | null;
  /**
   * Installs `filter` on a scratch thread (stand-ins for its slots: /dev/null
   * for the VM's fds, the real /, /dev, Node's folder and /proc/self/fd) and
   * makes the calls there. Each result is the call's return value or -errno;
   * `installed` is "" when the filter went in, else why not (then no call is made).
   */
  probeSeccomp(filter: readonly FilterRule[], calls: readonly ProbeCall[]): { installed: string; results: number[] };
}

let addon: NativeAddon | undefined;

/**
 * The addon TOROV_ADDON names (an absolute path: a sanitizer build of
 * scripts/sanitize.mjs), or undefined when it is unset.
 */
export function addonOverride(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const path = env.TOROV_ADDON;
  if (path === undefined || path === "") return undefined;
  if (!isAbsolute(path)) throw new TorovError(`TOROV_ADDON must be an absolute path to a torov.node, not ${path}`, "EKVM");
  if (!existsSync(path)) throw new TorovError(`TOROV_ADDON names ${path}, which does not exist`, "EKVM");
  return path;
}

/** The addon, loaded on first use: build/Release's, or exactly the one TOROV_ADDON names. */
export function native(): NativeAddon {
  if (addon) return addon;
  const override = addonOverride();
  if (override !== undefined) {
    addon = require(override) as NativeAddon;
    addon.setErrorClass(TorovError as unknown as new (message: string, code: string) => Error);
    return addon;
  }
  const tried: string[] = [];
  // dist/src/vmm/ -> the package root
  for (const rel of ["../../../build/Release/torov.node", "../../../build/Debug/torov.node"]) {
    const path = join(__dirname, rel);
    tried.push(path);
    try {
      addon = require(path) as NativeAddon;
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  if (!addon) throw new TorovError(`the native addon is not built (tried ${tried.join(", ")}): run npm install`, "EKVM");
  addon.setErrorClass(TorovError as unknown as new (message: string, code: string) => Error);
  return addon;
}

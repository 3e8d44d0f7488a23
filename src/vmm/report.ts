// What a run's end looks like to a user: the exit status a shell sees, and
// for a guest killed by a signal, the report lines for stderr.

import { constants } from "node:os";
import { elfSymbols, symbolize, type ElfSymbol } from "./elf.js";
import { syscallName } from "./hypercalls.js";
import type { LoadedImage } from "./image.js";
import type { NativeRunResult } from "./native.js";
import { getReg, type RegName } from "./regs.js";

export interface RunOutcome {
  /** What the process exits with: the guest's status, or 128 + signal. */
  readonly status: number;
  /** Set when the guest was killed by a signal. */
  readonly signal?: string;
  /** Lines for stderr (empty for a normal exit). */
  readonly report: readonly string[];
  /** Hypercalls the manifest refused during the run. */
  readonly denied: number;
  readonly native: NativeRunResult;
}

// The first name of each number: SIGABRT, not its alias SIGIOT.
const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);
export const signalName = (n: number) => SIGNAL_NAMES.get(n) ?? `signal ${n}`;

const VECTORS: Record<number, string> = {
  0: "divide error", 1: "debug trap", 3: "breakpoint (int3)", 4: "overflow", 5: "bound range exceeded",
  6: "invalid opcode", 7: "device not available", 8: "double fault", 10: "invalid TSS", 11: "segment not present",
  12: "stack-segment fault", 13: "general protection fault", 14: "page fault", 16: "x87 floating-point error",
  17: "alignment check", 18: "machine check", 19: "SIMD floating-point error", 21: "control protection fault",
};

const hex = (v: bigint | number, width = 0) => `0x${v.toString(16).padStart(width, "0")}`;

function pageFaultText(code: number, addr: bigint): string {
  const what = code & 16 ? "execute" : code & 2 ? "write to" : "read from";
  const why = code & 1 ? (code & 16 ? "non-executable" : code & 2 ? "read-only" : "protected") : "unmapped";
  return `${what} ${why} address ${hex(addr)}`;
}

const REG_ORDER: RegName[] = [
  "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
  "rip", "eflags", "fs_base", "gs_base",
];

/** Register lines, three to a line, as `info registers` spacing. */
export function formatRegisters(regs: Buffer): string[] {
  const cells = REG_ORDER.map((r) => `${r.padEnd(7)} ${hex(getReg(regs, r), 16)}`);
  const lines: string[] = [];
  for (let i = 0; i < cells.length; i += 3) lines.push(`  ${cells.slice(i, i + 3).join("   ")}`);
  return lines;
}

let symbolCache: { image: LoadedImage; symbols: ElfSymbol[] } | undefined;

/** "main+0x15" for a guest address in the program, if it has symbols. */
export function symbolFor(image: LoadedImage, addr: bigint): string | undefined {
  if (image.format !== "elf") return undefined;
  if (symbolCache?.image !== image) {
    let symbols: ElfSymbol[] = [];
    try {
      symbols = elfSymbols(image.contents());
    } catch {
      // the file went away: no symbols
    }
    symbolCache = { image, symbols };
  }
  const a = Number(addr) - image.bias;
  return symbolize(symbolCache.symbols, a);
}

export function outcome(r: NativeRunResult, image: LoadedImage): RunOutcome {
  const base = { denied: r.deniedCount, native: r };
  const who = image.name;
  switch (r.kind) {
    case "exited":
      return { ...base, status: r.status, report: [] };
    case "signaled": {
      const sig = signalName(r.signal);
      if (r.signal === constants.signals.SIGPIPE) return { ...base, status: r.status, signal: sig, report: [] };
      const why =
        r.signal === constants.signals.SIGSYS && r.deniedNr !== undefined
          ? `: hypercall ${syscallName(r.deniedNr)} is denied by the manifest (OnDenied "kill")`
          : r.message === "sent itself the signal"
            ? " (it sent the signal to itself)"
            : r.message
              ? `: ${r.message}` // the monitor's reason (a bad signal frame, the debugger...)
              : "";
      return { ...base, status: r.status, signal: sig, report: [`torov: ${who} killed by ${sig}${why}`] };
    }
    case "fault": {
      const sig = signalName(r.signal);
      const regs = r.regs!;
      const vector = r.vector ?? -1;
      const what =
        vector === 14 ? pageFaultText(r.errorCode ?? 0, r.address ?? 0n) : (VECTORS[vector] ?? `CPU exception ${vector}`);
      const rip = getReg(regs, "rip");
      const sym = symbolFor(image, rip);
      const lines = [
        `torov: ${who} killed by ${sig}: ${what}`,
        `  at rip ${hex(rip)}${sym ? ` <${sym}>` : ""}`,
        ...formatRegisters(regs),
      ];
      return { ...base, status: r.status, signal: sig, report: lines };
    }
    case "killed":
      return { ...base, status: 128 + constants.signals.SIGKILL, signal: "SIGKILL", report: [`torov: ${who} was stopped`] };
    case "error":
      return { ...base, status: 2, report: [`torov: ${who}: ${r.message}`] };
  }
}

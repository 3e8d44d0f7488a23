// Reads the binary trace records the native tracer writes (layout in
// native/trace.h) into objects the formatters take.

import type { TracePlan } from "./plan.js";

export interface Capture {
  readonly data: Buffer;
  /** The length the call named (bytes) or the string's length, when known. */
  readonly full: bigint;
  /** More than the limit: a line shows "..." after it. */
  readonly truncated: boolean;
  /** The guest pointer could not be read: a line shows the address. */
  readonly fault: boolean;
}

export interface TraceRecord {
  readonly seq: number;
  readonly nr: number;
  /** The thread that made the call (its tid; the main thread's is the pid). */
  readonly tid: number;
  /** CLOCK_REALTIME, nanoseconds. */
  readonly start: bigint;
  readonly durationNs: bigint;
  /** The raw result (a negative errno on failure). */
  readonly result: bigint;
  readonly args: readonly bigint[];
  readonly denied: boolean;
  /** exit/exit_group: no result. */
  readonly noReturn: boolean;
  /** Not a call: a signal delivered; nr is the signal, args signo, si_code, si_pid, si_uid. */
  readonly signal: boolean;
  /**
   * Not a call: a process other than the first ended (tid is its pid);
   * args[0] 0 and args[1] its exit status, or 1 and the signal that killed it.
   */
  readonly processEnd: boolean;
  /** Captures by argument index: what the guest passed, and what it got back. */
  readonly entry: ReadonlyMap<number, Capture>;
  readonly exit: ReadonlyMap<number, Capture>;
  /** Captures that are not an argument's main one (getsockopt's value). */
  readonly extra: readonly Capture[];
}

const HEADER = 96;
const DENIED = 1;
const NO_RETURN = 2;
const SIGNAL = 4;
const PROCESS_END = 8;

export function parseRecords(buf: Buffer, plan: TracePlan): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (let at = 0; at + HEADER <= buf.length; ) {
    const size = buf.readUInt32LE(at);
    if (size < HEADER || at + size > buf.length) throw new Error(`trace record at ${at}: bad size ${size}`);
    const nr = buf.readUInt16LE(at + 4);
    const flags = buf[at + 6];
    const nblobs = buf[at + 7];
    const args = Array.from({ length: 6 }, (_, i) => buf.readBigUInt64LE(at + 40 + i * 8));
    const entry = new Map<number, Capture>();
    const exit = new Map<number, Capture>();
    const extra: Capture[] = [];
    const ops = flags & (SIGNAL | PROCESS_END) ? [] : (plan.ops[nr] ?? []);
    let b = at + HEADER;
    for (let k = 0; k < nblobs && b + 16 <= at + size; k++) {
      const index = buf[b];
      const bflags = buf[b + 1];
      const len = buf.readUInt32LE(b + 4);
      const full = buf.readBigUInt64LE(b + 8);
      const capture: Capture = { data: buf.subarray(b + 16, b + 16 + len), full, truncated: (bflags & 1) !== 0, fault: (bflags & 2) !== 0 };
      const op = ops[index];
      if (op) {
        const into = op.when === "entry" ? entry : exit;
        if (into.has(op.arg)) extra.push(capture);
        else into.set(op.arg, capture);
      }
      b += (16 + len + 7) & ~7;
    }
    out.push({
      seq: Number(buf.readBigUInt64LE(at + 8)),
      nr,
      tid: buf.readUInt32LE(at + 88),
      start: buf.readBigInt64LE(at + 16),
      durationNs: buf.readBigUInt64LE(at + 24),
      result: buf.readBigInt64LE(at + 32),
      args,
      denied: (flags & DENIED) !== 0,
      noReturn: (flags & NO_RETURN) !== 0,
      signal: (flags & SIGNAL) !== 0,
      processEnd: (flags & PROCESS_END) !== 0,
      entry,
      exit,
      extra,
    });
    at += size;
  }
  return out;
}

// The threads of a trace, as `strace -f` shows them (strace 6, lines to
// stderr): while the program has more than one thread, every line starts
// with "[pid  TID] " (the tid in 5 columns), the first thread's lines too;
// with one thread left, lines go back to having no prefix. A thread that
// ends with exit(2) gets "+++ exited with N +++" after its exit line; at the
// end, each thread still there gets one, the first thread's last.
//
// strace prints a call's line when the call starts and ends it when the call
// returns, splitting it ("<unfinished ...>", "<... read resumed>") when
// another thread's line comes between. torov prints each line whole, when
// the call ends, in the order the calls ended; a line's prefix is decided
// then. Two exceptions keep strace's look: a clone's line is printed as if
// the new thread did not exist yet (strace starts that line before it
// does), and a new thread's first calls, when they end before the clone
// that made it (it runs at once on its own vCPU), come after the clone's
// line, as strace shows them (it lets a new thread run only once it saw
// the clone end). Only within one batch of records: a batch's end shows
// whatever still waits.

import { LINUX_SYSCALLS } from "../vmm/syscalls.js";
import type { TraceRecord } from "./records.js";

const NR_CLONE = LINUX_SYSCALLS.get("clone")!;
const NR_CLONE3 = LINUX_SYSCALLS.get("clone3")!;
const NR_EXIT = LINUX_SYSCALLS.get("exit")!;
const NR_EXIT_GROUP = LINUX_SYSCALLS.get("exit_group")!;

/** The numbers a trace needs records of to follow threads, whatever -e shows. */
export const THREAD_CALLS: readonly number[] = [NR_CLONE, NR_CLONE3, NR_EXIT, NR_EXIT_GROUP];

/** strace -f's prefix: "[pid  1234] ". */
export function pidPrefix(tid: number): string {
  return `[pid ${String(tid).padStart(5)}] `;
}

export class ThreadLines {
  /** The threads alive, in the order they were seen. */
  private readonly live = new Set<number>();
  /** The highest tid seen: a higher one is a thread whose clone has not ended yet. */
  private highest = 0;
  /** The lines of such threads, by tid, until their clone's line. */
  private readonly waiting = new Map<number, Array<() => string[]>>();

  /** `leader`: the first thread (its tid is the pid); unknown, the first tid seen. */
  constructor(private leader?: number) {
    if (leader !== undefined) {
      this.live.add(leader);
      this.highest = leader;
    }
  }

  /** How many threads the trace knows to be alive. */
  get count(): number {
    return this.live.size;
  }

  private prefix(tid: number): string {
    return this.live.size > 1 ? pidPrefix(tid) : "";
  }

  /**
   * The lines one record makes: its own (`format` given the prefix, which
   * counts in the line's columns; none when -e hides it) and, when a thread
   * other than the first ended with exit(2), "+++ exited with N +++".
   * `stamp` is the -t column for that line.
   */
  lines(rec: TraceRecord, format: ((prefix: string) => string) | undefined, stamp = ""): string[] {
    if (this.leader === undefined) {
      this.leader = rec.tid;
      this.live.add(rec.tid);
      this.highest = rec.tid;
    }
    if (!this.live.has(rec.tid) && rec.tid > this.highest) {
      // A new thread's calls that ended before the clone that made it.
      const list = this.waiting.get(rec.tid) ?? [];
      list.push(() => this.lines(rec, format, stamp));
      this.waiting.set(rec.tid, list);
      return [];
    }
    this.live.add(rec.tid);
    const out: string[] = [];
    const prefix = this.prefix(rec.tid);
    if (format) out.push(format(prefix));
    if (rec.signal) return out;
    if ((rec.nr === NR_CLONE || rec.nr === NR_CLONE3) && rec.result > 0n && !rec.denied) {
      const child = Number(rec.result);
      this.live.add(child);
      this.highest = Math.max(this.highest, child);
      const early = this.waiting.get(child) ?? [];
      this.waiting.delete(child);
      for (const later of early) out.push(...later());
    }
    if (rec.nr === NR_EXIT && rec.noReturn && rec.tid !== this.leader) {
      // The first thread's exit(2) leaves it a zombie until the last thread
      // ends: its "+++" line comes at the end, as with strace.
      out.push(`${prefix}${stamp}+++ exited with ${Number(rec.args[0] & 0xffn)} +++`);
      this.live.delete(rec.tid);
    }
    return out;
  }

  /** The end of a batch: the lines still waiting for their thread's clone, as they are. */
  flush(): string[] {
    const out: string[] = [];
    for (const [tid, list] of [...this.waiting].sort((a, b) => a[0] - b[0])) {
      this.waiting.delete(tid);
      this.live.add(tid);
      this.highest = Math.max(this.highest, tid);
      for (const later of list) out.push(...later());
    }
    return out;
  }

  /**
   * strace's last lines: `text` ("+++ exited with 3 +++") for each thread
   * still alive, the first thread's last; `first` (a fatal signal's
   * "--- SIGSEGV {...} ---") before them, for thread `tid` (the first one
   * when unknown).
   */
  end(text: string, first?: string, tid?: number): string[] {
    const out = this.flush();
    const leader = this.leader;
    if (first !== undefined) out.push(this.prefix(tid ?? leader ?? 0) + first);
    // The thread a signal killed first, then the others in the order they came.
    const order = [...this.live].filter((t) => t !== leader);
    if (tid !== undefined && order.includes(tid)) order.sort((a, b) => Number(b === tid) - Number(a === tid));
    for (const t of order) {
      out.push(this.prefix(t) + text);
      this.live.delete(t);
    }
    out.push(this.prefix(leader ?? 0) + text);
    return out;
  }
}

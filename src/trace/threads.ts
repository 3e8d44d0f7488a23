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
//
// Processes are followed the same way: fork, vfork and a clone without
// CLONE_THREAD make one, whose pid is its first thread's tid, and its end
// (a record of its own, as the monitor saw it) gives each of its threads
// "+++ exited with N +++" or "+++ killed by SIGKILL +++", as strace -f.

import { LINUX_SYSCALLS } from "../vmm/syscalls.js";
import { signalName } from "./constants.js";
import type { TraceRecord } from "./records.js";

const NR_CLONE = LINUX_SYSCALLS.get("clone")!;
const NR_CLONE3 = LINUX_SYSCALLS.get("clone3")!;
const NR_EXIT = LINUX_SYSCALLS.get("exit")!;
const NR_EXIT_GROUP = LINUX_SYSCALLS.get("exit_group")!;
const NR_FORK = LINUX_SYSCALLS.get("fork")!;
const NR_VFORK = LINUX_SYSCALLS.get("vfork")!;
const CLONE_THREAD = 0x10000n;

/** The numbers a trace needs records of to follow threads and processes, whatever -e shows. */
export const THREAD_CALLS: readonly number[] = [NR_CLONE, NR_CLONE3, NR_FORK, NR_VFORK, NR_EXIT, NR_EXIT_GROUP];

/** Whether a record is a call that made a thread or a process, and which. */
function made(rec: TraceRecord): "thread" | "process" | undefined {
  if (rec.signal || rec.processEnd || rec.denied || rec.result <= 0n) return undefined;
  if (rec.nr === NR_FORK || rec.nr === NR_VFORK) return "process";
  if (rec.nr === NR_CLONE) return rec.args[0] & CLONE_THREAD ? "thread" : "process";
  if (rec.nr === NR_CLONE3) return "thread";
  return undefined;
}

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
  /** The process each thread seen is in: tid -> pid. */
  private readonly owner = new Map<number, number>();

  /** `leader`: the first thread (its tid is the pid); unknown, the first tid seen. */
  constructor(private leader?: number) {
    if (leader !== undefined) {
      this.live.add(leader);
      this.highest = leader;
      this.owner.set(leader, leader);
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
      this.owner.set(rec.tid, rec.tid);
    }
    if (!this.live.has(rec.tid) && rec.tid > this.highest) {
      // A new thread's calls that ended before the clone that made it.
      const list = this.waiting.get(rec.tid) ?? [];
      list.push(() => this.lines(rec, format, stamp));
      this.waiting.set(rec.tid, list);
      return [];
    }
    if (rec.processEnd) return this.processEnd(rec, stamp);
    this.live.add(rec.tid);
    const out: string[] = [];
    const prefix = this.prefix(rec.tid);
    if (format) out.push(format(prefix));
    if (rec.signal) return out;
    const kind = made(rec);
    if (kind) {
      const child = Number(rec.result);
      this.owner.set(child, kind === "process" ? child : (this.owner.get(rec.tid) ?? rec.tid));
      this.live.add(child);
      this.highest = Math.max(this.highest, child);
      const early = this.waiting.get(child) ?? [];
      this.waiting.delete(child);
      for (const later of early) out.push(...later());
    }
    // A process's first thread ends with its process (processEnd).
    if (rec.nr === NR_EXIT && rec.noReturn && rec.tid !== this.leader && this.owner.get(rec.tid) !== rec.tid) {
      // The first thread's exit(2) leaves it a zombie until the last thread
      // ends: its "+++" line comes at the end, as with strace.
      out.push(`${prefix}${stamp}+++ exited with ${Number(rec.args[0] & 0xffn)} +++`);
      this.live.delete(rec.tid);
    }
    return out;
  }

  /** A process other than the first ended: a line for each of its threads, its first thread's last. */
  private processEnd(rec: TraceRecord, stamp: string): string[] {
    const pid = rec.tid;
    const text = rec.args[0] ? `+++ killed by ${signalName(Number(rec.args[1]))} +++` : `+++ exited with ${Number(rec.args[1])} +++`;
    const threads = [...this.live].filter((t) => t !== pid && this.owner.get(t) === pid);
    threads.push(pid);
    const out: string[] = [];
    for (const t of threads) {
      this.live.add(t);
      out.push(`${this.prefix(t)}${stamp}${text}`);
      this.live.delete(t);
      this.owner.delete(t);
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

// Traces a Machine's hypercalls: configures the native tracer, takes its
// records as they pile up (on a timer, or at once when its buffer is half
// full) and writes them as strace lines or JSON lines; at the end, the
// "+++ exited with N +++" line and, with -c, the summary table. Threads are
// shown as strace -f shows them (./threads.ts): lines prefixed with the
// thread's id while there is more than one, each whole, in the order the
// calls ended.

import { closeSync, openSync, writeSync } from "node:fs";
import { constants } from "node:os";
import { TorovError } from "../vmm/errors.js";
import { describeMount } from "../vmm/lending.js";
import { syscallName } from "../vmm/hypercalls.js";
import { syscallBitmap } from "../vmm/syscall-set.js";
import type { Machine } from "../vmm/machine.js";
import { buildPlan, type TracePlan } from "./plan.js";
import { errnoName, formatArgs, formatLine, formatSiginfo, isError, timeOfDay } from "./format.js";
import { parseRecords, type TraceRecord } from "./records.js";
import { countsFrom, summaryTable } from "./summary.js";
import type { RunOutcome } from "../vmm/report.js";
import { signalName } from "./constants.js";
import { THREAD_CALLS, ThreadLines } from "./threads.js";

export interface TraceOptions {
  /** -o: a file for the trace (default: stderr). */
  readonly output?: string;
  /** -e: the numbers to show (default: all). */
  readonly filter?: ReadonlySet<number>;
  /** -s: the longest string shown (default 32). */
  readonly strsize?: number;
  /** -c: the summary table at the end, and (without `lines`) nothing else. */
  readonly summary?: boolean;
  /** Lines as well as the summary (-C). */
  readonly lines?: boolean;
  /** -t (1), -tt (2), -ttt (3) */
  readonly timestamps?: number;
  /** -T */
  readonly durations?: boolean;
  /** --json: one JSON object per call instead of strace lines. */
  readonly json?: boolean;
  /** Each record as it is read. */
  readonly onRecord?: (rec: TraceRecord) => void;
  /** The native buffer's size: records wait there for JavaScript (default 4 MiB; at least 64 KiB). */
  readonly bufferBytes?: number;
  /**
   * The trace's reader went away (EPIPE). Without this, the trace stops and
   * the program runs on; `torov trace` ends, as SIGPIPE ends a Unix tool.
   */
  readonly onReaderGone?: () => void;
}

/** How often records are taken while the guest runs (ms). */
const TAKE_EVERY = 20;

/** One call as a JSON object (--json). */
export function jsonRecord(rec: TraceRecord, strsize: number): string {
  const err = isError(rec);
  const ts = new Date(Number(rec.start / 1000000n)).toISOString().replace(/\.\d+Z$/, `.${String((rec.start / 1000n) % 1000000n).padStart(6, "0")}Z`);
  if (rec.signal) {
    const si = formatSiginfo(rec);
    return JSON.stringify({ seq: rec.seq, ts, tid: rec.tid, signal: si.signo, si_code: si.code, si_pid: si.pid, si_uid: si.uid });
  }
  if (rec.processEnd) {
    const end = rec.args[0] ? { killed: signalName(Number(rec.args[1])) } : { exited: Number(rec.args[1]) };
    return JSON.stringify({ seq: rec.seq, ts, pid: rec.tid, ...end });
  }
  return JSON.stringify({
    seq: rec.seq,
    ts,
    tid: rec.tid,
    name: syscallName(rec.nr),
    nr: rec.nr,
    args: formatArgs(rec, { strsize }),
    ret: rec.noReturn ? null : err ? -1 : rec.result.toString().length > 15 ? rec.result.toString() : Number(rec.result),
    errno: err ? errnoName(Number(-rec.result)) : null,
    dur_ns: Number(rec.durationNs),
    denied: rec.denied,
  });
}

export class Tracer {
  private readonly plan: TracePlan;
  private readonly fd: number;
  private readonly ownsFd: boolean;
  private timer: NodeJS.Timeout | undefined;
  private enabled = false;
  private mountsSaid = false;
  private readerGone = false;
  private readonly threads: ThreadLines;

  constructor(
    private readonly machine: Machine,
    private readonly options: TraceOptions = {},
  ) {
    this.plan = buildPlan(options.strsize ?? 32);
    if (options.output) {
      try {
        this.fd = openSync(options.output, "w");
      } catch (e) {
        throw new TorovError(`-o ${options.output}: ${(e as Error).message.replace(/^\w+: /, "")}`, "EUSAGE");
      }
      this.ownsFd = true;
    } else {
      this.fd = 2;
      this.ownsFd = false;
    }
    this.threads = new ThreadLines(machine.native.pid);
    // Threads start and end in THREAD_CALLS: their records come whatever -e
    // says (counts are kept for every number anyway), and only show if it does.
    const filter = syscallBitmap(options.filter ? [...options.filter, ...THREAD_CALLS] : "all");
    machine.native.traceConfigure({
      plan: this.plan.ints,
      filter,
      records: this.wantsRecords,
      bufferBytes: options.bufferBytes,
      onReady: () => this.take(),
    });
  }

  private get wantsRecords(): boolean {
    return !this.options.summary || !!this.options.lines || !!this.options.onRecord;
  }

  /** Starts (or resumes) tracing. Before the machine starts, or while it is stopped. */
  enable(): void {
    this.machine.native.traceEnable(true);
    if (!this.mountsSaid && (!this.options.summary || this.options.lines)) {
      // What the paths below resolve in: each mount, first, as strace
      // writes what is not a call ("--- ... ---").
      this.mountsSaid = true;
      const m = this.machine.mounts;
      if (m.length)
        this.write(m.map((x) => (this.options.json ? JSON.stringify({ mount: x.target, source: x.source, readOnly: x.readOnly, lent: x.origin === "lent" }) : `--- mount ${describeMount(x)} ---`)).join("\n") + "\n");
    }
    this.enabled = true;
    if (this.wantsRecords && !this.timer) {
      this.timer = setInterval(() => this.take(), TAKE_EVERY);
      this.timer.unref();
    }
  }

  /** Stops tracing (what was recorded is written first). */
  disable(): void {
    this.take();
    this.machine.native.traceEnable(false);
    this.enabled = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** Writes the records the native side has so far. */
  take(): void {
    const buf = this.machine.native.traceTake();
    if (!buf) return;
    const o = this.options;
    const lines: string[] = [];
    const t = o.timestamps;
    for (const rec of parseRecords(buf, this.plan)) {
      const shown = rec.signal || rec.processEnd || !o.filter || o.filter.has(rec.nr);
      if (shown) o.onRecord?.(rec);
      if (o.summary && !o.lines) continue;
      if (o.json) {
        if (shown) lines.push(jsonRecord(rec, this.plan.strsize));
        continue;
      }
      const format = (prefix: string) => formatLine(rec, { strsize: this.plan.strsize, timestamps: t, durations: o.durations, prefix });
      const stamp = t ? `${timeOfDay(rec.start + rec.durationNs, t > 1, t > 2)} ` : "";
      lines.push(...this.threads.lines(rec, shown ? format : undefined, stamp));
    }
    lines.push(...this.threads.flush());
    if (lines.length) this.write(lines.join("\n") + "\n");
  }

  private write(text: string): void {
    if (this.readerGone) return;
    const b = Buffer.from(text);
    try {
      for (let off = 0; off < b.length; ) off += writeSync(this.fd, b, off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EPIPE") throw e;
      this.readerGone = true;
      this.options.onReaderGone?.();
    }
  }

  /** The end of the run: the last records, strace's closing line, the summary. */
  finish(outcome: RunOutcome): void {
    this.disable();
    const o = this.options;
    if (!o.json && (!o.summary || o.lines)) {
      const r = outcome.native;
      const t = o.timestamps;
      const now = t ? `${timeOfDay(BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)), t > 1, t > 2)} ` : "";
      let fault: string | undefined;
      if (r.kind === "fault") {
        const sig = signalName(r.signal);
        const code = r.vector === 14 ? ((r.errorCode ?? 0) & 1 ? "SEGV_ACCERR" : "SEGV_MAPERR") : "SI_KERNEL";
        const where = r.vector === 14 ? `, si_addr=${r.address ? `0x${r.address.toString(16)}` : "NULL"}` : "";
        fault = `${now}--- ${sig} {si_signo=${sig}, si_code=${code}${where}} ---`;
      }
      let last: string | undefined;
      if (r.kind === "exited") last = `${now}+++ exited with ${r.status} +++`;
      else if (r.kind === "signaled" || r.kind === "fault") last = `${now}+++ killed by ${signalName(r.signal)} +++`;
      else if (r.kind === "killed") last = `${now}+++ killed by ${signalName(constants.signals.SIGKILL)} +++`;
      if (last !== undefined) this.write(this.threads.end(last, fault, r.kind === "fault" ? r.tid : undefined).join("\n") + "\n");
      else if (fault !== undefined) this.write(`${fault}\n`);
    }
    if (o.summary) {
      const counts = countsFrom(this.machine.native.traceCounts(), (nr) => !o.filter || o.filter.has(nr));
      this.write(summaryTable(counts));
    }
    if (this.ownsFd) closeSync(this.fd);
  }
}

// `torov trace -c`: strace's summary table. Time is the time the monitor
// spent performing each hypercall (strace's is the kernel's system time).

import { syscallName } from "../vmm/hypercalls.js";

export interface CallCount {
  readonly nr: number;
  readonly calls: number;
  readonly errors: number;
  readonly nanos: number;
}

/** The native tracer's counts (3 doubles per number) as rows with calls. */
export function countsFrom(raw: Float64Array, include: (nr: number) => boolean = () => true): CallCount[] {
  const rows: CallCount[] = [];
  for (let nr = 0; nr * 3 < raw.length; nr++) {
    const calls = raw[nr * 3];
    if (calls > 0 && include(nr)) rows.push({ nr, calls, errors: raw[nr * 3 + 1], nanos: raw[nr * 3 + 2] });
  }
  return rows;
}

export function summaryTable(counts: readonly CallCount[]): string {
  // Most time first; equal times in number order, as strace's table comes out.
  const rows = [...counts].sort((a, b) => b.nanos - a.nanos || a.nr - b.nr);
  const total = rows.reduce((t, r) => ({ calls: t.calls + r.calls, errors: t.errors + r.errors, nanos: t.nanos + r.nanos }), { calls: 0, errors: 0, nanos: 0 });
  const seconds = (ns: number) => (ns / 1e9).toFixed(6);
  const usecs = (ns: number, calls: number) => String(calls ? Math.floor(ns / calls / 1000) : 0);
  const maxAvg = Math.max(0, ...rows.map((r) => Math.floor(r.nanos / r.calls / 1000)));
  const w = {
    pct: 6,
    sec: Math.max(11, seconds(total.nanos).length),
    avg: Math.max(11, String(maxAvg).length),
    calls: Math.max(9, String(total.calls).length),
    errors: Math.max(9, String(total.errors).length),
    name: Math.max(16, ...rows.map((r) => syscallName(r.nr).length + 1)),
  };
  const line = (pct: string, sec: string, avg: string, calls: string, errors: string, name: string) =>
    `${pct.padStart(w.pct)} ${sec.padStart(w.sec)} ${avg.padStart(w.avg)} ${calls.padStart(w.calls)} ${errors.padStart(w.errors)} ${name}`;
  const dashes = [w.pct, w.sec, w.avg, w.calls, w.errors, w.name].map((n) => "-".repeat(n)).join(" ");
  const out = [`${"% time".padStart(w.pct)} ${"seconds".padStart(w.sec)} ${"usecs/call".padStart(w.avg)} ${"calls".padStart(w.calls)} ${"errors".padStart(w.errors)} syscall`, dashes];
  for (const r of rows) {
    const pct = total.nanos ? (100 * r.nanos) / total.nanos : 0;
    out.push(line(pct.toFixed(2), seconds(r.nanos), usecs(r.nanos, r.calls), String(r.calls), r.errors ? String(r.errors) : "", syscallName(r.nr)));
  }
  out.push(dashes);
  out.push(line("100.00", seconds(total.nanos), usecs(total.nanos, total.calls), String(total.calls), total.errors ? String(total.errors) : "", "total"));
  return out.join("\n") + "\n";
}

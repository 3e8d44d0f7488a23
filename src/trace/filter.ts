// strace's -e trace=... expressions: which calls a trace shows.
//
//   -e write,read     -e trace=open,openat     -e trace=@file     -e '!mmap'
//   -e trace=%network (strace's classes, as torov's manifest groups)
//   -e trace=all      -e trace=none
//
// Several -e options add up. Names are any Linux syscall name; groups are
// the manifest's. Undefined result: everything.

import { GROUP_ALIASES, GROUPS, groupMembers } from "../vmm/hypercalls.js";
import { TorovError } from "../vmm/errors.js";
import { didYouMean } from "../vmm/suggest.js";
import { LINUX_SYSCALLS } from "../vmm/syscalls.js";

/** strace's syscall classes, as manifest groups. */
const CLASSES: Readonly<Record<string, readonly string[]>> = {
  "%file": ["@file"],
  "%network": ["@network"],
  "%net": ["@network"],
  "%process": ["@process"],
  "%signal": ["@signal"],
  "%ipc": ["@ipc"],
  "%desc": ["@basic-io", "@io-event", "@ipc"],
  "%memory": ["@memory"],
  "%clock": ["@time"],
};

function resolve(name: string): number[] {
  const lower = name.toLowerCase();
  if (lower === "all") return [...LINUX_SYSCALLS.values()];
  if (lower === "none") return [];
  const groups = CLASSES[lower] ?? (lower.startsWith("@") ? [lower] : undefined);
  if (groups) {
    const out: number[] = [];
    for (const g of groups) {
      const members = groupMembers(g);
      if (!members) throw new TorovError(`-e: unknown group "${name}"${didYouMean(name, [...Object.keys(GROUPS), ...Object.keys(GROUP_ALIASES), ...Object.keys(CLASSES)])}`, "EUSAGE");
      out.push(...members.map((h) => h.nr));
    }
    return out;
  }
  const nr = LINUX_SYSCALLS.get(lower);
  if (nr === undefined) throw new TorovError(`-e: "${name}" is not a Linux system call${didYouMean(name, LINUX_SYSCALLS.keys())}`, "EUSAGE");
  return [nr];
}

/** The numbers to show, from the -e options given (in order); undefined when all. */
export function parseTraceFilter(exprs: readonly string[]): Set<number> | undefined {
  let shown: Set<number> | undefined;
  for (const raw of exprs) {
    let expr = raw.trim();
    const eq = expr.indexOf("=");
    if (eq >= 0) {
      const qualifier = expr.slice(0, eq);
      if (qualifier !== "trace" && qualifier !== "t") throw new TorovError(`-e ${raw}: torov trace supports only "trace=" expressions`, "EUSAGE");
      expr = expr.slice(eq + 1);
    }
    const negate = expr.startsWith("!");
    if (negate) expr = expr.slice(1);
    const names = expr.split(",").map((s) => s.trim()).filter(Boolean);
    if (!names.length) throw new TorovError(`-e ${raw}: no system call named`, "EUSAGE");
    const numbers = names.flatMap(resolve);
    if (negate) {
      shown ??= new Set(LINUX_SYSCALLS.values());
      for (const nr of numbers) shown.delete(nr);
    } else {
      shown ??= new Set();
      for (const nr of numbers) shown.add(nr);
    }
  }
  return shown;
}

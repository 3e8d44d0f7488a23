// The capture plan: for each hypercall, which guest memory the native
// tracer copies into a record (native/trace.h) so that a line can show it:
// the path opened, the first -s bytes written, the struct stat returned.
// Built from the argument kinds of the hypercall table.

import { HYPERCALLS, type ArgKind } from "../vmm/hypercalls.js";
import { MAX_HYPERCALL } from "../vmm/syscall-set.js";

export type When = "entry" | "exit" | "exitOk";

export interface CaptureOp {
  /** The argument holding the guest pointer. */
  readonly arg: number;
  readonly kind: "string" | "bytes" | "iovec";
  readonly when: When;
  /** How many bytes: a constant, an argument (times `constant`), the result, or the u32 an argument points to. */
  readonly size: { from: "const"; bytes: number } | { from: "arg"; arg: number; times?: number } | { from: "result" } | { from: "argPointer"; arg: number };
  /** Bytes kept (per element for iovecs). */
  readonly max: number;
  /** Iovecs: elements kept. */
  readonly maxElems?: number;
}

export const MAX_NR = MAX_HYPERCALL;
export const MAX_OPS = 6;
const OP_INTS = 8;
export const PATH_MAX = 4096;

const KIND = { string: 1, bytes: 2, iovec: 3 } as const;
const WHEN = { entry: 0, exit: 1, exitOk: 2 } as const;
const SIZE = { const: 0, arg: 1, result: 2, argPointer: 3 } as const;

const fixed = (arg: number, when: When, bytes: number): CaptureOp => ({ arg, kind: "bytes", when, size: { from: "const", bytes }, max: bytes });

/** What one argument of a kind needs captured. */
function opsFor(kind: ArgKind, i: number, strsize: number): CaptureOp[] {
  switch (kind) {
    case "path":
      return [{ arg: i, kind: "string", when: "entry", size: { from: "const", bytes: 0 }, max: PATH_MAX }];
    case "str":
      return [{ arg: i, kind: "string", when: "entry", size: { from: "const", bytes: 0 }, max: strsize + 1 }];
    case "ibuf":
      return [{ arg: i, kind: "bytes", when: "entry", size: { from: "arg", arg: i + 1 }, max: strsize }];
    case "obuf":
      return [{ arg: i, kind: "bytes", when: "exitOk", size: { from: "result" }, max: strsize }];
    case "iov":
    case "oiov":
      return [{ arg: i, kind: "iovec", when: kind === "iov" ? "entry" : "exitOk", size: { from: "arg", arg: i + 1 }, max: strsize, maxElems: strsize }];
    case "stat":
      return [fixed(i, "exitOk", 144)];
    case "statx":
      return [fixed(i, "exitOk", 256)];
    case "timespec":
    case "timeval":
      return [fixed(i, "entry", 16)];
    case "otimespec":
    case "otimeval":
      return [fixed(i, "exitOk", 16)];
    case "sockaddr":
      return [{ arg: i, kind: "bytes", when: "entry", size: { from: "arg", arg: i + 1 }, max: 128 }];
    case "osockaddr":
      return [{ arg: i, kind: "bytes", when: "exitOk", size: { from: "argPointer", arg: i + 1 }, max: 128 }];
    case "osocklen":
      return [fixed(i, "entry", 4), fixed(i, "exitOk", 4)];
    case "pollfds": {
      const size = { from: "arg", arg: i + 1, times: 8 } as const;
      return [
        { arg: i, kind: "bytes", when: "entry", size, max: 8 * strsize },
        { arg: i, kind: "bytes", when: "exitOk", size, max: 8 * strsize },
      ];
    }
    case "fds2":
      return [fixed(i, "exitOk", 8)];
    case "rlimit":
      return [fixed(i, "entry", 16)];
    case "orlimit":
      return [fixed(i, "exitOk", 16)];
    case "sigset":
      return [fixed(i, "entry", 8)];
    case "osigset":
      return [fixed(i, "exitOk", 8)];
    case "sigaction":
      return [fixed(i, "entry", 32)];
    case "osigaction":
      return [fixed(i, "exitOk", 32)];
    case "utsname":
      return [fixed(i, "exitOk", 390)];
    case "fdset":
      return [fixed(i, "entry", 128)];
    case "msghdr":
    case "omsghdr":
      return [fixed(i, "entry", 56)];
    case "epollevent":
      return [fixed(i, "entry", 12)];
    case "utimens":
      return [fixed(i, "entry", 32)];
    case "cloneargs": // clone3's struct clone_args, as much of it as strace shows
      return [{ arg: i, kind: "bytes", when: "entry", size: { from: "arg", arg: i + 1 }, max: 88 }];
    case "cpuset": // sched_getaffinity: the bytes of the mask the call wrote
      return [{ arg: i, kind: "bytes", when: "exitOk", size: { from: "result" }, max: 128 }];
    case "icpuset":
      return [{ arg: i, kind: "bytes", when: "entry", size: { from: "arg", arg: i - 1 }, max: 128 }];
    case "osiginfo": // si_signo, si_errno, si_code, then si_pid, si_uid, si_value
      return [fixed(i, "exitOk", 32)];
    case "optr":
    case "oulong":
      return [fixed(i, "exitOk", 8)];
    case "sigframe": // rt_sigreturn: the ucontext at the stack pointer, for its mask
      return [fixed(i, "entry", 304)];
    case "remaining": // what a sleep cut short had left (shown on EINTR)
      return [fixed(i, "exit", 16)];
    case "dirents": // to count the entries
      return [{ arg: i, kind: "bytes", when: "exitOk", size: { from: "result" }, max: 65536 }];
    default:
      return [];
  }
}

/** Captures beyond the argument kinds, by hypercall name. */
function extraOps(name: string, strsize: number): CaptureOp[] {
  switch (name) {
    case "setsockopt": // the option's value, optlen bytes
      return [{ arg: 3, kind: "bytes", when: "entry", size: { from: "arg", arg: 4 }, max: Math.max(strsize, 16) }];
    case "prctl": // PR_SET_NAME's and PR_GET_NAME's name
      return [
        { arg: 1, kind: "string", when: "entry", size: { from: "const", bytes: 0 }, max: 16 },
        { arg: 1, kind: "string", when: "exitOk", size: { from: "const", bytes: 0 }, max: 16 },
      ];
    case "getsockopt":
      return [{ arg: 3, kind: "bytes", when: "exitOk", size: { from: "argPointer", arg: 4 }, max: Math.max(strsize, 16) }, fixed(4, "exitOk", 4)];
    default:
      return [];
  }
}

export interface TracePlan {
  readonly strsize: number;
  /** The ops of each number, in the order of their index in records. */
  readonly ops: ReadonlyArray<readonly CaptureOp[]>;
  /** The plan as native/trace.h reads it. */
  readonly ints: Int32Array;
}

export function buildPlan(strsize: number): TracePlan {
  const ops: CaptureOp[][] = Array.from({ length: MAX_NR }, () => []);
  for (const h of HYPERCALLS) {
    const list = [...h.args.flatMap((kind, i) => opsFor(kind, i, strsize)), ...extraOps(h.name, strsize)];
    if (list.length > MAX_OPS) throw new Error(`trace plan: ${h.name} needs ${list.length} captures (at most ${MAX_OPS})`);
    ops[h.nr] = list;
  }
  const ints = new Int32Array(MAX_NR * MAX_OPS * OP_INTS);
  ops.forEach((list, nr) =>
    list.forEach((op, k) => {
      const at = (nr * MAX_OPS + k) * OP_INTS;
      const s = op.size;
      ints[at] = op.arg;
      ints[at + 1] = KIND[op.kind];
      ints[at + 2] = WHEN[op.when];
      ints[at + 3] = SIZE[s.from];
      ints[at + 4] = s.from === "arg" || s.from === "argPointer" ? s.arg : 0;
      ints[at + 5] = s.from === "const" ? s.bytes : s.from === "arg" ? (s.times ?? 0) : 0;
      ints[at + 6] = op.max;
      ints[at + 7] = op.maxElems ?? 0;
    }),
  );
  return { strsize, ops, ints };
}

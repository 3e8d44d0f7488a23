// One trace record as strace prints it:
//
//   openat(AT_FDCWD, "data.txt", O_RDONLY|O_CLOEXEC) = 3
//   read(3, "hello, wor", 10)               = 10
//   unlink("nope")                          = -1 ENOENT (No such file or directory)
//   exit_group(3)                           = ?
//
// Arguments are decoded by kind (src/vmm/hypercalls.ts) from the record's
// raw values and the guest memory captured with it (./plan.ts); a few
// calls whose arguments depend on each other have their own decoder.

import { hypercallByNumber, syscallName, type ArgKind } from "../vmm/hypercalls.js";
import * as C from "./constants.js";
import { ERRNO } from "./errno.js";
import type { Capture, TraceRecord } from "./records.js";

export interface FormatOptions {
  /** -s: the longest string shown before "...". */
  readonly strsize: number;
}

// ---- values

const u64 = (v: bigint) => BigInt.asUintN(64, v);
const i64 = (v: bigint) => BigInt.asIntN(64, v);
const i32 = (v: bigint) => Number(BigInt.asIntN(32, v));
const u32 = (v: bigint) => Number(BigInt.asUintN(32, v));

/** An address: NULL, or hex. */
export function addr(v: bigint): string {
  return v === 0n ? "NULL" : `0x${u64(v).toString(16)}`;
}

function isOctal(b: number | undefined): boolean {
  return b !== undefined && b >= 0x30 && b <= 0x37;
}

/**
 * Bytes as a C string literal, strace's way: \n \t \r \v \f \" \\ escaped,
 * other unprintable bytes in octal (three digits when a digit follows),
 * or every byte in hex with `hex`. "..." follows when `more`.
 */
export function quote(data: Uint8Array, more = false, hex = false): string {
  let s = '"';
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (hex) {
      s += `\\x${c.toString(16).padStart(2, "0")}`;
      continue;
    }
    switch (c) {
      case 0x22:
        s += '\\"';
        break;
      case 0x5c:
        s += "\\\\";
        break;
      case 0x0a:
        s += "\\n";
        break;
      case 0x09:
        s += "\\t";
        break;
      case 0x0d:
        s += "\\r";
        break;
      case 0x0b:
        s += "\\v";
        break;
      case 0x0c:
        s += "\\f";
        break;
      default:
        if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
        else s += `\\${isOctal(data[i + 1]) ? c.toString(8).padStart(3, "0") : c.toString(8)}`;
    }
  }
  return `${s}"${more ? "..." : ""}`;
}

/** A captured buffer of `length` bytes: the first -s of them. */
function buffer(c: Capture | undefined, pointer: bigint, length: bigint, o: FormatOptions, hex = false): string {
  if (!c || c.fault) return addr(pointer);
  const shown = c.data.subarray(0, o.strsize);
  return quote(shown, length > BigInt(shown.length), hex);
}

/** A NUL-terminated string: paths in full, other strings cut at -s. */
function cstring(c: Capture | undefined, pointer: bigint, o: FormatOptions | undefined): string {
  if (pointer === 0n) return "NULL";
  if (!c || c.fault) return addr(pointer);
  if (o && c.data.length > o.strsize) return quote(c.data.subarray(0, o.strsize), true);
  return quote(c.data, c.truncated);
}

const UTIME_NOW = (1n << 30n) - 1n;
const UTIME_OMIT = (1n << 30n) - 2n;

const le64 = (b: Buffer, at: number) => (b.length >= at + 8 ? b.readBigUInt64LE(at) : 0n);
const le32 = (b: Buffer, at: number) => (b.length >= at + 4 ? b.readUInt32LE(at) : 0);
const lei64 = (b: Buffer, at: number) => (b.length >= at + 8 ? b.readBigInt64LE(at) : 0n);

// ---- structures

function timespec(b: Buffer, usec = false): string {
  return `{tv_sec=${lei64(b, 0)}, ${usec ? "tv_usec" : "tv_nsec"}=${lei64(b, 8)}}`;
}

function makedev(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `makedev(0x${major.toString(16)}, 0x${minor.toString(16)})`;
}

function stat(b: Buffer): string {
  const mode = le32(b, 24);
  const type = mode & C.S_IFMT;
  const second = type === 0o20000 || type === 0o60000 ? `st_rdev=${makedev(le64(b, 40))}` : `st_size=${lei64(b, 48)}`;
  return `{st_mode=${C.statMode(mode)}, ${second}, ...}`;
}

function statx(b: Buffer): string {
  const mode = b.length >= 30 ? b.readUInt16LE(28) : 0;
  return `{stx_mask=0x${le32(b, 0).toString(16)}, stx_attributes=0, stx_mode=${C.statMode(mode)}, stx_size=${le64(b, 40)}, ...}`;
}

function rlim(v: bigint): string {
  if (v === 0xffffffffffffffffn) return "RLIM64_INFINITY";
  if (v > 1024n && v % 1024n === 0n) return `${v / 1024n}*1024`;
  return String(v);
}

function sigset(b: Buffer): string {
  const bits = le64(b, 0);
  const names = (set: boolean) => {
    const out: string[] = [];
    for (let n = 1; n <= 64; n++) if (((bits >> BigInt(n - 1)) & 1n) === 1n === set) out.push(C.signalName(n).replace(/^SIG/, ""));
    return out;
  };
  const set = names(true);
  return set.length > 32 ? `~[${names(false).join(" ")}]` : `[${set.join(" ")}]`;
}

function sigaction(b: Buffer): string {
  const handler = le64(b, 0);
  const saFlags = le64(b, 8);
  const h = handler === 0n ? "SIG_DFL" : handler === 1n ? "SIG_IGN" : addr(handler);
  let s = `{sa_handler=${h}, sa_mask=${sigset(b.subarray(24))}, sa_flags=${C.flags(saFlags, C.SA_FLAGS)}`;
  if (saFlags & 0x04000000n) s += `, sa_restorer=${addr(le64(b, 16))}`;
  return `${s}}`;
}

function utsname(b: Buffer): string {
  const field = (i: number) => {
    const f = b.subarray(i * 65, i * 65 + 65);
    const nul = f.indexOf(0);
    return quote(nul < 0 ? f : f.subarray(0, nul));
  };
  return `{sysname=${field(0)}, nodename=${field(1)}, ...}`;
}

function ipv4(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function ipv6(b: Buffer, at: number): string {
  const words = Array.from({ length: 8 }, (_, i) => (b.length >= at + 2 * i + 2 ? b.readUInt16BE(at + 2 * i) : 0));
  // The longest run of zero words becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

export function sockaddr(b: Buffer): string {
  if (b.length < 2) return "{}";
  const family = b.readUInt16LE(0);
  const fam = `sa_family=${C.xlat(family, C.AF)}`;
  switch (family) {
    case 1: {
      const path = b.subarray(2);
      if (path.length && path[0] === 0) return `{${fam}, sun_path=@${quote(path.subarray(1))}}`;
      const nul = path.indexOf(0);
      return `{${fam}, sun_path=${quote(nul < 0 ? path : path.subarray(0, nul))}}`;
    }
    case 2:
      if (b.length < 8) break;
      return `{${fam}, sin_port=htons(${b.readUInt16BE(2)}), sin_addr=inet_addr("${ipv4(b, 4)}")}`;
    case 10:
      if (b.length < 24) break;
      return `{${fam}, sin6_port=htons(${b.readUInt16BE(2)}), sin6_flowinfo=htonl(${b.readUInt32BE(4)}), inet_pton(AF_INET6, "${ipv6(b, 8)}", &sin6_addr), sin6_scope_id=${b.length >= 28 ? b.readUInt32LE(24) : 0}}`;
  }
  return `{${fam}, sa_data=${quote(b.subarray(2))}}`;
}

function pollfds(b: Buffer, count: number, revents: boolean): string {
  const items: string[] = [];
  for (let i = 0; i < count && i * 8 + 8 <= b.length; i++) {
    const fd = b.readInt32LE(i * 8);
    const ev = b.readUInt16LE(i * 8 + (revents ? 6 : 4));
    if (revents && ev === 0) continue;
    items.push(`{fd=${fd}, ${revents ? "revents" : "events"}=${C.flags(ev, C.POLL_EVENTS)}}`);
  }
  if (!revents && count * 8 > b.length) items.push("...");
  return `[${items.join(", ")}]`;
}

function fdset(b: Buffer, nfds: number): string {
  const fds: number[] = [];
  for (let fd = 0; fd < nfds && fd < b.length * 8; fd++) if ((b[fd >> 3] >> (fd & 7)) & 1) fds.push(fd);
  return `[${fds.join(" ")}]`;
}

function iovec(c: Capture | undefined, pointer: bigint, total: bigint | undefined, o: FormatOptions): string {
  if (!c || c.fault || c.data.length < 8) return addr(pointer);
  const b = c.data;
  const count = b.readUInt32LE(0);
  let data = 8 + count * 24;
  let left = total;
  const items: string[] = [];
  for (let i = 0; i < count; i++) {
    const base = b.readBigUInt64LE(8 + i * 24);
    const len = b.readBigUInt64LE(16 + i * 24);
    const got = b.readUInt32LE(24 + i * 24);
    const bytes = b.subarray(data, data + got);
    data += got;
    // What this element carried: all of it going in, and coming back as
    // much of the result as reached it.
    const moved = left === undefined ? len : len < left ? len : left;
    if (left !== undefined) left -= moved;
    const shown = base === 0n ? "NULL" : got === 0 && moved > 0n && b.readUInt32LE(28 + i * 24) ? addr(base) : quote(bytes, moved > BigInt(got));
    items.push(`{iov_base=${shown}, iov_len=${len}}`);
  }
  if (c.full > BigInt(count)) items.push("...");
  return `[${items.join(", ")}]`;
}

/** A CPU mask (sched_getaffinity): the numbers of the CPUs in it, "[0 1 3]". */
function cpuset(b: Buffer): string {
  const cpus: number[] = [];
  for (let i = 0; i < b.length * 8; i++) if ((b[i >> 3] >> (i & 7)) & 1) cpus.push(i);
  return `[${cpus.join(" ")}]`;
}

const SI_CODES: Record<number, string> = { 0: "SI_USER", [-1]: "SI_QUEUE", [-2]: "SI_TIMER", [-3]: "SI_MESGQ", [-4]: "SI_ASYNCIO", [-6]: "SI_TKILL", 0x80: "SI_KERNEL" };

/** A siginfo_t the guest got (rt_sigtimedwait), for signals sent by a process. */
function siginfo(b: Buffer): string {
  const signo = b.readInt32LE(0);
  const code = b.readInt32LE(8);
  const head = `si_signo=${C.signalName(signo)}, si_code=${SI_CODES[code] ?? String(code)}`;
  if (code === 0 || code === -6 || code === 0x80) return `{${head}, si_pid=${b.readInt32LE(12)}, si_uid=${b.readUInt32LE(16)}}`;
  if (code === -1 && b.length >= 32) {
    const value = le64(b, 24);
    return `{${head}, si_pid=${b.readInt32LE(12)}, si_uid=${b.readUInt32LE(16)}, si_int=${Number(BigInt.asIntN(32, value))}, si_ptr=${addr(value)}}`;
  }
  return `{${head}}`;
}

/** clone(2)'s flags: CLONE_VM|...|SIGCHLD, the low byte being the signal for the parent. */
function cloneFlags(raw: bigint, isClone3: boolean): string {
  const sig = isClone3 ? 0 : Number(raw & 0xffn);
  const rest = isClone3 ? raw : raw & ~0xffn;
  if (rest === 0n) return sig ? C.signalName(sig) : "0";
  return C.flags(rest, C.CLONE_FLAGS) + (sig ? `|${C.signalName(sig)}` : "");
}

/** clone3's struct clone_args as strace shows it on entry (strace 6: fields by flags; parent_tid after the call). */
function cloneArgs(b: Buffer, size: bigint): string {
  if (size < 64n || b.length < 64) return "";
  const f = le64(b, 0);
  const out = [`flags=${cloneFlags(f, true)}`];
  if (f & C.CLONE_PIDFD) out.push(`pidfd=${addr(le64(b, 8))}`);
  if (f & (C.CLONE_CHILD_SETTID | C.CLONE_CHILD_CLEARTID)) out.push(`child_tid=${addr(le64(b, 16))}`);
  if (f & C.CLONE_PARENT_SETTID) out.push(`parent_tid=${addr(le64(b, 24))}`);
  const sig = le64(b, 32);
  out.push(`exit_signal=${sig === 0n ? "0" : sig < 65n ? C.signalName(Number(sig)) : addr(sig)}`);
  out.push(`stack=${addr(le64(b, 40))}`);
  const ss = le64(b, 48);
  out.push(`stack_size=${ss === 0n ? "0" : addr(ss)}`);
  if (f & C.CLONE_SETTLS) out.push(`tls=${addr(le64(b, 56))}`);
  if (b.length >= 80 && (le64(b, 64) || le64(b, 72))) out.push(`set_tid=${addr(le64(b, 64))}`, `set_tid_size=${le64(b, 72)}`);
  if (b.length >= 88 && (le64(b, 80) || f & C.CLONE_INTO_CGROUP)) out.push(`cgroup=${le64(b, 80)}`);
  return `{${out.join(", ")}}`;
}

// ---- arguments

interface Ctx {
  readonly rec: TraceRecord;
  readonly o: FormatOptions;
  readonly ok: boolean;
}

function arg(kind: ArgKind, i: number, ctx: Ctx): string {
  const { rec, o, ok } = ctx;
  const v = rec.args[i];
  const entry = rec.entry.get(i);
  const exit = rec.exit.get(i);
  switch (kind) {
    case "fd":
    case "int":
    case "iovcnt":
      return String(i32(v));
    case "dirfd":
      return i32(v) === C.AT_FDCWD ? "AT_FDCWD" : String(i32(v));
    case "uint":
    case "socklen":
      return String(u32(v));
    case "size":
      return String(u64(v));
    case "off":
      return String(i64(v));
    case "hex":
      return addr(v);
    case "path":
      return cstring(entry, v, undefined);
    case "str":
      return cstring(entry, v, o);
    case "ibuf":
      return buffer(entry, v, u64(rec.args[i + 1]), o);
    case "obuf":
      return ok ? buffer(exit, v, rec.result, o) : addr(v);
    case "iov":
      return iovec(entry, v, undefined, o);
    case "oiov":
      return ok ? iovec(exit, v, rec.result, o) : addr(v);
    case "mode":
      return C.octalMode(v);
    case "oflags":
      return C.openFlags(v);
    case "fdflags":
      return C.flags(u32(v), C.O_FLAGS);
    case "atflags":
      return C.flags(u32(v), C.AT_FLAGS);
    case "accessmode":
      return C.flags(u32(v), C.ACCESS_MODES, "F_OK");
    case "prot":
      return C.flags(u32(v), C.PROT, "PROT_NONE");
    case "mflags":
      return C.mmapFlags(v);
    case "mremapflags":
      return C.flags(u32(v), C.MREMAP);
    case "madvise":
      return C.xlat(i32(v), C.MADVISE);
    case "whence":
      return C.xlat(u32(v), C.SEEK);
    case "signal":
      return C.signalName(i32(v));
    case "sighow":
      return C.xlat(i32(v), C.SIGPROCMASK_HOW);
    case "sigset":
      return v === 0n ? "NULL" : entry && !entry.fault ? sigset(entry.data) : addr(v);
    case "osigset":
      return v === 0n ? "NULL" : ok && exit && !exit.fault ? sigset(exit.data) : addr(v);
    case "sigaction":
      return v === 0n ? "NULL" : entry && !entry.fault ? sigaction(entry.data) : addr(v);
    case "osigaction":
      return v === 0n ? "NULL" : ok && exit && !exit.fault ? sigaction(exit.data) : addr(v);
    case "sockaddr":
      return v === 0n ? "NULL" : entry && !entry.fault ? sockaddr(entry.data) : addr(v);
    case "osockaddr":
      return v === 0n ? "NULL" : ok && exit && !exit.fault ? sockaddr(exit.data) : addr(v);
    case "osocklen": {
      if (v === 0n) return "NULL";
      const before = entry && !entry.fault && entry.data.length === 4 ? entry.data.readUInt32LE(0) : undefined;
      const after = ok && exit && !exit.fault && exit.data.length === 4 ? exit.data.readUInt32LE(0) : undefined;
      if (before === undefined) return addr(v);
      return after === undefined || after === before ? `[${before}]` : `[${before} => ${after}]`;
    }
    case "msgflags":
      return C.flags(u32(v), C.MSG_FLAGS);
    case "sockflags":
      return C.flags(u32(v), C.SOCK_FLAGS);
    case "shut":
      return C.xlat(i32(v), C.SHUT);
    case "stat":
      return ok && exit && !exit.fault ? stat(exit.data) : addr(v);
    case "statx":
      return ok && exit && !exit.fault ? statx(exit.data) : addr(v);
    case "timespec":
    case "timeval":
      return v === 0n ? "NULL" : entry && !entry.fault ? timespec(entry.data, kind === "timeval") : addr(v);
    case "otimespec":
    case "otimeval":
      return v === 0n ? "NULL" : ok && exit && !exit.fault ? timespec(exit.data, kind === "otimeval") : addr(v);
    case "clock":
      return C.xlat(i32(v), C.CLOCKS);
    case "timerflags":
      return C.flags(u32(v), C.TIMER_FLAGS);
    case "tfdflags":
      return C.flags(u32(v), C.TFD_FLAGS);
    case "tfdsettime":
      return C.flags(u32(v), C.TFD_SETTIME);
    case "pollfds":
      return entry && !entry.fault ? pollfds(entry.data, u32(rec.args[i + 1]), false) : addr(v);
    case "ioctl":
      return C.xlat(u32(v), C.IOCTL, true);
    case "domain":
      return C.xlat(i32(v), C.AF);
    case "socktype":
      return C.sockType(v);
    case "protocol": {
      const family = i32(rec.args[0]);
      return family === 2 || family === 10 ? C.xlat(i32(v), C.IPPROTO) : String(i32(v));
    }
    case "msghdr":
    case "omsghdr": {
      if (!entry || entry.fault || entry.data.length < 56) return addr(v);
      const b = entry.data;
      return `{msg_name=${addr(le64(b, 0))}, msg_namelen=${le32(b, 8)}, msg_iov=${addr(le64(b, 16))}, msg_iovlen=${le64(b, 24)}, msg_control=${addr(le64(b, 32))}, msg_controllen=${le64(b, 40)}, msg_flags=${C.flags(le32(b, 48), C.MSG_FLAGS)}}`;
    }
    case "fds2":
      return ok && exit && !exit.fault && exit.data.length === 8 ? `[${exit.data.readInt32LE(0)}, ${exit.data.readInt32LE(4)}]` : addr(v);
    case "rlimit":
    case "orlimit": {
      const c = kind === "rlimit" ? entry : ok ? exit : undefined;
      if (v === 0n) return "NULL";
      return c && !c.fault && c.data.length === 16 ? `{rlim_cur=${rlim(le64(c.data, 0))}, rlim_max=${rlim(le64(c.data, 8))}}` : addr(v);
    }
    case "resource":
      return C.xlat(i32(v), C.RLIMITS);
    case "utsname":
      return ok && exit && !exit.fault ? utsname(exit.data) : addr(v);
    case "fdset":
      return v === 0n ? "NULL" : entry && !entry.fault ? fdset(entry.data, i32(rec.args[0])) : addr(v);
    case "futexop":
      return C.futexOp(v);
    case "arch":
      return C.xlat(i32(v), C.ARCH_PRCTL, true);
    case "prctl":
      return C.xlat(i32(v), C.PRCTL);
    case "flock":
      return C.flags(u32(v), C.FLOCK);
    case "efdflags":
      return C.flags(u32(v), C.EFD_FLAGS);
    case "epflags":
      return C.flags(u32(v), C.EPOLL_FLAGS);
    case "epollop":
      return C.xlat(i32(v), C.EPOLL_CTL);
    case "epollevent": {
      if (v === 0n) return "NULL";
      if (!entry || entry.fault || entry.data.length < 12) return addr(v);
      const data = entry.data.readBigUInt64LE(4);
      return `{events=${C.flags(entry.data.readUInt32LE(0), C.EPOLL_EVENTS)}, data={u32=${Number(data & 0xffffffffn)}, u64=${data}}}`;
    }
    case "mfdflags":
      return C.flags(u32(v), C.MFD_FLAGS);
    case "grnd":
      return C.flags(u32(v), C.GRND);
    case "renameflags":
      return C.flags(u32(v), C.RENAME_FLAGS);
    case "waitflags":
      return C.flags(u32(v), C.WAIT_FLAGS);
    case "fcntl":
      return C.xlat(i32(v), C.FCNTL);
    case "sockopt":
      return String(i32(v));
    case "utimens": {
      if (v === 0n) return "NULL";
      if (!entry || entry.fault || entry.data.length < 32) return addr(v);
      const one = (b: Buffer) => {
        const ns = lei64(b, 8);
        return ns === UTIME_NOW ? "UTIME_NOW" : ns === UTIME_OMIT ? "UTIME_OMIT" : timespec(b);
      };
      return `[${one(entry.data.subarray(0, 16))}, ${one(entry.data.subarray(16, 32))}]`;
    }
    case "remaining":
      return v === 0n ? "NULL" : rec.result === -4n && exit && !exit.fault ? timespec(exit.data) : addr(v);
    case "sigframe": // the mask the return restores (uc_sigmask, byte 296 of the ucontext)
      return entry && !entry.fault && entry.data.length >= 304 ? `{mask=${sigset(entry.data.subarray(296))}}` : "{mask=?}";
    case "xval": // strace's way with calls it does not decode: %#lx
      return v === 0n ? "0" : addr(v);
    case "cpuset":
      return ok && exit && !exit.fault ? cpuset(exit.data) : addr(v);
    case "icpuset":
      return entry && !entry.fault ? cpuset(entry.data) : addr(v);
    case "osiginfo":
      return v === 0n ? "NULL" : ok && exit && !exit.fault && exit.data.length >= 24 ? siginfo(exit.data) : addr(v);
    case "optr":
      return ok && exit && !exit.fault && exit.data.length === 8 ? `[${addr(le64(exit.data, 0))}]` : addr(v);
    case "oulong":
      return ok && exit && !exit.fault && exit.data.length === 8 ? `[${le64(exit.data, 0)}]` : addr(v);
    case "cloneargs":
      return entry && !entry.fault ? cloneArgs(entry.data, u64(rec.args[i + 1])) : addr(v);
    case "dirents": {
      // strace's "0x... /* 3 entries */": walk the records by their length.
      if (!ok || !exit || exit.fault) return addr(v);
      let n = 0;
      for (let at = 0; at + 18 <= exit.data.length; n++) {
        const reclen = exit.data.readUInt16LE(at + 16);
        if (reclen === 0) break;
        at += reclen;
      }
      return `${addr(v)} /* ${n} entries */`;
    }
    default:
      return addr(v);
  }
}

// ---- calls whose arguments depend on each other

type Special = (ctx: Ctx, kinds: readonly ArgKind[]) => string[];

const generic = (ctx: Ctx, kinds: readonly ArgKind[]) => kinds.map((k, i) => arg(k, i, ctx));

function sockoptValue(ctx: Ctx, c: Capture | undefined, pointer: bigint): string {
  if (!c || c.fault) return addr(pointer);
  return c.data.length === 4 ? `[${c.data.readInt32LE(0)}]` : quote(c.data.subarray(0, ctx.o.strsize), c.full > BigInt(ctx.o.strsize));
}

function sockoptNames(level: number, name: number): [string, string] {
  const lv = C.xlat(level, C.SOL);
  if (level === 1) return [lv, C.xlat(name, C.SO)];
  if (level === 6) return [lv, C.xlat(name, C.TCP_OPTS)];
  return [lv, String(name)];
}

const SPECIAL: Readonly<Record<string, Special>> = {
  // The mode only matters, and only shows, when a file may be created.
  open: (ctx, k) => {
    const a = generic(ctx, k);
    return BigInt(ctx.rec.args[1]) & BigInt(C.O_CREAT | C.O_TMPFILE_BIT) ? a : a.slice(0, 2);
  },
  openat: (ctx, k) => {
    const a = generic(ctx, k);
    return BigInt(ctx.rec.args[2]) & BigInt(C.O_CREAT | C.O_TMPFILE_BIT) ? a : a.slice(0, 3);
  },
  mmap: (ctx, k) => {
    const a = generic(ctx, k);
    const off = u64(ctx.rec.args[5]);
    a[5] = off === 0n ? "0" : `0x${off.toString(16)}`;
    return a;
  },
  fcntl: (ctx) => {
    const { args } = ctx.rec;
    const cmd = i32(args[1]);
    const head = [String(i32(args[0])), C.xlat(cmd, C.FCNTL)];
    switch (cmd) {
      case 1: case 3: case 9: case 11: case 1025: case 1032: case 1034: // the F_GET* without an argument
        return head;
      case 2:
        return [...head, C.flags(u32(args[2]), C.FD_CLOEXEC)];
      case 4:
        return [...head, C.openFlags(args[2])];
      case 0: case 1030: case 8: case 10: case 1024: case 1026: case 1031: case 1033:
        return [...head, String(i32(args[2]))];
      default:
        return [...head, addr(args[2])];
    }
  },
  ioctl: (ctx) => {
    const { args } = ctx.rec;
    return [String(i32(args[0])), C.xlat(u32(args[1]), C.IOCTL, true), addr(args[2])];
  },
  setsockopt: (ctx) => {
    const { args } = ctx.rec;
    const [level, name] = sockoptNames(i32(args[1]), i32(args[2]));
    return [String(i32(args[0])), level, name, sockoptValue(ctx, ctx.rec.entry.get(3), args[3]), String(u32(args[4]))];
  },
  getsockopt: (ctx) => {
    const { args } = ctx.rec;
    const [level, name] = sockoptNames(i32(args[1]), i32(args[2]));
    const len = ctx.rec.exit.get(4);
    return [
      String(i32(args[0])), level, name,
      ctx.ok ? sockoptValue(ctx, ctx.rec.exit.get(3), args[3]) : addr(args[3]),
      ctx.ok && len && !len.fault && len.data.length === 4 ? `[${len.data.readUInt32LE(0)}]` : addr(args[4]),
    ];
  },
  // As strace's futex decoder: the arguments each command uses.
  futex: (ctx, k) => {
    const { args } = ctx.rec;
    const op = u32(args[1]);
    const cmd = op & 0x7f;
    const [uaddr, name, val, timeout] = [0, 1, 2, 3].map((i) => arg(k[i], i, ctx));
    const val2 = String(u32(args[3]));
    const uaddr2 = addr(args[4]);
    const val3 = u32(args[5]);
    const bitset = val3 === 0xffffffff ? "FUTEX_BITSET_MATCH_ANY" : `0x${val3.toString(16)}`;
    if (name.includes("FUTEX_???")) return [uaddr, name, val, addr(args[3]), uaddr2, val3 ? `0x${val3.toString(16)}` : "0"];
    switch (cmd) {
      case 0: // WAIT
        return [uaddr, name, val, timeout];
      case 6: case 13: // LOCK_PI, LOCK_PI2
        return [uaddr, name, timeout];
      case 9: // WAIT_BITSET
        return [uaddr, name, val, timeout, bitset];
      case 10: // WAKE_BITSET
        return [uaddr, name, val, bitset];
      case 3: // REQUEUE
        return [uaddr, name, val, val2, uaddr2];
      case 4: case 12: // CMP_REQUEUE, CMP_REQUEUE_PI
        return [uaddr, name, val, val2, uaddr2, String(val3)];
      case 5: // WAKE_OP
        return [uaddr, name, val, val2, uaddr2, C.futexWakeOp(val3)];
      case 11: // WAIT_REQUEUE_PI
        return [uaddr, name, val, timeout, uaddr2];
      case 1: case 2: // WAKE, FD
        return [uaddr, name, val];
      default: // UNLOCK_PI, TRYLOCK_PI
        return [uaddr, name];
    }
  },
  // clone(flags, stack, parent_tid, child_tid, tls), shown as strace
  // shows it: named, and only the pointers the flags use. parent_tid is
  // where the new thread's id went: the result.
  clone: (ctx) => {
    const { args } = ctx.rec;
    const f = u64(args[0]) & ~0xffn;
    const out = [`child_stack=${addr(args[1])}`, `flags=${cloneFlags(u64(args[0]), false)}`];
    if (f & (C.CLONE_PARENT_SETTID | C.CLONE_PIDFD)) out.push(`parent_tid=${f & C.CLONE_PARENT_SETTID && ctx.ok ? `[${ctx.rec.result}]` : addr(args[2])}`);
    if (f & C.CLONE_SETTLS) out.push(`tls=${addr(args[4])}`);
    if (f & (C.CLONE_CHILD_SETTID | C.CLONE_CHILD_CLEARTID)) out.push(`child_tidptr=${addr(args[3])}`);
    return out;
  },
  // clone3(&args, size): the struct on entry, then " => {parent_tid=[tid]}"
  // when the call made a thread and said where its id went.
  clone3: (ctx) => {
    const { args } = ctx.rec;
    const entry = ctx.rec.entry.get(0);
    const shown = entry && !entry.fault ? cloneArgs(entry.data, u64(args[1])) : "";
    if (!shown) return [addr(args[0]), String(u64(args[1]))];
    const f = le64(entry!.data, 0);
    const after = ctx.ok && f & C.CLONE_PARENT_SETTID ? ` => {parent_tid=[${ctx.rec.result}]}` : "";
    return [`${shown}${after}`, String(u64(args[1]))];
  },
  prctl: (ctx) => {
    const { args } = ctx.rec;
    const option = i32(args[0]);
    const head = C.xlat(option, C.PRCTL);
    if (option === 15) return [head, cstring(ctx.rec.entry.get(1), args[1], undefined)];
    if (option === 16) return [head, ctx.ok ? cstring(ctx.rec.exit.get(1), args[1], undefined) : addr(args[1])];
    return [head, ...args.slice(1, 5).map((a) => String(u64(a)))];
  },
  arch_prctl: (ctx) => [C.xlat(i32(ctx.rec.args[0]), C.ARCH_PRCTL, true), addr(ctx.rec.args[1])],
  brk: (ctx) => [addr(ctx.rec.args[0])],
  exit: (ctx) => [String(i32(ctx.rec.args[0]))],
  exit_group: (ctx) => [String(i32(ctx.rec.args[0]))],
  getrandom: (ctx) => {
    const { args } = ctx.rec;
    return [ctx.ok ? buffer(ctx.rec.exit.get(0), args[0], ctx.rec.result, ctx.o, true) : addr(args[0]), String(u64(args[1])), C.flags(u32(args[2]), C.GRND)];
  },
  rt_sigaction: (ctx, k) => generic(ctx, k),
};

/** Argument kinds of calls torov does not implement, to show what was tried. */
const UNIMPLEMENTED: Readonly<Record<string, readonly ArgKind[]>> = {
  fork: [],
  vfork: [],
  execve: ["path", "hex", "hex"],
  execveat: ["dirfd", "path", "hex", "hex", "atflags"],
  ptrace: ["int", "int", "hex", "hex"],
  mount: ["path", "path", "str", "hex", "hex"],
  umount2: ["path", "int"],
  chroot: ["path"],
  pivot_root: ["path", "path"],
  unshare: ["hex"],
  setns: ["fd", "int"],
  reboot: ["hex", "hex", "hex", "hex"],
  init_module: ["hex", "size", "str"],
  bpf: ["int", "hex", "uint"],
  perf_event_open: ["hex", "int", "int", "int", "hex"],
  seccomp: ["uint", "uint", "hex"],
  keyctl: ["int", "hex", "hex", "hex", "hex"],
  io_uring_setup: ["uint", "hex"],
  userfaultfd: ["int"],
  process_vm_readv: ["int", "hex", "uint", "hex", "uint", "uint"],
  process_vm_writev: ["int", "hex", "uint", "hex", "uint", "uint"],
  kexec_load: ["hex", "uint", "hex", "hex"],
};

export function argKinds(nr: number): readonly ArgKind[] | undefined {
  return hypercallByNumber(nr)?.args ?? UNIMPLEMENTED[syscallName(nr)];
}

/** The decoded arguments, each as strace shows it. */
export function formatArgs(rec: TraceRecord, o: FormatOptions): string[] {
  const name = syscallName(rec.nr);
  const ctx: Ctx = { rec, o, ok: !isError(rec) };
  const kinds = argKinds(rec.nr);
  if (!kinds) return rec.args.map((v) => addr(v)).slice(0, 6);
  return (SPECIAL[name] ?? generic)(ctx, kinds);
}

// ---- the result

export function isError(rec: TraceRecord): boolean {
  return !rec.noReturn && rec.result < 0n && rec.result > -4096n;
}

export function errnoName(errno: number): string {
  return ERRNO.get(errno)?.[0] ?? `E${errno}`;
}

const HEX_RESULT = new Set(["brk", "mmap", "mremap"]);

/** Calls that end only when a signal's handler has run: the kernel's result is ERESTARTNOHAND, and strace shows that. */
const RESTART_NOHAND = new Set(["rt_sigsuspend", "pause"]);

export function formatResult(rec: TraceRecord): string {
  if (rec.noReturn) return "?";
  if (rec.result === -4n && RESTART_NOHAND.has(syscallName(rec.nr))) return "? ERESTARTNOHAND (To be restarted if no handler)";
  if (isError(rec)) {
    const errno = Number(-rec.result);
    const [name, message] = ERRNO.get(errno) ?? [`E${errno}`, `Unknown error ${errno}`];
    return `-1 ${name} (${message})`;
  }
  const name = syscallName(rec.nr);
  if (HEX_RESULT.has(name)) return `0x${u64(rec.result).toString(16)}`;
  if (name === "rt_sigtimedwait" && rec.result > 0n) return `${rec.result} (${C.signalName(Number(rec.result))})`;
  if (name === "umask") return C.octalMode(rec.result);
  if (name === "fcntl") {
    const cmd = i32(rec.args[1]);
    if (cmd === 3) return `0x${rec.result.toString(16)} (flags ${C.openFlags(rec.result)})`;
    if (cmd === 1) return `0x${rec.result.toString(16)} (flags ${C.flags(rec.result, C.FD_CLOEXEC)})`;
  }
  if ((name === "poll" || name === "ppoll") && rec.result > 0n) {
    const after = rec.exit.get(0);
    if (after && !after.fault) return `${rec.result} (${pollfds(after.data, u32(rec.args[1]), true)})`;
  }
  return String(rec.result);
}

// ---- lines

export interface LineOptions extends FormatOptions {
  /** -t (1): the time of day each call started; -tt (2): with microseconds; -ttt (3): since the epoch. */
  readonly timestamps?: number;
  /** -T: the time spent in each call. */
  readonly durations?: boolean;
  /** strace -f's "[pid  1235] " (./threads.ts): first, and counted in the columns. */
  readonly prefix?: string;
}

/** strace's -t prefix: local time of day, with microseconds for -tt; -ttt: seconds since the epoch. */
export function timeOfDay(ns: bigint, micros = true, epoch = false): string {
  if (epoch) return `${ns / 1000000000n}.${String((ns / 1000n) % 1000000n).padStart(6, "0")}`;
  const d = new Date(Number(ns / 1000000n));
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const seconds = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return micros ? `${seconds}.${p(Number((ns / 1000n) % 1000000n), 6)}` : seconds;
}

/** A delivered signal's siginfo as strace shows it: {si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=42, si_uid=0}. */
export function formatSiginfo(rec: TraceRecord): { signo: string; code: string; pid: number; uid: number } {
  const code = Number(BigInt.asIntN(32, rec.args[1]));
  return { signo: C.signalName(rec.nr), code: SI_CODES[code] ?? String(code), pid: Number(rec.args[2]), uid: Number(rec.args[3]) };
}

/** One line, as strace prints it: the result in column 40 when the call is short. */
export function formatLine(rec: TraceRecord, o: LineOptions): string {
  let line = (o.prefix ?? "") + (o.timestamps ? `${timeOfDay(rec.start, o.timestamps > 1, o.timestamps > 2)} ` : "");
  if (rec.signal) {
    const si = formatSiginfo(rec);
    return `${line}--- ${si.signo} {si_signo=${si.signo}, si_code=${si.code}, si_pid=${si.pid}, si_uid=${si.uid}} ---`;
  }
  line += `${syscallName(rec.nr)}(${formatArgs(rec, o).join(", ")})`;
  line = `${line.padEnd(39)} = ${formatResult(rec)}`;
  if (rec.denied) line += " <denied>";
  if (o.durations && !rec.noReturn) line += ` <${(Number(rec.durationNs) / 1e9).toFixed(6)}>`;
  return line;
}

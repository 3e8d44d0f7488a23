// The constants a trace line names (x86-64 Linux values), and the two ways
// strace prints them: one value from a list, or a set of flags joined by '|'
// in the list's order, with what is left over in hex.

import { constants } from "node:os";

export type Table = ReadonlyArray<readonly [name: string, value: number]>;

/** One value's name, or the number (decimal unless `hex`). */
export function xlat(value: number | bigint, table: Table, hex = false): string {
  const v = Number(value);
  for (const [name, n] of table) if (n === v) return name;
  return hex ? `0x${BigInt.asUintN(64, BigInt(value)).toString(16)}` : String(value);
}

/**
 * Flags as strace prints them: each name whose bits are all set, in the
 * table's order, then the rest in hex; `zero` (or "0") for no bits.
 */
export function flags(value: number | bigint, table: Table, zero?: string): string {
  let rest = BigInt.asUintN(64, BigInt(value));
  if (rest === 0n) return zero ?? "0";
  const parts: string[] = [];
  for (const [name, n] of table) {
    const bits = BigInt(n);
    if (bits !== 0n && (rest & bits) === bits) {
      parts.push(name);
      rest &= ~bits;
    }
  }
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|");
}

export const O_ACCMODE: Table = [["O_RDONLY", 0], ["O_WRONLY", 1], ["O_RDWR", 2], ["O_ACCMODE", 3]];
export const O_CREAT = 0o100;
export const O_TMPFILE_BIT = 0o20000000;
// strace's order: combined flags before their parts.
export const O_FLAGS: Table = [
  ["O_CREAT", 0o100], ["O_EXCL", 0o200], ["O_NOCTTY", 0o400], ["O_TRUNC", 0o1000], ["O_APPEND", 0o2000],
  ["O_NONBLOCK", 0o4000], ["O_SYNC", 0o4010000], ["__O_SYNC", 0o4000000], ["O_DSYNC", 0o10000],
  ["O_DIRECT", 0o40000], ["O_LARGEFILE", 0o100000], ["O_NOFOLLOW", 0o400000], ["O_NOATIME", 0o1000000],
  ["O_CLOEXEC", 0o2000000], ["O_PATH", 0o10000000], ["O_TMPFILE", 0o20200000], ["__O_TMPFILE", 0o20000000],
  ["O_DIRECTORY", 0o200000], ["FASYNC", 0o20000],
];

/** open(2)'s flags: the access mode, then the other flags. */
export function openFlags(value: number | bigint): string {
  const v = Number(BigInt.asUintN(32, BigInt(value)));
  const rest = (v & ~3) >>> 0;
  const mode = xlat(v & 3, O_ACCMODE);
  return rest ? `${mode}|${flags(rest, O_FLAGS)}` : mode;
}

/** Flags that are open(2) flags (pipe2, dup3, eventfd2, epoll_create1...): no access mode. */
export const FD_FLAGS: Table = [["O_NONBLOCK", 0o4000], ["O_CLOEXEC", 0o2000000]];

export const AT_FDCWD = -100;
export const AT_FLAGS: Table = [
  ["AT_SYMLINK_NOFOLLOW", 0x100], ["AT_REMOVEDIR", 0x200], ["AT_SYMLINK_FOLLOW", 0x400], ["AT_NO_AUTOMOUNT", 0x800],
  ["AT_EMPTY_PATH", 0x1000], ["AT_STATX_FORCE_SYNC", 0x2000], ["AT_STATX_DONT_SYNC", 0x4000], ["AT_RECURSIVE", 0x8000],
];
export const ACCESS_MODES: Table = [["R_OK", 4], ["W_OK", 2], ["X_OK", 1]];

export const PROT: Table = [["PROT_READ", 1], ["PROT_WRITE", 2], ["PROT_EXEC", 4], ["PROT_SEM", 8], ["PROT_GROWSDOWN", 0x01000000], ["PROT_GROWSUP", 0x02000000]];
export const MAP_TYPE: Table = [["MAP_SHARED", 1], ["MAP_PRIVATE", 2], ["MAP_SHARED_VALIDATE", 3]];
export const MAP_FLAGS: Table = [
  ["MAP_FIXED", 0x10], ["MAP_ANONYMOUS", 0x20], ["MAP_32BIT", 0x40], ["MAP_GROWSDOWN", 0x100], ["MAP_DENYWRITE", 0x800],
  ["MAP_EXECUTABLE", 0x1000], ["MAP_LOCKED", 0x2000], ["MAP_NORESERVE", 0x4000], ["MAP_POPULATE", 0x8000],
  ["MAP_NONBLOCK", 0x10000], ["MAP_STACK", 0x20000], ["MAP_HUGETLB", 0x40000], ["MAP_SYNC", 0x80000],
  ["MAP_FIXED_NOREPLACE", 0x100000], ["MAP_UNINITIALIZED", 0x4000000],
];

export function mmapFlags(value: number | bigint): string {
  const v = Number(BigInt.asUintN(32, BigInt(value)));
  const type = xlat(v & 0xf, MAP_TYPE, true);
  const rest = (v & ~0xf) >>> 0;
  return rest ? `${type}|${flags(rest, MAP_FLAGS)}` : type;
}

export const MREMAP: Table = [["MREMAP_MAYMOVE", 1], ["MREMAP_FIXED", 2], ["MREMAP_DONTUNMAP", 4]];
export const MADVISE: Table = [
  ["MADV_NORMAL", 0], ["MADV_RANDOM", 1], ["MADV_SEQUENTIAL", 2], ["MADV_WILLNEED", 3], ["MADV_DONTNEED", 4],
  ["MADV_FREE", 8], ["MADV_REMOVE", 9], ["MADV_DONTFORK", 10], ["MADV_DOFORK", 11], ["MADV_MERGEABLE", 12],
  ["MADV_UNMERGEABLE", 13], ["MADV_HUGEPAGE", 14], ["MADV_NOHUGEPAGE", 15], ["MADV_DONTDUMP", 16],
  ["MADV_DODUMP", 17], ["MADV_WIPEONFORK", 18], ["MADV_KEEPONFORK", 19], ["MADV_COLD", 20], ["MADV_PAGEOUT", 21],
];

export const SEEK: Table = [["SEEK_SET", 0], ["SEEK_CUR", 1], ["SEEK_END", 2], ["SEEK_DATA", 3], ["SEEK_HOLE", 4]];

export const AF: Table = [
  ["AF_UNSPEC", 0], ["AF_UNIX", 1], ["AF_INET", 2], ["AF_AX25", 3], ["AF_IPX", 4], ["AF_APPLETALK", 5],
  ["AF_INET6", 10], ["AF_NETLINK", 16], ["AF_PACKET", 17], ["AF_VSOCK", 40],
];
export const SOCK_TYPE: Table = [["SOCK_STREAM", 1], ["SOCK_DGRAM", 2], ["SOCK_RAW", 3], ["SOCK_RDM", 4], ["SOCK_SEQPACKET", 5], ["SOCK_DCCP", 6], ["SOCK_PACKET", 10]];
export const SOCK_FLAGS: Table = [["SOCK_NONBLOCK", 0o4000], ["SOCK_CLOEXEC", 0o2000000]];

export function sockType(value: number | bigint): string {
  const v = Number(BigInt.asUintN(32, BigInt(value)));
  const type = xlat(v & 0xf, SOCK_TYPE, true);
  const rest = (v & ~0xf) >>> 0;
  return rest ? `${type}|${flags(rest, SOCK_FLAGS)}` : type;
}

export const IPPROTO: Table = [["IPPROTO_IP", 0], ["IPPROTO_ICMP", 1], ["IPPROTO_TCP", 6], ["IPPROTO_UDP", 17], ["IPPROTO_IPV6", 41], ["IPPROTO_ICMPV6", 58], ["IPPROTO_RAW", 255]];
export const SOL: Table = [["SOL_IP", 0], ["SOL_SOCKET", 1], ["SOL_TCP", 6], ["SOL_UDP", 17], ["SOL_IPV6", 41]];
export const SO: Table = [
  ["SO_DEBUG", 1], ["SO_REUSEADDR", 2], ["SO_TYPE", 3], ["SO_ERROR", 4], ["SO_DONTROUTE", 5], ["SO_BROADCAST", 6],
  ["SO_SNDBUF", 7], ["SO_RCVBUF", 8], ["SO_KEEPALIVE", 9], ["SO_OOBINLINE", 10], ["SO_LINGER", 13],
  ["SO_REUSEPORT", 15], ["SO_PASSCRED", 16], ["SO_PEERCRED", 17], ["SO_RCVLOWAT", 18], ["SO_SNDLOWAT", 19],
  ["SO_RCVTIMEO_OLD", 20], ["SO_SNDTIMEO_OLD", 21], ["SO_ACCEPTCONN", 30], ["SO_PROTOCOL", 38], ["SO_DOMAIN", 39],
];
export const TCP_OPTS: Table = [["TCP_NODELAY", 1], ["TCP_MAXSEG", 2], ["TCP_CORK", 3], ["TCP_KEEPIDLE", 4], ["TCP_KEEPINTVL", 5], ["TCP_KEEPCNT", 6]];
export const SHUT: Table = [["SHUT_RD", 0], ["SHUT_WR", 1], ["SHUT_RDWR", 2]];
export const MSG_FLAGS: Table = [
  ["MSG_OOB", 1], ["MSG_PEEK", 2], ["MSG_DONTROUTE", 4], ["MSG_CTRUNC", 8], ["MSG_PROXY", 0x10], ["MSG_TRUNC", 0x20],
  ["MSG_DONTWAIT", 0x40], ["MSG_EOR", 0x80], ["MSG_WAITALL", 0x100], ["MSG_FIN", 0x200], ["MSG_SYN", 0x400],
  ["MSG_CONFIRM", 0x800], ["MSG_RST", 0x1000], ["MSG_ERRQUEUE", 0x2000], ["MSG_NOSIGNAL", 0x4000],
  ["MSG_MORE", 0x8000], ["MSG_WAITFORONE", 0x10000], ["MSG_CMSG_CLOEXEC", 0x40000000],
];

export const FCNTL: Table = [
  ["F_DUPFD", 0], ["F_GETFD", 1], ["F_SETFD", 2], ["F_GETFL", 3], ["F_SETFL", 4], ["F_GETLK", 5], ["F_SETLK", 6],
  ["F_SETLKW", 7], ["F_SETOWN", 8], ["F_GETOWN", 9], ["F_SETSIG", 10], ["F_GETSIG", 11], ["F_SETOWN_EX", 15],
  ["F_GETOWN_EX", 16], ["F_OFD_GETLK", 36], ["F_OFD_SETLK", 37], ["F_OFD_SETLKW", 38], ["F_SETLEASE", 1024],
  ["F_GETLEASE", 1025], ["F_NOTIFY", 1026], ["F_DUPFD_CLOEXEC", 1030], ["F_SETPIPE_SZ", 1031],
  ["F_GETPIPE_SZ", 1032], ["F_ADD_SEALS", 1033], ["F_GET_SEALS", 1034],
];
export const FD_CLOEXEC: Table = [["FD_CLOEXEC", 1]];
export const FLOCK: Table = [["LOCK_SH", 1], ["LOCK_EX", 2], ["LOCK_NB", 4], ["LOCK_UN", 8]];

export const IOCTL: Table = [
  ["TCGETS", 0x5401], ["TCSETS", 0x5402], ["TCSETSW", 0x5403], ["TCSETSF", 0x5404], ["TCGETA", 0x5405],
  ["TIOCSCTTY", 0x540e], ["TIOCGPGRP", 0x540f], ["TIOCSPGRP", 0x5410], ["TIOCOUTQ", 0x5411], ["TIOCGWINSZ", 0x5413],
  ["TIOCSWINSZ", 0x5414], ["FIONREAD", 0x541b], ["TIOCNOTTY", 0x5422], ["FIONBIO", 0x5421], ["TIOCGPTN", 0x80045430],
  ["FIONCLEX", 0x5450], ["FIOCLEX", 0x5451], ["FIOASYNC", 0x5452], ["TCGETS2", 0x802c542a],
];

export const CLOCKS: Table = [
  ["CLOCK_REALTIME", 0], ["CLOCK_MONOTONIC", 1], ["CLOCK_PROCESS_CPUTIME_ID", 2], ["CLOCK_THREAD_CPUTIME_ID", 3],
  ["CLOCK_MONOTONIC_RAW", 4], ["CLOCK_REALTIME_COARSE", 5], ["CLOCK_MONOTONIC_COARSE", 6], ["CLOCK_BOOTTIME", 7],
  ["CLOCK_REALTIME_ALARM", 8], ["CLOCK_BOOTTIME_ALARM", 9], ["CLOCK_TAI", 11],
];
export const TIMER_FLAGS: Table = [["TIMER_ABSTIME", 1]];
export const TFD_SETTIME: Table = [["TFD_TIMER_ABSTIME", 1], ["TFD_TIMER_CANCEL_ON_SET", 2]];
export const TFD_FLAGS: Table = [["TFD_NONBLOCK", 0o4000], ["TFD_CLOEXEC", 0o2000000]];
export const EFD_FLAGS: Table = [["EFD_SEMAPHORE", 1], ["EFD_NONBLOCK", 0o4000], ["EFD_CLOEXEC", 0o2000000]];
export const EPOLL_FLAGS: Table = [["EPOLL_CLOEXEC", 0o2000000]];
export const EPOLL_CTL: Table = [["EPOLL_CTL_ADD", 1], ["EPOLL_CTL_DEL", 2], ["EPOLL_CTL_MOD", 3]];
export const EPOLL_EVENTS: Table = [
  ["EPOLLIN", 1], ["EPOLLPRI", 2], ["EPOLLOUT", 4], ["EPOLLERR", 8], ["EPOLLHUP", 0x10], ["EPOLLNVAL", 0x20],
  ["EPOLLRDNORM", 0x40], ["EPOLLRDBAND", 0x80], ["EPOLLWRNORM", 0x100], ["EPOLLWRBAND", 0x200], ["EPOLLMSG", 0x400],
  ["EPOLLRDHUP", 0x2000], ["EPOLLEXCLUSIVE", 0x10000000], ["EPOLLWAKEUP", 0x20000000], ["EPOLLONESHOT", 0x40000000],
  ["EPOLLET", 0x80000000],
];
export const POLL_EVENTS: Table = [
  ["POLLIN", 1], ["POLLPRI", 2], ["POLLOUT", 4], ["POLLERR", 8], ["POLLHUP", 0x10], ["POLLNVAL", 0x20],
  ["POLLRDNORM", 0x40], ["POLLRDBAND", 0x80], ["POLLWRNORM", 0x100], ["POLLWRBAND", 0x200], ["POLLMSG", 0x400],
  ["POLLRDHUP", 0x2000],
];

export const ARCH_PRCTL: Table = [["ARCH_SET_GS", 0x1001], ["ARCH_SET_FS", 0x1002], ["ARCH_GET_FS", 0x1003], ["ARCH_GET_GS", 0x1004], ["ARCH_GET_CPUID", 0x1011], ["ARCH_SET_CPUID", 0x1012]];
export const PRCTL: Table = [
  ["PR_SET_PDEATHSIG", 1], ["PR_GET_PDEATHSIG", 2], ["PR_GET_DUMPABLE", 3], ["PR_SET_DUMPABLE", 4],
  ["PR_SET_NAME", 15], ["PR_GET_NAME", 16], ["PR_GET_SECCOMP", 21], ["PR_SET_SECCOMP", 22],
  ["PR_CAPBSET_READ", 23], ["PR_SET_NO_NEW_PRIVS", 38], ["PR_GET_NO_NEW_PRIVS", 39], ["PR_SET_THP_DISABLE", 41],
  ["PR_SET_VMA", 0x53564d41],
];
export const RLIMITS: Table = [
  ["RLIMIT_CPU", 0], ["RLIMIT_FSIZE", 1], ["RLIMIT_DATA", 2], ["RLIMIT_STACK", 3], ["RLIMIT_CORE", 4], ["RLIMIT_RSS", 5],
  ["RLIMIT_NPROC", 6], ["RLIMIT_NOFILE", 7], ["RLIMIT_MEMLOCK", 8], ["RLIMIT_AS", 9], ["RLIMIT_LOCKS", 10],
  ["RLIMIT_SIGPENDING", 11], ["RLIMIT_MSGQUEUE", 12], ["RLIMIT_NICE", 13], ["RLIMIT_RTPRIO", 14], ["RLIMIT_RTTIME", 15],
];
export const FUTEX_OPS: Table = [
  ["FUTEX_WAIT", 0], ["FUTEX_WAKE", 1], ["FUTEX_FD", 2], ["FUTEX_REQUEUE", 3], ["FUTEX_CMP_REQUEUE", 4],
  ["FUTEX_WAKE_OP", 5], ["FUTEX_LOCK_PI", 6], ["FUTEX_UNLOCK_PI", 7], ["FUTEX_TRYLOCK_PI", 8],
  ["FUTEX_WAIT_BITSET", 9], ["FUTEX_WAKE_BITSET", 10], ["FUTEX_WAIT_REQUEUE_PI", 11], ["FUTEX_CMP_REQUEUE_PI", 12],
  ["FUTEX_LOCK_PI2", 13],
];

/** futex(2)'s op as strace names it: FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME; an unknown command in hex. */
export function futexOp(value: number | bigint): string {
  const v = Number(BigInt.asUintN(32, BigInt(value)));
  const cmd = v & 0x7f;
  if ((v & ~(0x7f | 128 | 256)) !== 0 || cmd > 13) return `0x${v.toString(16)} /* FUTEX_??? */`;
  let name = xlat(cmd, FUTEX_OPS);
  if (v & 128) name += "_PRIVATE";
  if (v & 256) name += "|FUTEX_CLOCK_REALTIME";
  return name;
}

/** FUTEX_WAKE_OP's encoded operation: FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1. */
export function futexWakeOp(value: number | bigint): string {
  const v = Number(BigInt.asUintN(32, BigInt(value)));
  const hex = (n: number) => (n ? `0x${n.toString(16)}` : "0");
  const op = (v >>> 28) & 0xf;
  const shift = op & 8 ? "FUTEX_OP_OPARG_SHIFT<<28|" : "";
  const name = xlat(op & 7, FUTEX_WAKE_OPS, false);
  const cmp = xlat((v >>> 24) & 0xf, FUTEX_WAKE_CMPS, false);
  return `${shift}${/^\d/.test(name) ? `${hex(op & 7)} /* FUTEX_OP_??? */` : name}<<28|${hex((v >>> 12) & 0xfff)}<<12|${/^\d/.test(cmp) ? `${hex((v >>> 24) & 0xf)} /* FUTEX_OP_CMP_??? */` : cmp}<<24|${hex(v & 0xfff)}`;
}

export const FUTEX_WAKE_OPS: Table = [["FUTEX_OP_SET", 0], ["FUTEX_OP_ADD", 1], ["FUTEX_OP_OR", 2], ["FUTEX_OP_ANDN", 3], ["FUTEX_OP_XOR", 4]];
export const FUTEX_WAKE_CMPS: Table = [
  ["FUTEX_OP_CMP_EQ", 0], ["FUTEX_OP_CMP_NE", 1], ["FUTEX_OP_CMP_LT", 2], ["FUTEX_OP_CMP_LE", 3], ["FUTEX_OP_CMP_GT", 4], ["FUTEX_OP_CMP_GE", 5],
];

// clone(2)'s and clone3(2)'s flags, strace's list (CLONE_DETACHED has no
// name there: it shows as 0x400000). The low byte of clone's is a signal.
export const CLONE_FLAGS: Table = [
  ["CLONE_VM", 0x100], ["CLONE_FS", 0x200], ["CLONE_FILES", 0x400], ["CLONE_SIGHAND", 0x800], ["CLONE_PIDFD", 0x1000],
  ["CLONE_PTRACE", 0x2000], ["CLONE_VFORK", 0x4000], ["CLONE_PARENT", 0x8000], ["CLONE_THREAD", 0x10000],
  ["CLONE_NEWNS", 0x20000], ["CLONE_SYSVSEM", 0x40000], ["CLONE_SETTLS", 0x80000], ["CLONE_PARENT_SETTID", 0x100000],
  ["CLONE_CHILD_CLEARTID", 0x200000], ["CLONE_UNTRACED", 0x800000], ["CLONE_CHILD_SETTID", 0x1000000],
  ["CLONE_NEWCGROUP", 0x2000000], ["CLONE_NEWUTS", 0x4000000], ["CLONE_NEWIPC", 0x8000000], ["CLONE_NEWUSER", 0x10000000],
  ["CLONE_NEWPID", 0x20000000], ["CLONE_NEWNET", 0x40000000], ["CLONE_IO", 0x80000000],
  ["CLONE_CLEAR_SIGHAND", 0x100000000], ["CLONE_INTO_CGROUP", 0x200000000],
];
export const CLONE_PIDFD = 0x1000n;
export const CLONE_SETTLS = 0x80000n;
export const CLONE_PARENT_SETTID = 0x100000n;
export const CLONE_CHILD_CLEARTID = 0x200000n;
export const CLONE_CHILD_SETTID = 0x1000000n;
export const CLONE_INTO_CGROUP = 0x200000000n;

export const SIGPROCMASK_HOW: Table = [["SIG_BLOCK", 0], ["SIG_UNBLOCK", 1], ["SIG_SETMASK", 2]];
// strace's order (what it prints first comes first).
export const SA_FLAGS: Table = [
  ["SA_RESTORER", 0x04000000], ["SA_ONSTACK", 0x08000000], ["SA_RESTART", 0x10000000], ["SA_NODEFER", 0x40000000],
  ["SA_RESETHAND", 0x80000000], ["SA_SIGINFO", 4], ["SA_NOCLDSTOP", 1], ["SA_NOCLDWAIT", 2],
];
export const GRND: Table = [["GRND_NONBLOCK", 1], ["GRND_RANDOM", 2], ["GRND_INSECURE", 4]];
export const RENAME_FLAGS: Table = [["RENAME_NOREPLACE", 1], ["RENAME_EXCHANGE", 2], ["RENAME_WHITEOUT", 4]];
export const MFD_FLAGS: Table = [["MFD_CLOEXEC", 1], ["MFD_ALLOW_SEALING", 2], ["MFD_HUGETLB", 4], ["MFD_NOEXEC_SEAL", 8], ["MFD_EXEC", 0x10]];
export const WAIT_FLAGS: Table = [["WNOHANG", 1], ["WUNTRACED", 2], ["WEXITED", 4], ["WCONTINUED", 8], ["WNOWAIT", 0x1000000], ["__WNOTHREAD", 0x20000000], ["__WALL", 0x40000000], ["__WCLONE", 0x80000000]];

const SIGNALS: Table = Object.entries(constants.signals)
  .filter(([name]) => name !== "SIGIOT" && name !== "SIGPOLL" && name !== "SIGUNUSED")
  .map(([name, n]) => [name, n] as const);

/** A signal's name as strace writes it; real-time ones count from the kernel's SIGRTMIN, 32. */
export function signalName(n: number): string {
  if (n >= 32 && n <= 64) return n === 32 ? "SIGRTMIN" : `SIGRT_${n - 32}`;
  return xlat(n, SIGNALS);
}

export const S_IFMT = 0o170000;
export const S_IFMT_TYPES: Table = [
  ["S_IFSOCK", 0o140000], ["S_IFLNK", 0o120000], ["S_IFREG", 0o100000], ["S_IFBLK", 0o60000], ["S_IFDIR", 0o40000],
  ["S_IFCHR", 0o20000], ["S_IFIFO", 0o10000],
];
const S_SPECIAL: Table = [["S_ISUID", 0o4000], ["S_ISGID", 0o2000], ["S_ISVTX", 0o1000]];

/** A mode as strace prints struct stat's st_mode: S_IFREG|0644. */
export function statMode(mode: number): string {
  const parts: string[] = [];
  if (mode & S_IFMT) parts.push(xlat(mode & S_IFMT, S_IFMT_TYPES, true));
  const special = mode & 0o7000;
  if (special) parts.push(flags(special, S_SPECIAL));
  parts.push(`0${(mode & 0o777).toString(8).padStart(3, "0")}`);
  return parts.join("|");
}

/** A mode argument (mkdir, open with O_CREAT) as C's "%#03o": 0644, 000. */
export function octalMode(mode: number | bigint): string {
  const v = Number(BigInt.asUintN(32, BigInt(mode)));
  return (v === 0 ? "0" : `0${v.toString(8)}`).padStart(3, "0");
}

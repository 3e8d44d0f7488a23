// The one table of hypercalls: every Linux system call torov implements,
// with its number, whether the monitor answers it itself (emulated: always
// allowed) or performs it on the host (forwarded: only when the manifest
// allows it), the manifest groups it belongs to, and its argument kinds
// (for tracing and the debugger). Manifest names, the policy, the tracer and
// `catch syscall` all read it; the native side has a handler for exactly
// these numbers (test/unit/hypercalls.test.ts checks that).

import { LINUX_SYSCALLS } from "./syscalls.js";

export type HypercallKind = "emulated" | "forwarded";

/**
 * How a trace shows an argument (src/trace/ decodes each kind).
 *  fd/dirfd: a descriptor (dirfd knows AT_FDCWD); path: a file name, shown
 *  in full; str: a guest string, cut at -s; ibuf: bytes the guest passes,
 *  length in the next argument; obuf: bytes returned, as many as the
 *  result; size/int/uint/off: numbers; hex: an address (NULL for 0). Kinds
 *  with a leading "o" are written by the call (shown after it returns),
 *  the others are read from the guest when the call is made; the rest name
 *  flag sets and structures. xval: a number strace shows as it shows the
 *  arguments of calls it does not decode (0, or hex); optr/oulong: a
 *  pointer or unsigned long the call writes ([0x...], [24]).
 */
export type ArgKind =
  | "fd" | "dirfd" | "path" | "str" | "ibuf" | "obuf" | "size" | "int" | "uint" | "off" | "hex"
  | "mode" | "oflags" | "fdflags" | "atflags" | "accessmode" | "prot" | "mflags" | "mremapflags" | "madvise"
  | "whence" | "signal" | "sigset" | "osigset" | "sighow" | "sigaction" | "osigaction" | "iov" | "oiov" | "iovcnt"
  | "sockaddr" | "socklen" | "osockaddr" | "osocklen" | "msgflags" | "sockflags" | "shut" | "stat" | "statx"
  | "timespec" | "otimespec" | "timeval" | "otimeval" | "clock" | "timerflags" | "tfdflags" | "tfdsettime"
  | "pollfds" | "ioctl" | "fcntl" | "domain" | "socktype" | "protocol" | "msghdr" | "omsghdr" | "fds2"
  | "rlimit" | "orlimit" | "resource" | "utsname" | "fdset" | "futexop" | "arch" | "prctl" | "flock"
  | "efdflags" | "epflags" | "epollop" | "epollevent" | "mfdflags" | "grnd" | "renameflags" | "waitflags"
  | "sockopt" | "dirents" | "utimens" | "remaining" | "sigframe" | "xval" | "cloneargs" | "cpuset" | "icpuset"
  | "osiginfo" | "optr" | "oulong";

export interface Hypercall {
  readonly nr: number;
  readonly name: string;
  readonly kind: HypercallKind;
  readonly groups: readonly string[];
  readonly args: readonly ArgKind[];
}

/** Manifest groups, in the style of systemd's filter sets, with their aliases. */
export const GROUPS = {
  "@basic-io": "reading, writing and closing descriptors already open, and terminal ioctls",
  "@file": "opening, creating, inspecting and renaming files and directories inside MountPoint",
  "@ipc": "pipes and eventfds",
  "@network": "sockets: TCP, UDP and Unix (path names inside MountPoint)",
  "@io-event": "waiting on several descriptors: poll, select, epoll",
  "@time": "reading clocks, sleeping and timerfds",
  "@signal": "signal dispositions and masks (emulated)",
  "@process": "identity, limits, exit and thread set-up (emulated)",
  "@memory": "the guest's own memory: brk, mmap, mprotect (emulated)",
} as const;

export const GROUP_ALIASES: Readonly<Record<string, keyof typeof GROUPS>> = {
  "@file-system": "@file",
  "@network-io": "@network",
  "@poll": "@io-event",
};

type Row = [name: string, kind: "e" | "f", groups: string, args: string];

// prettier-ignore
const ROWS: Row[] = [
  // @basic-io
  ["read", "f", "basic-io", "fd obuf size"],
  ["write", "f", "basic-io", "fd ibuf size"],
  ["pread64", "f", "basic-io", "fd obuf size off"],
  ["pwrite64", "f", "basic-io", "fd ibuf size off"],
  ["readv", "f", "basic-io", "fd oiov iovcnt"],
  ["writev", "f", "basic-io", "fd iov iovcnt"],
  ["preadv", "f", "basic-io", "fd oiov iovcnt off"],
  ["pwritev", "f", "basic-io", "fd iov iovcnt off"],
  ["lseek", "f", "basic-io", "fd off whence"],
  ["sendfile", "f", "basic-io", "fd fd hex size"],
  ["close", "f", "basic-io", "fd"],
  ["close_range", "f", "basic-io", "fd fd uint"],
  ["dup", "f", "basic-io", "fd"],
  ["dup2", "f", "basic-io", "fd fd"],
  ["dup3", "f", "basic-io", "fd fd fdflags"],
  ["ioctl", "f", "basic-io", "fd ioctl hex"],
  // @file
  ["open", "f", "file", "path oflags mode"],
  ["openat", "f", "file", "dirfd path oflags mode"],
  ["creat", "f", "file", "path mode"],
  ["stat", "f", "file", "path stat"],
  ["lstat", "f", "file", "path stat"],
  ["fstat", "f", "file", "fd stat"],
  ["newfstatat", "f", "file", "dirfd path stat atflags"],
  ["statx", "f", "file", "dirfd path atflags hex statx"],
  ["access", "f", "file", "path accessmode"],
  ["faccessat", "f", "file", "dirfd path accessmode"],
  ["faccessat2", "f", "file", "dirfd path accessmode atflags"],
  ["getdents64", "f", "file", "fd dirents size"],
  // Extended attributes: none (native/hypercalls/files.cc).
  ["getxattr", "f", "file", "path str hex size"],
  ["lgetxattr", "f", "file", "path str hex size"],
  ["fgetxattr", "f", "file", "fd str hex size"],
  ["listxattr", "f", "file", "path hex size"],
  ["llistxattr", "f", "file", "path hex size"],
  ["flistxattr", "f", "file", "fd hex size"],
  ["setxattr", "f", "file", "path str hex size xval"],
  ["lsetxattr", "f", "file", "path str hex size xval"],
  ["fsetxattr", "f", "file", "fd str hex size xval"],
  ["removexattr", "f", "file", "path str"],
  ["lremovexattr", "f", "file", "path str"],
  ["fremovexattr", "f", "file", "fd str"],
  ["statfs", "f", "file", "path hex"],
  ["fstatfs", "f", "file", "fd hex"],
  ["mkdir", "f", "file", "path mode"],
  ["mkdirat", "f", "file", "dirfd path mode"],
  ["mknod", "f", "file", "path mode uint"],
  ["mknodat", "f", "file", "dirfd path mode uint"],
  ["unlink", "f", "file", "path"],
  ["unlinkat", "f", "file", "dirfd path atflags"],
  ["rmdir", "f", "file", "path"],
  ["rename", "f", "file", "path path"],
  ["renameat", "f", "file", "dirfd path dirfd path"],
  ["renameat2", "f", "file", "dirfd path dirfd path renameflags"],
  ["link", "f", "file", "path path"],
  ["linkat", "f", "file", "dirfd path dirfd path atflags"],
  ["symlink", "f", "file", "str path"],
  ["symlinkat", "f", "file", "str dirfd path"],
  ["readlink", "f", "file", "path obuf size"],
  ["readlinkat", "f", "file", "dirfd path obuf size"],
  ["chmod", "f", "file", "path mode"],
  ["fchmod", "f", "file", "fd mode"],
  ["fchmodat", "f", "file", "dirfd path mode"],
  ["chown", "f", "file", "path int int"],
  ["lchown", "f", "file", "path int int"],
  ["fchown", "f", "file", "fd int int"],
  ["fchownat", "f", "file", "dirfd path int int atflags"],
  ["utimensat", "f", "file", "dirfd path utimens atflags"],
  ["truncate", "f", "file", "path off"],
  ["ftruncate", "f", "file", "fd off"],
  ["fallocate", "f", "file", "fd int off off"],
  ["flock", "f", "file", "fd flock"],
  ["fsync", "f", "file", "fd"],
  ["fdatasync", "f", "file", "fd"],
  ["fadvise64", "f", "file", "fd off off int"],
  ["fcntl", "f", "file basic-io", "fd fcntl hex"],
  ["getdents", "f", "file", "fd dirents size"],
  ["utime", "f", "file", "path hex"],
  ["utimes", "f", "file", "path hex"],
  ["futimesat", "f", "file", "dirfd path hex"],
  ["sync", "f", "file", ""],
  ["syncfs", "f", "file", "fd"],
  ["sync_file_range", "f", "file", "fd off off uint"],
  ["readahead", "f", "file", "fd off size"],
  ["memfd_create", "f", "file", "str mfdflags"],
  ["getcwd", "f", "file", "obuf size"],
  ["chdir", "f", "file", "path"],
  ["fchdir", "f", "file", "fd"],
  ["umask", "e", "file", "mode"],
  ["splice", "f", "basic-io", "fd hex fd hex size uint"],
  ["tee", "f", "basic-io", "fd fd size uint"],
  ["copy_file_range", "f", "basic-io", "fd hex fd hex size uint"],
  // @ipc
  ["pipe", "f", "ipc", "fds2"],
  ["pipe2", "f", "ipc", "fds2 fdflags"],
  ["eventfd", "f", "ipc", "uint"],
  ["eventfd2", "f", "ipc", "uint efdflags"],
  // @network
  ["socket", "f", "network", "domain socktype protocol"],
  ["socketpair", "f", "network", "domain socktype protocol fds2"],
  ["bind", "f", "network", "fd sockaddr socklen"],
  ["connect", "f", "network", "fd sockaddr socklen"],
  ["listen", "f", "network", "fd int"],
  ["accept", "f", "network", "fd osockaddr osocklen"],
  ["accept4", "f", "network", "fd osockaddr osocklen sockflags"],
  ["shutdown", "f", "network", "fd shut"],
  ["sendto", "f", "network", "fd ibuf size msgflags sockaddr socklen"],
  ["recvfrom", "f", "network", "fd obuf size msgflags osockaddr osocklen"],
  ["sendmsg", "f", "network", "fd msghdr msgflags"],
  ["recvmsg", "f", "network", "fd omsghdr msgflags"],
  ["sendmmsg", "f", "network", "fd hex uint msgflags"],
  ["recvmmsg", "f", "network", "fd hex uint msgflags timespec"],
  ["setsockopt", "f", "network", "fd sockopt sockopt hex socklen"],
  ["getsockopt", "f", "network", "fd sockopt sockopt hex hex"],
  ["getsockname", "f", "network", "fd osockaddr osocklen"],
  ["getpeername", "f", "network", "fd osockaddr osocklen"],
  // @io-event
  ["poll", "f", "io-event", "pollfds uint int"],
  ["ppoll", "f", "io-event", "pollfds uint timespec sigset size"],
  ["select", "f", "io-event", "int fdset fdset fdset timeval"],
  ["pselect6", "f", "io-event", "int fdset fdset fdset timespec hex"],
  ["epoll_create", "f", "io-event", "int"],
  ["epoll_create1", "f", "io-event", "epflags"],
  ["epoll_ctl", "f", "io-event", "fd epollop fd epollevent"],
  ["epoll_wait", "f", "io-event", "fd hex int int"],
  ["epoll_pwait", "f", "io-event", "fd hex int int sigset size"],
  ["epoll_pwait2", "f", "io-event", "fd hex int timespec sigset size"],
  // @time
  ["clock_gettime", "f", "time", "clock otimespec"],
  ["clock_getres", "f", "time", "clock otimespec"],
  ["gettimeofday", "f", "time", "otimeval hex"],
  ["time", "f", "time", "hex"],
  ["nanosleep", "f", "time", "timespec remaining"],
  ["clock_nanosleep", "f", "time", "clock timerflags timespec remaining"],
  ["timerfd_create", "f", "time", "clock tfdflags"],
  ["timerfd_settime", "f", "time", "fd tfdsettime hex hex"],
  ["timerfd_gettime", "f", "time", "fd hex"],
  // @memory (emulated over guest RAM)
  ["brk", "e", "memory", "hex"],
  ["mmap", "e", "memory", "hex size prot mflags fd off"],
  ["munmap", "e", "memory", "hex size"],
  ["mprotect", "e", "memory", "hex size prot"],
  ["mremap", "e", "memory", "hex size size mremapflags hex"],
  ["madvise", "e", "memory", "hex size madvise"],
  ["msync", "e", "memory", "hex size int"],
  ["mlock", "e", "memory", "hex size"],
  ["munlock", "e", "memory", "hex size"],
  ["mlockall", "e", "memory", "int"],
  ["munlockall", "e", "memory", ""],
  ["mincore", "e", "memory", "hex size hex"],
  // @process (emulated)
  ["exit", "e", "process", "int"],
  ["exit_group", "e", "process", "int"],
  ["getpid", "e", "process", ""],
  ["getppid", "e", "process", ""],
  ["gettid", "e", "process", ""],
  ["getuid", "e", "process", ""],
  ["geteuid", "e", "process", ""],
  ["getgid", "e", "process", ""],
  ["getegid", "e", "process", ""],
  ["getresuid", "e", "process", "hex hex hex"],
  ["getresgid", "e", "process", "hex hex hex"],
  ["getgroups", "e", "process", "int hex"],
  ["getpgrp", "e", "process", ""],
  ["getpgid", "e", "process", "int"],
  ["getsid", "e", "process", "int"],
  ["setuid", "e", "process", "int"],
  ["setgid", "e", "process", "int"],
  ["setreuid", "e", "process", "int int"],
  ["setregid", "e", "process", "int int"],
  ["setresuid", "e", "process", "int int int"],
  ["setresgid", "e", "process", "int int int"],
  ["setgroups", "e", "process", "int hex"],
  ["setpgid", "e", "process", "int int"],
  ["setsid", "e", "process", ""],
  ["set_tid_address", "e", "process", "hex"],
  ["set_robust_list", "e", "process", "hex size"],
  ["get_robust_list", "e", "process", "int optr oulong"],
  ["rseq", "e", "process", "xval xval xval xval"],
  ["arch_prctl", "e", "process", "arch hex"],
  ["uname", "e", "process", "utsname"],
  ["prlimit64", "e", "process", "int resource rlimit orlimit"],
  ["getrlimit", "e", "process", "resource orlimit"],
  ["setrlimit", "e", "process", "resource rlimit"],
  ["getrusage", "e", "process", "int hex"],
  ["times", "e", "process", "hex"],
  ["sysinfo", "e", "process", "hex"],
  ["sched_getaffinity", "e", "process", "int size cpuset"],
  ["sched_setaffinity", "e", "process", "int size icpuset"],
  ["sched_yield", "e", "process", ""],
  ["sched_getscheduler", "e", "process", "int"],
  ["sched_getparam", "e", "process", "int hex"],
  ["getcpu", "e", "process", "hex hex hex"],
  ["getpriority", "e", "process", "int int"],
  ["prctl", "e", "process", "prctl hex hex hex hex"],
  ["getrandom", "e", "process", "obuf size grnd"],
  ["wait4", "e", "process", "int hex waitflags hex"],
  ["waitid", "e", "process", "int int hex waitflags hex"],
  ["futex", "e", "process", "hex futexop uint timespec hex uint"],
  // threads (emulated: each gets a vCPU of its own) and processes (each a VM of its own)
  ["fork", "e", "process", ""],
  ["vfork", "e", "process", ""],
  ["clone", "e", "process", "hex hex hex hex hex"],
  ["clone3", "e", "process", "cloneargs size"],
  // @signal (emulated: actions, masks, signals to itself, the return from a handler)
  ["rt_sigaction", "e", "signal", "signal sigaction osigaction size"],
  ["rt_sigprocmask", "e", "signal", "sighow sigset osigset size"],
  ["rt_sigpending", "e", "signal", "osigset size"],
  ["rt_sigsuspend", "e", "signal", "sigset size"],
  ["rt_sigtimedwait", "e", "signal", "sigset osiginfo timespec size"],
  ["pause", "e", "signal", ""],
  ["rt_sigreturn", "e", "signal", "sigframe"],
  ["sigaltstack", "e", "signal", "hex hex"],
  ["kill", "e", "signal process", "int signal"],
  ["tkill", "e", "signal process", "int signal"],
  ["tgkill", "e", "signal process", "int int signal"],
];

function build(): Hypercall[] {
  return ROWS.map(([name, kind, groups, args]) => {
    const nr = LINUX_SYSCALLS.get(name);
    if (nr === undefined) throw new Error(`hypercall table: ${name} is not a Linux x86-64 syscall`);
    return {
      nr,
      name,
      kind: kind === "e" ? "emulated" : "forwarded",
      groups: groups.split(" ").map((g) => `@${g}`),
      args: args ? (args.split(" ") as ArgKind[]) : [],
    };
  });
}

export const HYPERCALLS: readonly Hypercall[] = build();

const byNumber = new Map(HYPERCALLS.map((h) => [h.nr, h]));
const byName = new Map(HYPERCALLS.map((h) => [h.name, h]));
const nameOfNumber = new Map([...LINUX_SYSCALLS].map(([name, nr]) => [nr, name]));

export function hypercallByNumber(nr: number): Hypercall | undefined {
  return byNumber.get(nr);
}

export function hypercallByName(name: string): Hypercall | undefined {
  return byName.get(name);
}

/** The Linux name of a syscall number, implemented or not. */
export function syscallName(nr: number): string {
  return nameOfNumber.get(nr) ?? `syscall_${nr}`;
}

/** The hypercalls of a group (canonical name or alias), or undefined. */
export function groupMembers(group: string): Hypercall[] | undefined {
  const canonical = GROUP_ALIASES[group] ?? group;
  if (!(canonical in GROUPS)) return undefined;
  return HYPERCALLS.filter((h) => h.groups.includes(canonical));
}

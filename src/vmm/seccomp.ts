// The vCPU thread's seccomp filter (native/seccomp.h): which host system
// calls it may make, and with which arguments. Always what its run loop and
// the emulated hypercalls need; beyond that, what the handlers of the
// hypercalls the manifest allows call on the host. A forwarded hypercall
// mostly becomes the host call of the same name; path calls go through
// openat2 on the MountPoint's fd and the *at calls on the directory found,
// a few older calls through their newer forms (listed below).
//
// A rule admits one host call when every argument check in it holds; a call
// with several rules is admitted when one of them holds. Checks compare the
// low 32 bits of an argument, which is exact for every argument checked
// here: the kernel reads each of them as a 32-bit int (an fd, a command, a
// family, a signal, open flags) or only its low bits matter (prot, mmap
// flags). Refused calls fail with EPERM.

import { HYPERCALLS } from "./hypercalls.js";
import { native } from "./native.js";
import type { Policy } from "./policy.js";
import { LINUX_SYSCALLS } from "./syscalls.js";

/**
 * Values the native side learns only when it installs the filter: the VM's
 * and the vCPU's fds, the directories the thread opened for itself
 * (native/paths.h: the MountPoint, /dev, the program's folder,
 * /proc/self/fd, every mount's root as "mounts"), the process and the
 * thread itself.
 */
export type FilterSlot = "vm" | "vcpu" | "root" | "dev" | "exe" | "procfds" | "pid" | "tid" | "mounts";
export type FilterValue = number | FilterSlot;

/** One condition on one argument (0..5), on its low 32 bits. */
export interface ArgCheck {
  readonly arg: number;
  /** The value is one of these (an empty list admits nothing). */
  readonly in?: readonly FilterValue[];
  /** The value is none of these. */
  readonly notIn?: readonly FilterValue[];
  /** None of these bits is set. */
  readonly clear?: number;
  /** All of these bits are set. */
  readonly set?: number;
}

/** A host call admitted when all of `when` holds (always, when empty); with `errno`, refused with it instead. */
export interface FilterRule {
  readonly nr: number;
  readonly name: string;
  readonly when: readonly ArgCheck[];
  readonly errno?: number;
}

// x86-64 Linux values.
const AT_FDCWD = -100;
const O_CREAT = 0o100, O_EXCL = 0o200, O_TRUNC = 0o1000, O_APPEND = 0o2000, O_TMPFILE_BIT = 0o20000000;
const PROT_EXEC = 4;
const MAP_ANONYMOUS = 0x20, MAP_FIXED = 0x10;
const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2;
const F = {
  GETFL: 3, SETFL: 4, GETLK: 5, SETLK: 6, SETLKW: 7, OFD_GETLK: 36, OFD_SETLK: 37, OFD_SETLKW: 38,
  DUPFD_CLOEXEC: 1030, SETPIPE_SZ: 1031, GETPIPE_SZ: 1032, ADD_SEALS: 1033, GET_SEALS: 1034,
};
const SIG = { ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, SEGV: 11 };
const AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
const SOL_SOCKET = 1, IPPROTO_IP = 0, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_IPV6 = 41;
const SO_ERROR = 4, SO_ATTACH_FILTER = 26, SO_ATTACH_BPF = 50, SO_ATTACH_REUSEPORT_CBPF = 51, SO_ATTACH_REUSEPORT_EBPF = 52;
const TCP_ZEROCOPY_RECEIVE = 35;
const PR_SET_NAME = 15;
const CLONE_FS = 0x200;
const ENOSYS = 38;
/** A thread, as glibc's pthread_create asks for one (and nothing that makes a process). */
const THREAD_CLONE = 0x3d0f00; // VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID
/** The terminal requests native/hypercalls/io.cc forwards (FIOCLEX and FIONCLEX are answered by the fd table). */
export const FORWARDED_IOCTLS: readonly number[] = [
  0x5401 /* TCGETS */, 0x5402 /* TCSETS */, 0x5403 /* TCSETSW */, 0x5404 /* TCSETSF */, 0x5413 /* TIOCGWINSZ */,
  0x5414 /* TIOCSWINSZ */, 0x540f /* TIOCGPGRP */, 0x541b /* FIONREAD */, 0x5421 /* FIONBIO */, 0x540b /* TCFLSH */,
  0x540a /* TCXONC */, 0x5409 /* TCSBRK */,
];

/** A host call: its name alone (any arguments), or its name and the checks that must all hold (or a function that makes one). */
type Need = string | readonly [string, ...ArgCheck[]] | (() => readonly [string, ...ArgCheck[]]);

/** Host calls refused with an errno of their own instead of EPERM. */
const REFUSED: ReadonlyArray<readonly [string, number]> = [["clone3", ENOSYS]];

/** A call whose directory fd arguments are never AT_FDCWD: it never resolves a name from the thread's cwd. */
const at = (name: string, ...dirfds: number[]): Need => [name, ...dirfds.map((arg) => ({ arg, notIn: [AT_FDCWD] }))];

// The confined lookups of native/paths.cc. openat2 only from the
// MountPoint's fd (Paths::Open, Parent, Chdir, SocketPath); openat only
// from the /dev and program folder fds, never creating or truncating (the
// shared devices, /proc/self/exe).
const OPENAT2: Need = ["openat2", { arg: 0, in: ["root", "mounts"] }];
/**
 * With mounts, Paths::Walk reads a symlink it found through the link's own
 * O_PATH fd (any fd, never the cwd: BPF cannot see that the path is "").
 */
const WALK: readonly Need[] = [["readlinkat", { arg: 0, notIn: [AT_FDCWD] }]];
const OPENAT: Need = ["openat", { arg: 0, in: ["dev", "exe"] }, { arg: 2, clear: O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_TMPFILE_BIT }];
/** Paths::Open, and the guest's own /proc files (hypercalls/procfs.cc): a sealed memfd each. */
const OPEN: readonly Need[] = [OPENAT2, OPENAT, "memfd_create", "lseek", ["fcntl", { arg: 1, in: [F.ADD_SEALS] }]];
/** Paths::Parent: the confined directory that holds a name. */
const PARENT: readonly Need[] = [OPENAT2];
/** ResolvePath (hypercalls/table.cc): Paths::Open, or a duplicate for "" and /dev/fd/N. */
const RESOLVE: readonly Need[] = [...OPEN, ["fcntl", { arg: 1, in: [F.DUPFD_CLOEXEC] }]];
/**
 * Paths::GuestPathOf: where a file the guest gets (a directory, its new cwd,
 * a file received) is, through its magic link, checked by looking the name
 * up again confined.
 */
const GUEST_PATH: readonly Need[] = [["readlinkat", { arg: 0, in: ["procfds"] }], OPENAT2];
/** Socket options that carry a pointer are never set or read (hypercalls/net.cc refuses them first). */
const SOCKOPT = (name: string): Need[] => [
  [name, { arg: 1, in: [SOL_SOCKET] }, { arg: 2, notIn: [SO_ATTACH_FILTER, SO_ATTACH_BPF, SO_ATTACH_REUSEPORT_CBPF, SO_ATTACH_REUSEPORT_EBPF] }],
  [name, { arg: 1, in: [IPPROTO_TCP] }, { arg: 2, notIn: [TCP_ZEROCOPY_RECEIVE] }],
  [name, { arg: 1, in: [IPPROTO_IP, IPPROTO_IPV6, IPPROTO_UDP] }],
];

/** The run loop, the fd table, the emulated hypercalls, tracing and the debugger: for every manifest. */
const BASE: readonly Need[] = [
  // KVM: any request on the VM's own fds (the main vCPU's first: KVM_RUN is
  // the hot path), and a vCPU's requests on any fd: the vCPUs of threads
  // the guest makes later have fds no rule can name in advance. Terminal
  // requests on other fds come with the ioctl hypercall.
  ["ioctl", { arg: 0, in: ["vcpu", "vm"] }],
  () => ["ioctl", { arg: 1, in: native().vcpuRequests() }],
  // The guest's threads (issue 11): each vCPU thread starts the next as
  // pthread_create does, so it shares this one's containment. clone only
  // with a thread's flags; clone3 (whose flags BPF cannot read) answers
  // ENOSYS, and glibc then uses clone.
  ["clone", { arg: 0, in: [THREAD_CLONE] }],
  "set_robust_list", "rseq", ["prctl", { arg: 0, in: [PR_SET_NAME] }],
  // Waiting for JavaScript and the debugger (futex); the kick signal's
  // handler returning, and a sleep restarted after SIGSTOP/SIGCONT.
  "futex", "rt_sigreturn", "rt_sigprocmask", "restart_syscall",
  // Guest memory (GuestRam::Discard, Zap, MapFile, MapShared) and the
  // addon's heap (malloc): never executable. A file is mapped only as guest
  // RAM, at a fixed place: a sealed copy the guest maps privately
  // (native/snapshot.h), made with the calls below, or the file itself
  // where the guest maps it shared, written back with msync.
  // Nothing maps code at run time.
  ["mmap", { arg: 2, clear: PROT_EXEC }, { arg: 3, set: MAP_ANONYMOUS }],
  ["mmap", { arg: 2, clear: PROT_EXEC }, { arg: 3, set: MAP_FIXED }],
  "msync",
  "memfd_create", "ftruncate", "pwrite64", ["fcntl", { arg: 1, in: [F.ADD_SEALS] }],
  ["mprotect", { arg: 2, clear: PROT_EXEC }],
  "munmap", "madvise", "brk",
  // A moving mremap moves guest RAM's pages inside its own mapping
  // (GuestRam::Move): always to a fixed place.
  ["mremap", { arg: 3, set: MREMAP_MAYMOVE | MREMAP_FIXED }],
  // Telling JavaScript: a thread-safe function's call writes to libuv's
  // eventfd at the end of every run, at debugger stops and for trace records.
  "write",
  // The fd table (closing, InstallHostFd's fstat: newfstatat(fd, "") in glibc).
  "close", "fstat", at("newfstatat", 0),
  // Emulated mmap of a file: its access mode, then a copy of its bytes.
  ["fcntl", { arg: 1, in: [F.GETFL] }], "pread64",
  // Emulated calls answered from the host: umask (the thread's own fs
  // context), randomness, uname, clocks, usage, affinity, groups.
  "umask", "getrandom", "uname", "clock_gettime", "sysinfo", "getrusage", "times", "sched_getaffinity", "getgroups",
  // Waiting interruptibly in blocking calls (HostIo); an emulated futex waits here.
  "poll", "pause", "clock_nanosleep",
  // The end of the thread. An orderly crash if the addon ever aborts or
  // faults: abort() and Node's fault handlers reset these signals' actions
  // and send them to this thread only.
  "exit", "getpid", "gettid",
  // A forked process's main thread takes its own fs context (its umask)
  // from its parent's; the chroot stays (native/processes/fork.cc).
  ["unshare", { arg: 0, in: [CLONE_FS] }],
  ["tgkill", { arg: 0, in: ["pid"] }, { arg: 1, in: ["tid"] }],
  ["rt_sigaction", { arg: 0, in: [SIG.ABRT, SIG.SEGV, SIG.BUS, SIG.FPE, SIG.ILL, SIG.TRAP] }],
];

/**
 * The host calls a hypercall's handler makes, where they are not just the
 * call of the same name with any arguments. Path calls never reach the host
 * as path calls (open, stat, mkdir...): they are confined lookups (openat2)
 * and the *at calls on the directory found, so the path forms are never
 * admitted, nor a lookup from the thread's cwd (AT_FDCWD).
 */
const HOST: Readonly<Record<string, readonly Need[]>> = {
  open: [...OPEN, ...GUEST_PATH], openat: [...OPEN, ...GUEST_PATH], creat: [...OPEN, ...GUEST_PATH],
  stat: [...RESOLVE, at("newfstatat", 0)], lstat: [...RESOLVE, at("newfstatat", 0)], newfstatat: [...RESOLVE, at("newfstatat", 0)],
  fstat: ["fstat", at("newfstatat", 0)], statx: [...RESOLVE, at("statx", 0)],
  access: [...RESOLVE, at("faccessat2", 0)], faccessat: [...RESOLVE, at("faccessat2", 0)], faccessat2: [...RESOLVE, at("faccessat2", 0)],
  statfs: [...RESOLVE, "fstatfs"],
  getxattr: RESOLVE, lgetxattr: RESOLVE, listxattr: RESOLVE, llistxattr: RESOLVE,
  setxattr: RESOLVE, lsetxattr: RESOLVE, removexattr: RESOLVE, lremovexattr: RESOLVE,
  fgetxattr: [], flistxattr: [], fsetxattr: [], fremovexattr: [],
  mkdir: [...PARENT, at("mkdirat", 0)], mkdirat: [...PARENT, at("mkdirat", 0)],
  mknod: [...PARENT, at("mknodat", 0)], mknodat: [...PARENT, at("mknodat", 0)],
  unlink: [...PARENT, at("unlinkat", 0)], unlinkat: [...PARENT, at("unlinkat", 0)], rmdir: [...PARENT, at("unlinkat", 0)],
  // glibc's renameat2 may call renameat when flags are 0.
  rename: [...PARENT, at("renameat", 0, 2), at("renameat2", 0, 2)],
  renameat: [...PARENT, at("renameat", 0, 2), at("renameat2", 0, 2)],
  renameat2: [...PARENT, at("renameat", 0, 2), at("renameat2", 0, 2)],
  // Following a symlink links the file found through its magic link.
  link: [...PARENT, ...RESOLVE, at("linkat", 0, 2)], linkat: [...PARENT, ...RESOLVE, at("linkat", 0, 2)],
  symlink: [...PARENT, at("symlinkat", 1)], symlinkat: [...PARENT, at("symlinkat", 1)],
  readlink: [...RESOLVE, at("readlinkat", 0)], readlinkat: [...RESOLVE, at("readlinkat", 0)],
  chmod: [...RESOLVE, at("newfstatat", 0), at("fchmodat", 0)], fchmodat: [...RESOLVE, at("newfstatat", 0), at("fchmodat", 0)],
  chown: [...RESOLVE, at("fchownat", 0)], lchown: [...RESOLVE, at("fchownat", 0)], fchownat: [...RESOLVE, at("fchownat", 0)],
  // futimens(fd) is utimensat(fd, NULL).
  utime: [...PARENT, ...RESOLVE, at("utimensat", 0)], utimes: [...PARENT, ...RESOLVE, at("utimensat", 0)],
  futimesat: [...PARENT, ...RESOLVE, at("utimensat", 0)], utimensat: [...PARENT, ...RESOLVE, at("utimensat", 0)],
  truncate: [...OPEN, "ftruncate"], chdir: [...GUEST_PATH], fchdir: [], getcwd: [],
  // sync(2) is syncfs of the MountPoint.
  sync: [OPENAT2, "syncfs"],
  getdents: ["getdents"], getdents64: ["getdents64"],
  // The fd table answers these without the host.
  dup: [], dup2: [], dup3: [], close_range: [],
  fcntl: [["fcntl", { arg: 1, in: [F.GETFL, F.SETFL, F.GETLK, F.SETLK, F.SETLKW, F.OFD_GETLK, F.OFD_SETLK, F.OFD_SETLKW, F.GETPIPE_SZ, F.SETPIPE_SZ, F.GET_SEALS, F.ADD_SEALS] }]],
  ioctl: [["ioctl", { arg: 1, in: FORWARDED_IOCTLS }]],
  pipe: ["pipe2"], eventfd: ["eventfd2"], epoll_create: ["epoll_create1"],
  epoll_wait: ["epoll_wait"], epoll_pwait: ["epoll_wait"], epoll_pwait2: ["epoll_pwait2", "epoll_wait"],
  select: ["ppoll"], pselect6: ["ppoll"],
  nanosleep: ["clock_nanosleep"], time: ["time", "clock_gettime"], gettimeofday: ["gettimeofday", "clock_gettime"],
  sendfile: ["sendfile"],
  socket: [["socket", { arg: 0, in: [AF_UNIX, AF_INET, AF_INET6] }]],
  socketpair: [["socketpair", { arg: 0, in: [AF_UNIX] }]],
  accept: ["accept4"],
  // Unix socket names are found confined; a blocking connect waits for its outcome.
  bind: [...PARENT, "bind"], connect: [...PARENT, "connect", ["getsockopt", { arg: 1, in: [SOL_SOCKET] }, { arg: 2, in: [SO_ERROR] }]],
  sendto: [...PARENT, "sendto"], sendmsg: [...PARENT, "sendmsg"], sendmmsg: [...PARENT, "sendmsg"],
  // Descriptors received (SCM_RIGHTS) join the fd table, directories with their path.
  // What a memfd holds is checked before each write into it: where it
  // writes, and its holes (native/memfds.h); memfds come from these.
  recvmsg: ["recvmsg", ...GUEST_PATH, "lseek"], recvmmsg: ["recvmsg", ...GUEST_PATH, "lseek"],
  memfd_create: ["memfd_create", "lseek"],
  setsockopt: SOCKOPT("setsockopt"), getsockopt: SOCKOPT("getsockopt"),
};

function nrOf(name: string): number {
  const nr = LINUX_SYSCALLS.get(name);
  if (nr === undefined) throw new Error(`seccomp: ${name} is not an x86-64 system call`);
  return nr;
}

/** The filter for a policy: rules sorted by number; a call admitted with any arguments has that one rule only. */
export function hostFilter(policy: Policy, options: { mounts?: boolean } = {}): FilterRule[] {
  const needs: Need[] = [...BASE];
  for (const h of HYPERCALLS) {
    if (h.kind !== "forwarded" || !policy.allows(h.nr)) continue;
    needs.push(...(HOST[h.name] ?? [h.name]));
  }
  if (options.mounts && needs.includes(OPENAT2)) needs.push(...WALK);
  const byName = new Map<string, Map<string, ArgCheck[]>>();
  for (const need of needs) {
    const [name, ...when] = typeof need === "string" ? [need] : typeof need === "function" ? need() : need;
    const rules = byName.get(name) ?? new Map<string, ArgCheck[]>();
    rules.set(JSON.stringify(when), when);
    byName.set(name, rules);
  }
  const out: FilterRule[] = [];
  for (const [name, rules] of byName) {
    const nr = nrOf(name);
    const list = [...rules.values()];
    if (list.some((when) => when.length === 0)) out.push({ nr, name, when: [] });
    else for (const when of list) out.push({ nr, name, when });
  }
  for (const [name, errno] of REFUSED) out.push({ nr: nrOf(name), name, when: [], errno });
  return out.sort((a, b) => a.nr - b.nr);
}

/** The host system call numbers a policy admits (with or without argument checks), sorted. */
export function hostSyscalls(policy: Policy): number[] {
  return [...new Set(hostFilter(policy).filter((r) => r.errno === undefined).map((r) => r.nr))];
}

// Which host system calls the vCPU thread may make (native/seccomp.h): what
// its run loop needs, plus what the handlers of the hypercalls the manifest
// allows call on the host. A forwarded hypercall mostly becomes the host
// call of the same name; path calls go through openat2 and the *at calls,
// a few older calls through their newer forms (listed below).

import { HYPERCALLS } from "./hypercalls.js";
import type { Policy } from "./policy.js";
import { LINUX_SYSCALLS } from "./syscalls.js";

/** The run loop, the fd table, the emulated hypercalls, tracing and the debugger. */
const BASE = [
  // KVM (ioctl is limited to the VM's fds and terminal requests), waiting
  // for JavaScript, signals that kick the thread, memory of the guest and
  // of the addon.
  "ioctl", "futex", "sched_yield", "rt_sigreturn", "rt_sigprocmask", "restart_syscall",
  "mmap", "munmap", "mremap", "madvise", "mprotect", "brk",
  // Telling JavaScript (an eventfd), the guest's fd table, emulated calls.
  "write", "close", "fcntl", "dup", "dup3", "newfstatat", "fstat", "getrandom", "uname", "clock_gettime",
  "gettimeofday", "getpid", "gettid", "getppid", "sysinfo", "getrusage", "times", "sched_getaffinity",
  // Emulated calls answered by the host: umask (the thread's own fs
  // context), and the copy of a file the guest maps (mmap is emulated).
  "umask", "pread64",
  // Confined lookups; the shared devices and /proc/self/exe; magic links.
  "openat2", "openat", "readlinkat",
  // Waiting interruptibly in blocking calls; an emulated futex waits here.
  "poll", "ppoll", "pause", "clock_nanosleep", "getgroups",
  // The end of the thread, and an orderly crash if the addon ever aborts.
  "exit", "tgkill", "rt_sigaction",
];

/**
 * The host calls a hypercall's handler makes, where they are not just the
 * call of the same name. Path calls never reach the host as path calls
 * (open, stat, mkdir...): they are confined lookups (openat2) and the *at
 * calls on the directory found, so the path forms are never admitted.
 */
const HOST: Readonly<Record<string, readonly string[]>> = {
  open: ["openat2"], openat: ["openat2"], creat: ["openat2"],
  stat: ["openat2", "newfstatat", "statx"], lstat: ["openat2", "newfstatat", "statx"], fstat: ["newfstatat"],
  newfstatat: ["openat2", "newfstatat", "statx"], statx: ["openat2", "statx", "newfstatat"],
  access: ["openat2", "faccessat2", "faccessat"], faccessat: ["openat2", "faccessat2", "faccessat"], faccessat2: ["openat2", "faccessat2", "faccessat"],
  statfs: ["openat2", "fstatfs"], getdents: ["getdents64", "getdents"], getdents64: ["getdents64", "getdents"],
  mkdir: ["openat2", "mkdirat"], mkdirat: ["openat2", "mkdirat"], mknod: ["openat2", "mknodat"], mknodat: ["openat2", "mknodat"],
  unlink: ["openat2", "unlinkat"], unlinkat: ["openat2", "unlinkat"], rmdir: ["openat2", "unlinkat"],
  rename: ["openat2", "renameat", "renameat2"], renameat: ["openat2", "renameat", "renameat2"], renameat2: ["openat2", "renameat", "renameat2"],
  link: ["openat2", "linkat"], linkat: ["openat2", "linkat"], symlink: ["openat2", "symlinkat"], symlinkat: ["openat2", "symlinkat"],
  readlink: ["openat2", "readlinkat"], readlinkat: ["openat2", "readlinkat"],
  chmod: ["openat2", "fchmodat"], fchmodat: ["openat2", "fchmodat"], chown: ["openat2", "fchownat"], lchown: ["openat2", "fchownat"],
  fchownat: ["openat2", "fchownat"], utime: ["openat2", "utimensat"], utimes: ["openat2", "utimensat"],
  futimesat: ["openat2", "utimensat"], utimensat: ["openat2", "utimensat"], truncate: ["openat2", "ftruncate"],
  chdir: ["openat2"], fchdir: [], getcwd: [],
  pipe: ["pipe2"], eventfd: ["eventfd2"], epoll_create: ["epoll_create1"], dup2: ["dup3", "dup2"],
  // select and pselect6 wait with ppoll; the epoll waits without a timeout
  // (epoll_pwait2's included) with epoll_wait.
  accept: ["accept4"], select: ["pselect6", "ppoll"], pselect6: ["ppoll"], epoll_wait: ["epoll_wait", "epoll_pwait"],
  epoll_pwait: ["epoll_wait", "epoll_pwait"], epoll_pwait2: ["epoll_pwait2", "epoll_wait"],
  // time() falls back to the time syscall where the vDSO has none.
  nanosleep: ["clock_nanosleep", "nanosleep"], time: ["time", "clock_gettime"], gettimeofday: ["gettimeofday", "clock_gettime"],
  // sync(2) is syncfs of the MountPoint, found confined.
  sync: ["openat2", "syncfs"],
  sendmmsg: ["openat2", "sendmsg", "sendmmsg"], recvmmsg: ["recvmsg", "recvmmsg"],
  sendfile: ["sendfile", "read", "write"], copy_file_range: ["copy_file_range", "read", "write"],
  // Unix socket names are found confined; a blocking connect reads its outcome (SO_ERROR).
  bind: ["openat2", "bind"], connect: ["openat2", "connect", "getsockopt"], sendto: ["openat2", "sendto"], sendmsg: ["openat2", "sendmsg"],
  memfd_create: ["memfd_create"],
};

/** The host system call numbers for a policy, sorted. */
export function hostSyscalls(policy: Policy): number[] {
  const names = new Set(BASE);
  for (const h of HYPERCALLS) {
    if (h.kind !== "forwarded" || !policy.allows(h.nr)) continue;
    for (const n of HOST[h.name] ?? [h.name]) names.add(n);
  }
  const numbers = [...names].map((n) => {
    const nr = LINUX_SYSCALLS.get(n);
    if (nr === undefined) throw new Error(`seccomp: ${n} is not an x86-64 system call`);
    return nr;
  });
  return numbers.sort((a, b) => a - b);
}

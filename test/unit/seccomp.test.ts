// The vCPU thread's seccomp filter: which host calls a manifest admits, and
// that a thread under the filter really is refused the rest, down to the
// arguments (native/seccomp.cc installs the rules of src/vmm/seccomp.ts on
// a scratch thread and makes the calls there).
import assert from "node:assert/strict";
import { closeSync } from "node:fs";
import { test, type TestContext } from "node:test";
import { Policy } from "../../src/vmm/policy.js";
import { hostFilter, hostSyscalls } from "../../src/vmm/seccomp.js";
import { native, type ProbeArg } from "../../src/vmm/native.js";
import { LINUX_SYSCALLS } from "../../src/vmm/syscalls.js";

const names = (nrs: number[]) => {
  const byNr = new Map([...LINUX_SYSCALLS].map(([n, nr]) => [nr, n]));
  return new Set(nrs.map((nr) => byNr.get(nr)!));
};
const allow = (...entries: string[]) => new Policy(entries.map((name) => ({ name, allowed: true })));

const EPERM = -1, ENOENT = -2, EBADF = -9, EINVAL = -22, ENOTTY = -25, ENOTSOCK = -88;
const AT_FDCWD = -100;
const AT_FDCWD_ZERO_EXTENDED = 0xffffff9c; // the same int to the kernel, with a zero high half
const O_DIRECTORY = 0o200000, O_CLOEXEC = 0o2000000, O_PATH = 0o10000000, O_CREAT = 0o100, O_WRONLY = 1, O_TRUNC = 0o1000;
const AT_EMPTY_PATH = 0x1000;
const PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;
const F_DUPFD = 0, F_GETFL = 3, F_SETFL = 4, F_SETOWN = 8, F_SETSIG = 10, F_SETLEASE = 1024, F_NOTIFY = 1026, F_DUPFD_CLOEXEC = 1030;
const SIGABRT = 6, SIGUSR1 = 10, SIGSEGV = 11;
const TCGETS = 0x5401, TIOCSTI = 0x5412;

/** struct open_how { flags, mode, resolve } for openat2, with RESOLVE_IN_ROOT. */
function openHow(flags: number): { bytes: Uint8Array } {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(BigInt(flags), 0);
  b.writeBigUInt64LE(0x10n /* RESOLVE_IN_ROOT */, 16);
  return { bytes: b };
}

type Call = [name: string, ...args: ProbeArg[]];

/**
 * The results (value or -errno) of the calls on a thread filtered for
 * `policy`; null (the test skipped) where seccomp cannot be installed.
 * Descriptors the calls at the indices in `fds` open are closed after.
 */
function probe(t: TestContext, policy: Policy, calls: Call[], fds: number[] = []): number[] | null {
  const p = native().probeSeccomp(
    hostFilter(policy),
    calls.map(([name, ...args]) => {
      const nr = LINUX_SYSCALLS.get(name);
      assert.ok(nr !== undefined, name);
      return { nr, args };
    }),
  );
  if (p.installed) {
    t.skip(`no seccomp here: ${p.installed}`);
    return null;
  }
  for (const i of fds) if (p.results[i] >= 0) closeSync(p.results[i]);
  return p.results;
}

/** Asserts each result: a number is the exact result, "ok" any success. */
function expect(results: number[], calls: Call[], want: Array<number | "ok">): void {
  want.forEach((w, i) => {
    const what = `${calls[i][0]}(${calls[i].slice(1).map((a) => (typeof a === "object" ? JSON.stringify(a).slice(0, 30) : String(a))).join(", ")})`;
    if (w === "ok") assert.ok(results[i] >= 0, `${what}: ${results[i]}, want success`);
    else assert.equal(results[i], w, what);
  });
}

test("path forms of system calls are never admitted, whatever the manifest allows", () => {
  const all = names(hostSyscalls(new Policy([{ name: "*", allowed: true }])));
  for (const path of ["open", "stat", "lstat", "access", "mkdir", "unlink", "rename", "link", "symlink", "chmod", "chown", "chdir", "chroot", "execve"])
    assert.ok(!all.has(path), `${path} admitted`);
  for (const never of ["fork", "vfork", "clone3", "ptrace", "mount", "setns", "bpf", "init_module", "process_vm_readv", "kill"])
    assert.ok(!all.has(never), `${never} admitted`);
  // unshare only as a forked guest process's main thread calls it: a copy
  // of its own fs context (CLONE_FS), never a namespace.
  assert.deepEqual(hostFilter(new Policy([{ name: "*", allowed: true }])).filter((r) => r.name === "unshare").map((r) => r.when), [[{ arg: 0, in: [0x200] }]]);
  // clone only makes a thread (for the guest's threads, started by one
  // another): exactly pthread_create's flags, never a process; clone3,
  // whose flags the filter cannot read, answers ENOSYS so that libc uses clone.
  const filter = hostFilter(new Policy([{ name: "*", allowed: true }]));
  assert.deepEqual(filter.filter((r) => r.name === "clone").map((r) => r.when), [[{ arg: 0, in: [0x3d0f00] }]]);
  assert.deepEqual(filter.filter((r) => r.name === "clone3").map((r) => r.errno), [38]);
  // The fd table answers dup, dup2, dup3 and F_DUPFD: none of them reaches the host.
  for (const never of ["dup", "dup2", "dup3"]) assert.ok(!all.has(never), `${never} admitted`);
  assert.ok(all.has("openat2"));
});

test("a host call is admitted only when an allowed hypercall needs it", () => {
  const io = names(hostSyscalls(new Policy([{ name: "@basic-io", allowed: true }])));
  assert.ok(!io.has("socket") && !io.has("connect") && !io.has("sendto"));
  const net = names(hostSyscalls(new Policy([{ name: "@basic-io", allowed: true }, { name: "@network", allowed: true }])));
  assert.ok(net.has("socket") && net.has("connect"));
  // Emulated hypercalls and the run loop need no manifest entry.
  const none = names(hostSyscalls(new Policy([])));
  assert.ok(none.has("ioctl") && none.has("futex") && !none.has("read") && !none.has("socket"));
  // Lookups come with the path hypercalls only.
  for (const lookup of ["openat2", "openat", "readlinkat"]) {
    assert.ok(!none.has(lookup), `${lookup} admitted with no hypercall allowed`);
    assert.ok(!io.has(lookup), `${lookup} admitted for @basic-io`);
  }
  // Emulated calls that do reach the host: umask (the thread's own), and
  // pread64 to copy a file the guest maps (mmap is emulated, always allowed).
  assert.ok(none.has("umask") && none.has("pread64"));
  // Calls the handlers make on the host for them.
  const has = (policy: string, call: string) => names(hostSyscalls(allow(policy))).has(call);
  assert.ok(has("sync", "openat2") && has("sync", "syncfs") && !has("sync", "sync"));
  assert.ok(has("epoll_pwait2", "epoll_wait") && has("epoll_pwait", "epoll_wait") && has("pselect6", "ppoll"));
  assert.ok(has("sendmmsg", "openat2") && has("connect", "getsockopt"));
});

test("lookups never start from the thread's cwd: AT_FDCWD is refused in every *at call, both ways it can be passed", (t) => {
  const calls: Call[] = [
    ["openat", AT_FDCWD, { str: "/" }, O_DIRECTORY | O_CLOEXEC],
    ["openat", AT_FDCWD_ZERO_EXTENDED, { str: "/" }, O_DIRECTORY | O_CLOEXEC],
    ["openat2", AT_FDCWD, { str: "/" }, openHow(O_PATH | O_CLOEXEC), 24],
    ["openat2", AT_FDCWD_ZERO_EXTENDED, { str: "/" }, openHow(O_PATH | O_CLOEXEC), 24],
    ["readlinkat", AT_FDCWD, { str: "/proc/self/exe" }, { buf: 4096 }, 4096],
    ["readlinkat", AT_FDCWD_ZERO_EXTENDED, { str: "/proc/self/exe" }, { buf: 4096 }, 4096],
    ["newfstatat", AT_FDCWD, { str: "/" }, { buf: 256 }, 0],
    ["statx", AT_FDCWD, { str: "/" }, 0, 0x7ff, { buf: 256 }],
    ["faccessat2", AT_FDCWD, { str: "/" }, 0, 0],
    ["mkdirat", AT_FDCWD, { str: "" }, 0o700],
    ["unlinkat", AT_FDCWD, { str: "" }, 0],
    ["renameat2", "other", { str: "" }, AT_FDCWD, { str: "" }, 0],
    ["linkat", "other", { str: "" }, AT_FDCWD, { str: "" }, 0],
    ["symlinkat", { str: "x" }, AT_FDCWD, { str: "" }],
    ["fchmodat", AT_FDCWD, { str: "" }, 0o600],
    ["utimensat", AT_FDCWD, { str: "" }, 0, 0],
    // What the handlers do: lookups from the MountPoint's fd, the devices
    // from /dev's, a directory's path through /proc/self/fd, fstat.
    ["openat2", "root", { str: "." }, openHow(O_PATH | O_CLOEXEC), 24],
    ["openat", "dev", { str: "null" }, O_CLOEXEC],
    ["readlinkat", "procfds", { str: "0" }, { buf: 4096 }, 4096],
    ["newfstatat", "root", { str: "" }, { buf: 256 }, AT_EMPTY_PATH],
    // ...and only from those: not openat2 from /dev, nor openat from the root.
    ["openat2", "dev", { str: "null" }, openHow(O_CLOEXEC), 24],
    ["openat", "root", { str: "." }, O_PATH | O_CLOEXEC],
    // openat never creates or truncates (it opens devices and the program).
    ["openat", "dev", { str: "null" }, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600],
    ["openat", "dev", { str: "null" }, O_WRONLY | O_TRUNC | O_CLOEXEC],
  ];
  const r = probe(t, Policy.allowAll(), calls, [0, 1, 2, 3, 16, 17, 20, 21, 22, 23]);
  if (!r) return;
  expect(r, calls, [
    ...Array(16).fill(EPERM),
    "ok", "ok", r[18] === ENOENT ? ENOENT : "ok", 0,
    EPERM, EPERM, EPERM, EPERM,
  ]);
});

test("a manifest with no path hypercalls gets no lookup at all", (t) => {
  const calls: Call[] = [
    ["openat2", "root", { str: "." }, openHow(O_PATH | O_CLOEXEC), 24],
    ["openat", "dev", { str: "null" }, O_CLOEXEC],
    ["readlinkat", "procfds", { str: "0" }, { buf: 4096 }, 4096],
    ["fcntl", "other", F_DUPFD_CLOEXEC, 3],
  ];
  // (@network has path names too: unix sockets are found with openat2.)
  for (const policy of [new Policy([]), allow("@basic-io"), allow("@basic-io", "@io-event", "@time", "@ipc")]) {
    const r = probe(t, policy, calls, [0, 1, 3]);
    if (!r) return;
    expect(r, calls, [EPERM, EPERM, EPERM, EPERM]);
  }
  // A path hypercall brings what its handler uses: open installs
  // directories with their path (readlinkat), stat duplicates the fd that
  // "" or /dev/fd/N names (F_DUPFD_CLOEXEC).
  const open = probe(t, allow("open"), calls, [0, 1, 3]);
  if (open) expect(open, calls, ["ok", "ok", open[2] === ENOENT ? ENOENT : "ok", EPERM]);
  const stat = probe(t, allow("stat"), calls, [0, 1, 3]);
  if (stat) expect(stat, calls, ["ok", "ok", EPERM, "ok"]);
});

test("fcntl only with the commands the handlers use", (t) => {
  const calls: Call[] = [
    ["fcntl", "other", F_SETOWN, 0],
    ["fcntl", "other", F_SETSIG, 0],
    ["fcntl", "other", F_SETLEASE, 0],
    ["fcntl", "other", F_NOTIFY, 0],
    ["fcntl", "other", F_DUPFD, 3],
    ["fcntl", "other", F_GETFL],
    ["fcntl", "other", F_SETFL, 0],
    ["fcntl", "other", F_DUPFD_CLOEXEC, 3],
  ];
  const r = probe(t, Policy.allowAll(), calls, [4, 7]);
  if (r) expect(r, calls, [EPERM, EPERM, EPERM, EPERM, EPERM, "ok", 0, "ok"]);
  // With no hypercall allowed: only F_GETFL, for the emulated mmap of a file.
  const none = probe(t, new Policy([]), calls, [4, 7]);
  if (none) expect(none, calls, [EPERM, EPERM, EPERM, EPERM, EPERM, "ok", EPERM, EPERM]);
});

test("signals go only to the vCPU thread itself, and only crash signals' actions change", (t) => {
  const calls: Call[] = [
    ["tgkill", "pid", "tid", 0],
    ["tgkill", "pid", process.pid, 0], // the process's main thread
    ["tgkill", process.ppid, process.ppid, 0], // another process
    ["rt_sigaction", SIGABRT, 0, { buf: 32 }, 8],
    ["rt_sigaction", SIGSEGV, 0, { buf: 32 }, 8],
    ["rt_sigaction", SIGUSR1, 0, { buf: 32 }, 8],
    ["kill", "pid", 0],
  ];
  const r = probe(t, Policy.allowAll(), calls);
  if (r) expect(r, calls, [0, EPERM, EPERM, 0, 0, EPERM, EPERM]);
});

test("memory the thread maps is never executable, a file only at a fixed place (over guest RAM), and it remaps only to a fixed place", (t) => {
  const MREMAP_MAYMOVE = 1, MREMAP_FIXED = 2, MAP_SHARED = 1, MAP_FIXED = 0x10;
  const calls: Call[] = [
    ["mmap", 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0],
    ["mmap", 0, 4096, PROT_READ, MAP_PRIVATE, "other", 0],
    ["mmap", 0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, "other", 0],
    ["mmap", 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, "other", 0],
    ["mprotect", 0, 0, PROT_READ | PROT_EXEC],
    ["mremap", 0, 0, 0, 0, 0],
    ["mremap", 0, 0, 0, MREMAP_MAYMOVE, 0],
    // GuestRam::Move's form: admitted (then EINVAL for these addresses).
    ["mremap", 0, 0, 0, MREMAP_MAYMOVE | MREMAP_FIXED, 0],
    ["mprotect", 0, 0, PROT_READ | PROT_WRITE],
    ["mmap", 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0],
  ];
  const r = probe(t, Policy.allowAll(), calls);
  if (r) expect(r, calls, [EPERM, EPERM, EPERM, EPERM, EPERM, EPERM, EPERM, EINVAL, 0, "ok"]);
});

test("sockets: only the families torov forwards, and no option that carries a pointer", (t) => {
  const SOL_SOCKET = 1, SO_REUSEADDR = 2, SO_ATTACH_FILTER = 26, SO_ATTACH_BPF = 50, IPPROTO_TCP = 6, TCP_NODELAY = 1, TCP_ZEROCOPY_RECEIVE = 35, SOL_PACKET = 263;
  const calls: Call[] = [
    ["socket", 16 /* AF_NETLINK */, 2 /* SOCK_DGRAM */, 0],
    ["socket", 17 /* AF_PACKET */, 3 /* SOCK_RAW */, 0],
    ["socketpair", 2 /* AF_INET */, 1, 0, { buf: 8 }],
    ["setsockopt", "other", SOL_SOCKET, SO_ATTACH_FILTER, { buf: 16 }, 16],
    ["setsockopt", "other", SOL_SOCKET, SO_ATTACH_BPF, { buf: 4 }, 4],
    ["getsockopt", "other", IPPROTO_TCP, TCP_ZEROCOPY_RECEIVE, { buf: 64 }, { bytes: new Uint8Array([64, 0, 0, 0]) }],
    ["setsockopt", "other", SOL_PACKET, 1, { buf: 4 }, 4],
    ["socket", 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0],
    ["setsockopt", "other", SOL_SOCKET, SO_REUSEADDR, { buf: 4 }, 4],
    ["getsockopt", "other", IPPROTO_TCP, TCP_NODELAY, { buf: 4 }, { bytes: new Uint8Array([4, 0, 0, 0]) }],
  ];
  const r = probe(t, allow("@network"), calls, [0, 1, 7]);
  if (r) expect(r, calls, [EPERM, EPERM, EPERM, EPERM, EPERM, EPERM, EPERM, "ok", ENOTSOCK, ENOTSOCK]);
  const none = probe(t, allow("@basic-io"), calls.slice(7, 8), [0]);
  if (none) expect(none, calls.slice(7, 8), [EPERM]);
});

test("ioctl: any request on the VM's fds; on others, terminal requests only when the ioctl hypercall is allowed", (t) => {
  const calls: Call[] = [
    ["ioctl", "vcpu", TIOCSTI, { buf: 1 }],
    ["ioctl", "vm", TIOCSTI, { buf: 1 }],
    ["ioctl", "other", TCGETS, { buf: 64 }],
    ["ioctl", "other", TIOCSTI, { buf: 1 }],
  ];
  // The stand-ins for the VM's fds are /dev/null: admitted, then no tty.
  const none = probe(t, new Policy([]), calls);
  if (none) expect(none, calls, [ENOTTY, ENOTTY, EPERM, EPERM]);
  const ioctl = probe(t, allow("ioctl"), calls);
  if (ioctl) expect(ioctl, calls, [ENOTTY, ENOTTY, ENOTTY, EPERM]);
});

test("a thread under the filter is refused a host call outside it", (t) => {
  const calls: Call[] = [
    ["socket", 2, 1, 0],
    ["open", { str: "/" }, O_DIRECTORY],
    ["dup", "other"],
    ["dup3", "other", "other", 0],
    ["getpid"],
    ["close", 987654],
  ];
  const r = probe(t, allow("@basic-io"), calls, [2]);
  if (r) expect(r, calls, [EPERM, EPERM, EPERM, EPERM, process.pid, EBADF]);
});

test("the filter for everything installs, and its checks keep to the rules' shape", (t) => {
  const rules = hostFilter(Policy.allowAll());
  for (const r of rules) {
    for (const c of r.when) {
      assert.ok(c.arg >= 0 && c.arg <= 5, `${r.name}: argument ${c.arg}`);
      assert.equal([c.in, c.notIn, c.clear, c.set].filter((x) => x !== undefined).length, 1, `${r.name}: one kind per check`);
    }
  }
  // Numbers with a rule that has no check have that rule only.
  for (const nr of new Set(rules.map((r) => r.nr))) {
    const mine = rules.filter((r) => r.nr === nr);
    if (mine.some((r) => r.when.length === 0)) assert.equal(mine.length, 1, mine[0].name);
  }
  const r = probe(t, Policy.allowAll(), [["getpid"]]);
  if (r) assert.equal(r[0], process.pid);
  // A filter that would leave the scratch thread no way to end is not tried.
  assert.match(native().probeSeccomp([{ nr: 39, name: "getpid", when: [] }], [{ nr: 39, args: [] }]).installed, /does not admit exit/);
  assert.throws(() => native().probeSeccomp([{ nr: 2, name: "open", when: [{ arg: 7, in: [1] }] }], []), /0\.\.5/);
  assert.throws(() => native().probeSeccomp([{ nr: 2, name: "open", when: [{ arg: 0, in: ["nowhere" as "vm"] }] }], []), /slot/);
});

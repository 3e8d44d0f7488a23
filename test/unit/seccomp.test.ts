// The vCPU thread's seccomp filter: which host calls a manifest admits, and
// that a thread under the filter really is refused the rest.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Policy } from "../../src/vmm/policy.js";
import { hostSyscalls } from "../../src/vmm/seccomp.js";
import { native } from "../../src/vmm/native.js";
import { LINUX_SYSCALLS } from "../../src/vmm/syscalls.js";

const names = (nrs: number[]) => {
  const byNr = new Map([...LINUX_SYSCALLS].map(([n, nr]) => [nr, n]));
  return new Set(nrs.map((nr) => byNr.get(nr)!));
};

test("path forms of system calls are never admitted, whatever the manifest allows", () => {
  const all = names(hostSyscalls(new Policy([{ name: "*", allowed: true }])));
  for (const path of ["open", "stat", "lstat", "access", "mkdir", "unlink", "rename", "link", "symlink", "chmod", "chown", "chdir", "chroot", "execve"])
    assert.ok(!all.has(path), `${path} admitted`);
  for (const never of ["fork", "vfork", "clone", "clone3", "ptrace", "mount", "unshare", "setns", "bpf", "init_module", "process_vm_readv", "kill"])
    assert.ok(!all.has(never), `${never} admitted`);
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
  // Emulated calls that do reach the host: umask (the thread's own), and
  // pread64 to copy a file the guest maps (mmap is emulated, always allowed).
  assert.ok(none.has("umask") && none.has("pread64"));
  // Calls the handlers make on the host for them.
  const has = (name: string, call: string) => names(hostSyscalls(new Policy([{ name, allowed: true }]))).has(call);
  assert.ok(has("sync", "openat2") && has("sync", "syncfs") && !has("sync", "sync"));
  assert.ok(has("epoll_pwait2", "epoll_wait") && has("epoll_pwait", "epoll_wait") && has("pselect6", "ppoll"));
  assert.ok(has("sendmmsg", "openat2") && has("connect", "getsockopt"));
});

test("a thread under the filter is refused a host call outside it", (t) => {
  const admitted = hostSyscalls(new Policy([{ name: "@basic-io", allowed: true }]));
  const p = native().probeSeccomp(admitted);
  if (p.installed) return t.skip(`no seccomp here: ${p.installed}`);
  assert.equal(p.socket, 1 /* EPERM */, "socket(2)");
  assert.equal(p.open, 1 /* EPERM */, "open(2)");
  assert.equal(p.ioctl, 1 /* EPERM */, "ioctl TIOCSTI");
  assert.equal(p.getpid, 0, "getpid(2) is admitted");
  assert.equal(p.tcgets, 25 /* ENOTTY: admitted, then /dev/null is no tty */, "ioctl TCGETS");
});

// A guest that tries everything a sandbox must refuse (test/guests/hostile.c):
// every attempt gets the answer Linux would give a process without that
// right, nothing reaches the host, and the monitor keeps its memory bounded
// by the manifest's Memory and survives to report.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { guest, reportLines, runUntil, tempDir, variants, writeManifest } from "../helpers.js";

/** Every line the guest prints but the memory ones, as it must print them. */
const EXPECTED: Record<string, string | RegExp> = {
  "write len wraps the address space": "EFAULT",
  "write from the top of the address space": "EFAULT",
  "read len far past the buffer": "EFAULT",
  "writev lengths sum past SSIZE_MAX": "EFAULT",
  "writev iovcnt past IOV_MAX": "EINVAL",
  "pread negative offset": "EINVAL",
  "poll nfds huge": "EINVAL",
  // Linux clamps nfds to its table and reads the sets: bits for closed fds are EBADF.
  "select nfds past FD_SETSIZE": /^(EBADF|ok 0)$/,
  "connect (denied) with sockaddr len huge": "EPERM", // the policy: denied before its arguments are read
  // The address checks of allowed calls, as Linux answers them.
  "sendto sockaddr len huge": "EINVAL",
  "bind sockaddr len huge": "EINVAL",
  "sendto sockaddr len 1": "EINVAL",
  "sendmsg a cmsg length past the buffer's end": "EINVAL",
  // Valid: its 28 fds include the second header's bytes, fd 128 among them.
  "sendmsg a cmsg as long as the buffer": "EBADF",
  "sendmsg a cmsg length shorter than its header": "EINVAL",
  "mmap len huge": "ENOMEM",
  "mmap fixed over the runtime": "EPERM",
  "mprotect the runtime": "ENOMEM",
  "munmap the runtime": "EINVAL",
  "mremap len huge": "EINVAL",
  "open a path longer than PATH_MAX": "ENAMETOOLONG",
  "ioctl KVM_GET_API_VERSION on stdin": "ENOTTY",
  "ioctl KVM_CREATE_VM on stdout": "ENOTTY",
  "ioctl KVM_RUN on stderr": "ENOTTY",
  "ioctl TIOCSTI (type into the terminal)": "ENOTTY",
  "open /dev/kvm": "ENOENT",
  // Processes are the guest's own (test/e2e/fork.test.ts): each child a VM.
  fork: "a child, reaped",
  vfork: "a child, reaped",
  clone: "a child, reaped",
  clone3: "a child, reaped",
  execve: "ENOSYS",
  "ptrace attach to pid 1": "ENOSYS",
  "process_vm_readv pid 1": "ENOSYS",
  mount: "ENOSYS",
  chroot: "ENOSYS",
  unshare: "ENOSYS",
  setns: "ENOSYS",
  bpf: "ENOSYS",
  init_module: "ENOSYS",
  reboot: "ENOSYS",
  "kill -1 (everyone)": "ESRCH",
  "tgkill another thread": "ESRCH",
  "rt_sigaction SIGKILL": "EINVAL",
  "close a monitor-range fd": "EBADF",
  // connect is denied in the manifest: the socket is made, the connection never.
  socket: /^ok \d+$/,
  "connect to the host": "EPERM",
};

interface Status {
  [key: string]: string;
}
const status = (path: string): Status =>
  Object.fromEntries(
    readFileSync(path, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1).trim()]),
  );
const kib = (v: string) => Number(v.replace(/ kB$/, ""));

interface Seen {
  lines: Map<string, string>;
  stdout: string;
  stderr: string;
  code: number | null;
  hwmKiB: number;
  threads: Status[];
  roots: string[];
  root: string;
}

/** Runs the hostile guest with `memory` MiB, reads the monitor while the guest waits, then lets it finish. */
async function runHostile(binary: string, memory: number, newpid: boolean, port: number): Promise<Seen> {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const manifest = writeManifest(dir, {
    binary: guest(binary),
    args: ["connect", String(port)],
    hypercalls: [{ Name: "*", Allowed: true }, { Name: "connect", Allowed: false }],
    extra: { Memory: memory, Newpid: newpid },
  });
  const { child, output, exited } = await runUntil(manifest, /^alive$/m);
  // The guest now blocks reading stdin: the monitor holds all it was given.
  const pid = child.pid!;
  let hwmKiB = NaN;
  const threads: Status[] = [];
  const roots: string[] = [];
  try {
    hwmKiB = kib(status(`/proc/${pid}/status`).VmHWM);
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // A thread that ends while the list is read (one of Node's, one of
      // KVM's) must not cost the others.
      try {
        const t = status(`/proc/${pid}/task/${tid}/status`);
        const root = readlinkSync(`/proc/${pid}/task/${tid}/root`);
        threads.push(t);
        roots.push(root);
      } catch {
        continue;
      }
    }
  } catch {
    // gone already: the assertions below say what was missing
  }
  child.stdin.end("x");
  const [code] = await exited;
  const { stdout, stderr } = output;
  const lines = reportLines(stdout);
  return { lines, stdout, stderr, code: code as number | null, hwmKiB, threads, roots, root: realpathSync(join(dir, "root")) };
}

test("a hostile guest is refused everything, reaches nothing, and stays within its Memory", async () => {
  const server = createServer((s) => {
    connections++;
    s.destroy();
  });
  let connections = 0;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as { port: number }).port;
  try {
    for (const binary of variants("hostile")) {
      const [small, large] = await Promise.all([runHostile(binary, 64, true, port), runHostile(binary, 192, false, port)]);
      // Newpid: the guest is pid 1 in a namespace that holds nothing else.
      assert.equal(small.lines.get("getpid"), "ok 1");
      assert.equal(small.lines.get("kill another process"), "ESRCH");
      assert.equal(small.lines.get("kill another process group"), "ESRCH");
      // Without: it sees host pids but may signal none of them.
      assert.notEqual(large.lines.get("getpid"), "ok 1");
      assert.equal(large.lines.get("kill another process"), "EPERM");
      assert.equal(large.lines.get("kill another process group"), "EPERM");
      for (const seen of [small, large]) {
        assert.equal(seen.code, 0, `${binary}: ${seen.stderr}`);
        for (const [what, want] of Object.entries(EXPECTED)) {
          const got = seen.lines.get(what);
          if (typeof want === "string") assert.equal(got, want, `${binary}: ${what}`);
          else assert.match(got ?? "(missing)", want, `${binary}: ${what}`);
        }
        assert.equal(seen.lines.get("descriptors 3..65535 open"), "0", binary);
        // Memory exhaustion: ENOMEM, never a crash of guest or monitor.
        assert.match(seen.lines.get("mmap until refused") ?? "", /^ENOMEM after \d+ MiB$/, binary);
        assert.match(seen.lines.get("brk until refused") ?? "", /^ENOMEM \(\d+ MiB more\)$/, binary);
        // The layers, as /proc shows them: one thread (the vCPU) under a
        // seccomp filter with no_new_privs, the main thread free; as root,
        // the vCPU thread chrooted to the MountPoint.
        // (KVM's own worker, kvm-nx-lpage-recovery, is forked from the
        // vCPU thread and inherits all of it.)
        const vcpu = seen.threads.findIndex((t) => t.Name === "torov-vcpu");
        assert.ok(vcpu > 0, `${binary}: no torov-vcpu thread among ${seen.threads.map((t) => t.Name).join(", ") || "(none read)"}`);
        assert.equal(seen.threads[vcpu].Seccomp, "2", `${binary}: the vCPU thread's seccomp mode`);
        assert.equal(seen.threads[vcpu].NoNewPrivs, "1");
        const filtered = seen.threads.filter((t) => t.Seccomp !== "0").map((t) => t.Name);
        assert.deepEqual(filtered.filter((n) => !n.startsWith("kvm-")), ["torov-vcpu"], `${binary}: threads under seccomp`);
        assert.equal(seen.threads[0].Seccomp, "0", "the main thread keeps its freedom");
        if (process.getuid?.() === 0) {
          assert.equal(seen.roots[vcpu], seen.root, `${binary}: the vCPU thread's root`);
          assert.equal(seen.roots[0], "/", "the main thread's root");
        }
      }
      // What the guest got is bounded by Memory: it got less than it asked,
      // and 128 MiB more Memory costs the monitor about 128 MiB more.
      const mib = (s: Seen) => Number(/after (\d+) MiB/.exec(s.lines.get("mmap until refused")!)![1]);
      assert.ok(mib(small) < 64, `${binary}: ${mib(small)} MiB mapped with Memory 64`);
      assert.ok(mib(large) > mib(small) + 100, `${binary}: ${mib(large)} MiB mapped with Memory 192`);
      const grew = (large.hwmKiB - small.hwmKiB) / 1024;
      assert.ok(grew > 96 && grew < 160, `${binary}: the monitor's peak RSS grew ${grew.toFixed(0)} MiB for 128 MiB more Memory`);
    }
    assert.equal(connections, 0, "a denied connect reached the host");
    // The vCPU thread's mount namespace went with it: nothing left mounted.
    assert.doesNotMatch(readFileSync("/proc/self/mountinfo", "utf8"), /torov-test-/);
  } finally {
    server.close();
  }
});

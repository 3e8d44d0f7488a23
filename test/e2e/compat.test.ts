// Programs print byte for byte what they print natively and exit with the
// same status, built with glibc, musl and as static-pie.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, tempDir, torov, variants, writeManifest } from "../helpers.js";

/** Runs `name` under torov (in a fresh MountPoint) and natively (in a fresh cwd). */
function both(name: string, args: string[], opts: { env?: Record<string, string>; input?: string } = {}) {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const manifest = writeManifest(dir, { binary: guest(name), env: opts.env });
  const vm = torov(["run", manifest, ...args], { input: opts.input });
  const cwd = tempDir();
  const host = native(guest(name), args, { cwd, env: opts.env, input: opts.input });
  return { vm, host };
}

for (const v of variants("args")) {
  test(`${v}: argv, environment, auxv and exit status`, () => {
    const { vm, host } = both(v, ["42", "two words", ""], { env: { FOO: "bar", EMPTY: "" } });
    // AT_EXECFN is the path given to execve: the full path natively.
    const noExecfn = (s: string) => s.replace(/^execfn=.*\n/m, "");
    assert.equal(noExecfn(vm.stdout), noExecfn(host.stdout));
    assert.match(vm.stdout, new RegExp(`^execfn=${v.replace(".", "\\.")}$`, "m"));
    assert.equal(vm.status, 42);
    assert.equal(host.status, 42);
    assert.match(vm.stdout, /^argc=4\nargv\[0\]=args.*\nargv\[1\]=42\nargv\[2\]=two words\nargv\[3\]=\nenv FOO=bar\nenv EMPTY=\npagesz=4096\n/);
  });
}

for (const v of variants("libc")) {
  test(`${v}: a tour of libc matches the native run`, () => {
    const { vm, host } = both(v, [], { env: { TOROV_TEST: "yes" } });
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.stderr, host.stderr);
    assert.equal(vm.status, 0, vm.stdout);
    assert.match(vm.stdout, /failures=0\n/);
  });
}

for (const v of variants("net")) {
  test(`${v}: sockets (TCP, UDP, socketpair with SCM_RIGHTS, Unix) match the native run`, () => {
    const { vm, host } = both(v, []);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.status, 0, vm.stdout);
  });
}

for (const v of variants("signals")) {
  test(`${v}: signals it sends itself reach its handlers as natively, then the last one ends it`, () => {
    const { vm, host } = both(v, []);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(host.status, 128 + 12);
    assert.equal(vm.status, 128 + 12, vm.stderr);
    assert.match(vm.stdout, /^raise: code=SI_TKILL pid_ok=1 keep=1\n/);
    assert.match(vm.stdout, /^unblocked: hits=3$/m);
    assert.match(vm.stdout, /^onstack: 1$/m);
    assert.match(vm.stdout, /^resethand: handler is SIG_DFL=1$/m);
    assert.equal(vm.stderr, `torov: ${v} killed by SIGUSR2 (it sent the signal to itself)\n`);
  });
}

for (const v of variants("emulated")) {
  test(`${v}: emulated calls answered by the host (umask, a file mapping's copy) work when the manifest allows only printing and opening`, () => {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    writeFileSync(join(dir, "root", "data"), "sixteen bytes ok");
    const hypercalls = ["write", "writev", "open", "openat"].map((Name) => ({ Name }));
    const vm = torov(["run", writeManifest(dir, { binary: guest(v), hypercalls })]);
    const cwd = tempDir();
    writeFileSync(join(cwd, "data"), "sixteen bytes ok");
    const host = native(guest(v), [], { cwd });
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.status, 0, vm.stdout + vm.stderr);
    assert.match(vm.stdout, /^umask: 0[0-7]{2} then 027\nmapped: sixteen bytes ok\n$/);
  });
}

for (const v of variants("pointers")) {
  test(`${v}: bad pointers get EFAULT, as natively`, () => {
    const { vm, host } = both(v, [], { input: "0123456789abcdefghij" });
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.status, 0);
    assert.match(vm.stdout, /write\(hypercall page\) +Bad address\n/);
  });
}

for (const v of variants("remap")) {
  test(`${v}: pages of the program replaced, regrown, dropped or moved read as natively`, () => {
    const { vm, host } = both(v, []);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(
      vm.stdout,
      [
        "before: 1 9",
        "after MAP_FIXED: 1 0",
        "after munmap+mmap: 0",
        "mremap shrink+grow: kept 7, new 0",
        "MADV_DONTNEED on the program's data: 5",
        "moved by mremap: there, reads 5",
        "MADV_DONTNEED on the moved page: 5",
        "MADV_DONTNEED on anonymous memory: 0",
        "16 MiB moved and grown: there, 16777215 bytes kept, last 1, new 0",
        "",
      ].join("\n"),
    );
    assert.equal(vm.status, 0);
  });
}

for (const v of variants("events")) {
  test(`${v}: epoll, eventfd, timerfd, memfd, splice, tee, copy_file_range, mmsg match the native run`, () => {
    const { vm, host } = both(v, []);
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.status, 0, vm.stdout);
    assert.match(vm.stdout, /^epoll: 2 ready, data 3333\n/);
  });
}

for (const v of variants("answers")) {
  test(`${v}: what torov answers itself is what Linux answers a process a shell started`, () => {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    const vm = torov(["run", writeManifest(dir, { binary: guest(v) })]);
    assert.equal(vm.status, 0, vm.stderr);
    assert.equal(
      vm.stdout,
      [
        "poll with a closed fd and a ready one: ok 2",
        "their revents: POLLNVAL POLLIN",
        "epoll_wait for up to 5000 events: ok 1",
        "its event's data: intact",
        "utimensat /dev/null/x: ENOTDIR",
        "open /dev/null/x: ENOTDIR",
        "mkdir /dev/zero/x: ENOTDIR",
        "stat /proc/self/exe/x: ENOTDIR",
        "setpgid(0, 0): ok 0",
        "setpgid(0, getpid()): ok 0",
        "setpgid into another group: EPERM",
        "setpgid of another process: ESRCH",
        "setsid: EPERM",
        "getpgrp is its pid: ok 1",
        "getsid(0) is not its pid: ok 1",
        "setuid(its uid): ok 0",
        "setuid(another uid): EPERM",
        "setresuid(-1, -1, -1): ok 0",
        "setresuid(its uid x3): ok 0",
        "setreuid(another uid, -1): EPERM",
        "setgid(its gid): ok 0",
        "setresgid(another gid, -1, -1): EPERM",
        "setgroups: EPERM",
        "getuid unchanged: ok 1",
        "",
      ].join("\n"),
    );
  });
}

// torov trace against strace, the oracle: the same static program, run
// natively under strace and as a VM under torov trace, must give the same
// lines for the calls strace users read most, and the same -c counts.
// Then --json, denied calls, the flags, torov profile and the debugger's
// monitor trace.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, tempDir, torov, variants, writeManifest } from "../helpers.js";
import { debugManifest, gdbBatch, startDebug } from "./debugger.js";

const hasStrace = spawnSync("strace", ["-V"]).status === 0;
const LISTED = "open,openat,read,write,readv,writev,lseek,close,dup,pipe,pipe2,mkdir,rmdir,unlink,rename,ftruncate,exit_group";
// static-pie programs show addresses that differ between a native run and
// the VM (a failed read shows its buffer's address): compare fixed-address builds.
const programs = variants("tracee").filter((v) => !v.endsWith(".pie"));

/** strace's lines, or torov's, with runs of spaces as one (the column padding). */
const lines = (text: string) =>
  text
    .split("\n")
    .filter(Boolean)
    .map((l) => l.replace(/ +/g, " "));

/** A fresh folder for a native run and one for the VM, with nothing in them. */
function setUp(program: string, hypercalls = [{ Name: "*", Allowed: true }]) {
  const dir = tempDir();
  const nativeDir = join(dir, "native");
  mkdirSync(nativeDir);
  mkdirSync(join(dir, "root"));
  const manifest = writeManifest(dir, { binary: guest(program), hypercalls });
  return { dir, nativeDir, manifest };
}

function straceRun(program: string, cwd: string, args: string[]): string {
  const out = join(cwd, "..", "strace.txt");
  const r = spawnSync("strace", ["-o", out, ...args, guest(program)], { cwd, encoding: "utf8" });
  assert.equal(r.status, 3, r.stderr);
  return readFileSync(out, "utf8");
}

for (const program of programs) {
  test(`${program}: torov trace prints the lines strace prints for ${LISTED.split(",").length} calls`, { skip: !hasStrace && "strace is not installed" }, () => {
    const { dir, nativeDir, manifest } = setUp(program);
    const expected = straceRun(program, nativeDir, ["-e", `trace=${LISTED}`]);
    const r = torov(["trace", "-e", `trace=${LISTED}`, "-o", join(dir, "torov.txt"), manifest]);
    assert.equal(r.status, 3, r.stderr);
    const got = readFileSync(join(dir, "torov.txt"), "utf8");
    assert.deepEqual(lines(got), lines(expected));
    // Not a vacuous comparison: failures, truncation, binary data, iovecs.
    assert.match(got, /unlink\("nope"\) += -1 ENOENT \(No such file or directory\)/);
    assert.match(got, /"\.\.\., 68\) += 68/);
    assert.match(got, /readv\(3, \[\{iov_base="llo", iov_len=3\}/);
    assert.match(got, /^\+\+\+ exited with 3 \+\+\+$/m);
  });

  test(`${program}: -c counts the same calls and errors as strace -c`, { skip: !hasStrace && "strace is not installed" }, () => {
    const { dir, nativeDir, manifest } = setUp(program);
    const expected = table(straceRun(program, nativeDir, ["-c"]));
    const r = torov(["trace", "-c", "-o", join(dir, "torov.txt"), manifest]);
    assert.equal(r.status, 3, r.stderr);
    const got = table(readFileSync(join(dir, "torov.txt"), "utf8"));
    expected.delete("execve"); // the VM starts without one
    got.delete("total");
    expected.delete("total");
    assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));
    // The program's own calls are in it, failures counted.
    assert.deepEqual(got.get("close"), [4, 0]);
    assert.deepEqual(got.get("unlink"), [2, 1]);
  });
}

/** strace -c's table: syscall -> [calls, errors]. */
function table(text: string): Map<string, [number, number]> {
  const rows = new Map<string, [number, number]>();
  const body = text.split("\n").filter((l) => /^\s*\d+\.\d+\s/.test(l));
  for (const l of body) {
    const f = l.trim().split(/\s+/);
    // % time, seconds, usecs/call, calls, [errors], syscall
    rows.set(f[f.length - 1], [Number(f[3]), f.length === 6 ? Number(f[4]) : 0]);
  }
  assert.ok(rows.size > 3, `a -c table:\n${text}`);
  return rows;
}

test("--json: one object per call with its decoded arguments, result and errno", () => {
  const { dir, manifest } = setUp("tracee");
  const r = torov(["trace", "--json", "-e", "openat,unlink,exit_group", "-o", join(dir, "t.json"), manifest]);
  assert.equal(r.status, 3, r.stderr);
  const calls = readFileSync(join(dir, "t.json"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(calls.map((c) => c.name), ["openat", "unlink", "unlink", "exit_group"]);
  const [openat, moved, nope, exit] = calls;
  assert.deepEqual(openat.args, ["AT_FDCWD", '"data.txt"', "O_RDONLY|O_CLOEXEC"]);
  assert.equal(openat.ret, 3);
  assert.equal(openat.errno, null);
  assert.equal(moved.ret, 0);
  assert.deepEqual([nope.ret, nope.errno], [-1, "ENOENT"]);
  assert.equal(exit.ret, null);
  for (const c of calls) {
    assert.equal(typeof c.seq, "number");
    assert.equal(typeof c.dur_ns, "number");
    assert.equal(c.denied, false);
    assert.ok(!Number.isNaN(Date.parse(c.ts)), c.ts);
  }
  assert.ok(calls[0].seq < calls[1].seq);
});

test("a hypercall the manifest denies is traced with <denied>, and never reached the host", () => {
  const { dir, manifest } = setUp("tracee", [{ Name: "@basic-io", Allowed: true }, { Name: "@ipc", Allowed: true }, { Name: "open", Allowed: true }, { Name: "openat", Allowed: true }]);
  const r = torov(["trace", "-e", "mkdir,open", manifest]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stderr, /^mkdir\("dir", 0750\) += -1 EPERM \(Operation not permitted\) <denied>$/m);
  assert.match(r.stderr, /^open\("data\.txt", O_WRONLY\|O_CREAT\|O_TRUNC, 0644\) += 3$/m);
  assert.doesNotMatch(r.stderr, /^open.*<denied>/m);
  assert.equal(spawnSync("test", ["-e", join(dir, "root", "dir")]).status, 1, "the directory was not made");
});

for (const program of variants("signals").filter((v) => !v.endsWith(".pie"))) {
  test(`${program}: delivered signals and rt_sigreturn are traced as strace shows them`, { skip: !hasStrace && "strace is not installed" }, () => {
    const { dir, nativeDir, manifest } = setUp(program);
    const calls = "trace=kill,tgkill,rt_sigreturn,rt_sigprocmask";
    const out = join(dir, "strace.txt");
    spawnSync("strace", ["-o", out, "-e", calls, guest(program)], { cwd: nativeDir });
    const r = torov(["trace", "-e", calls, "-o", join(dir, "torov.txt"), manifest]);
    assert.equal(r.status, 128 + 12, r.stderr);
    // The pids differ: the guest's is torov's.
    const pids = (text: string) => lines(text).map((l) => l.replace(/\b\d{2,}\b(?=[,)])|si_pid=\d+/g, (m) => (m.startsWith("si_pid") ? "si_pid=PID" : "PID")));
    const got = readFileSync(join(dir, "torov.txt"), "utf8");
    assert.deepEqual(pids(got), pids(readFileSync(out, "utf8")));
    assert.match(got, /^--- SIGUSR1 \{si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=\d+, si_uid=\d+\} ---$/m);
    assert.match(got, /^rt_sigreturn\(\{mask=\[\]\}\) += 0$/m);
    assert.match(got, /^\+\+\+ killed by SIGUSR2 \+\+\+$/m);
  });
}

test("as with strace, everything after the manifest is the program's, options included", () => {
  const { manifest } = setUp("args");
  const r = torov(["trace", "-e", "exit_group", manifest, "3", "-c", "-o", "x"]);
  assert.equal(r.status, 3, r.stderr);
  assert.match(r.stdout, /^argv\[1\]=3\nargv\[2\]=-c\nargv\[3\]=-o\nargv\[4\]=x$/m);
  assert.match(r.stderr, /^exit_group\(3\) += \?$/m, "the trace went to stderr: -o was not torov's");
  const dashes = torov(["trace", "-e", "exit_group", manifest, "--", "4", "--"]);
  assert.equal(dashes.status, 4, dashes.stderr);
  assert.match(dashes.stdout, /^argc=3\nargv\[0\]=args\nargv\[1\]=4\nargv\[2\]=--$/m, "one leading -- is torov's, the rest the program's");
});

test("-s, -T, -tt and -ttt change the lines as in strace", () => {
  const { manifest } = setUp("tracee");
  const short = torov(["trace", "-s", "5", "-e", "write", manifest]);
  assert.match(short.stderr, /^write\(3, "hello"\.\.\., 68\) += 68$/m);
  const timed = torov(["trace", "-tt", "-T", "-e", "close", manifest]);
  assert.match(timed.stderr, /^\d\d:\d\d:\d\d\.\d{6} close\(3\) += 0 <\d+\.\d{6}>$/m);
  assert.match(timed.stderr, /^\d\d:\d\d:\d\d\.\d{6} \+\+\+ exited with 3 \+\+\+$/m);
  const epoch = torov(["trace", "-ttt", "-e", "dup", manifest]);
  assert.match(epoch.stderr, /^\d{10}\.\d{6} dup\(1\) += 4$/m);
  const both = torov(["trace", "-C", "-e", "rmdir", manifest]);
  assert.match(both.stderr, /^rmdir\("dir"\) += 0$/m);
  assert.match(both.stderr, /^100\.00 +[\d.]+ +\d+ +1 +rmdir$/m);
  assert.match(both.stderr, / total$/m);
});

test("bad trace options are one line naming the option", () => {
  const { manifest } = setUp("tracee");
  for (const [args, message] of [
    [["-e", "wrtie"], /-e: "wrtie" is not a Linux system call \(did you mean "write"\?\)/],
    [["-e", "trace=@flie"], /-e: unknown group "@flie"/],
    [["-e", "signal=all"], /only "trace=" expressions/],
    [["-s", "many"], /-s: "many" is not a string length/],
    [["-o", "/nonexistent/dir/t.txt"], /-o \/nonexistent\/dir\/t\.txt: no such file or directory/],
  ] as const) {
    const r = torov(["trace", ...args, manifest]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

test("torov profile writes a manifest that allows exactly what the run used, and it reruns the same", () => {
  // The input denies write: a profile runs with everything allowed anyway.
  const { dir, manifest } = setUp("tracee", [{ Name: "write", Allowed: false }]);
  const input = JSON.parse(readFileSync(manifest, "utf8"));
  input.Env = { LANG: "C" }; // the output keeps everything but Hypercalls
  writeFileSync(manifest, JSON.stringify(input));
  mkdirSync(join(dir, "profiles"));
  const out = join(dir, "profiles", "tracee.json");
  const p = torov(["profile", manifest, "-o", out]);
  assert.equal(p.status, 3, p.stderr);
  const profiled = JSON.parse(readFileSync(out, "utf8"));
  for (const h of profiled.Hypercalls) assert.equal(h.Allowed, true);
  const names = profiled.Hypercalls.map((h: { Name: string }) => h.Name);
  // Exactly the forwarded calls tracee makes: not readlink, which glibc
  // uses only on /proc/self/exe (always answered), nor the emulated brk,
  // mprotect, getrandom...
  assert.deepEqual(names, ["close", "dup", "ftruncate", "lseek", "mkdir", "open", "openat", "pipe", "pipe2", "read", "readv", "rename", "rmdir", "unlink", "write", "writev"]);
  assert.match(p.stderr, /16 forwarded hypercalls allowed: close dup/);
  assert.deepEqual(profiled.Env, { LANG: "C" });
  assert.equal(profiled.Binary, guest("tracee"));
  assert.equal(profiled.MountPoint, join("..", "root"), "rewritten to name the same folder from profiles/");
  // The profiled manifest reproduces the profiled run: the same calls with
  // the same results as with everything allowed, nothing denied.
  const open = setUp("tracee");
  const expected = torov(["trace", open.manifest]);
  const rerun = torov(["trace", out]);
  assert.equal(rerun.status, 3);
  assert.equal(rerun.stdout, expected.stdout);
  const calls = (text: string) => lines(text).filter((l) => !/^(set_tid_address|getrandom|brk|arch_prctl|set_robust_list|rseq|mprotect)\(/.test(l));
  assert.deepEqual(calls(rerun.stderr), calls(expected.stderr));
  assert.doesNotMatch(rerun.stderr, /<denied>/);
});

test("torov profile --merge unions earlier profiles; a manifest with groups is not a profile", () => {
  const { dir, manifest } = setUp("tracee");
  const earlier = join(dir, "earlier.json");
  writeFileSync(earlier, JSON.stringify({ Binary: guest("tracee"), MountPoint: "root", Hypercalls: [{ Name: "socket", Allowed: "True" }] }));
  const out = join(dir, "merged.json");
  const r = torov(["profile", manifest, "-o", out, "--merge", earlier]);
  assert.equal(r.status, 3, r.stderr);
  const names = JSON.parse(readFileSync(out, "utf8")).Hypercalls.map((h: { Name: string }) => h.Name);
  assert.ok(names.includes("socket") && names.includes("openat"));
  assert.deepEqual(names, [...names].sort());
  const bad = torov(["profile", manifest, "-o", out, "--merge", manifest]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--merge .*: not a profile \(Hypercalls has "\*"/);
  const missing = torov(["profile", manifest]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /-o FILE is required/);
});

test("monitor trace on|off: hypercall lines while debugging", { skip: spawnSync("gdb", ["--version"]).status !== 0 && "gdb is not installed" }, async () => {
  const d = await startDebug(debugManifest("tracee"));
  // The first lseek comes after both writes and before any close.
  const r = gdbBatch(d.port, ["monitor trace on -e write,close -s 8", "catch syscall lseek", "continue", "monitor trace off", "delete", "continue"]);
  assert.match(r.output, /hypercall trace on/);
  assert.match(r.output, /hypercall trace off/);
  const end = await d.done;
  assert.match(end.stderr, /^write\(3, "hello, w"\.\.\., 68\) += 68$/m);
  assert.match(end.stderr, /^write\(3, "\\0\\1\\2\\377bin", 7\) += 7$/m);
  assert.doesNotMatch(end.stderr, /close\(/, "off before the first close");
});

// ---- threads (issue 11): torov trace against strace -f

const THREAD_CALLS = "write,getpid,gettid,nanosleep,sched_yield,tgkill,clone,clone3,exit,exit_group,set_robust_list,rseq";

/**
 * strace -f's stderr as whole lines: its own "Process N attached" out (it
 * may come in the middle of a line), and each "<unfinished ...>" joined to
 * its "<... resumed>": where that one is (torov prints a call when it
 * ends), but for clone and clone3, where the line started (strace lets the
 * new thread run before the clone's end, or not: torov shows the clone
 * first).
 */
function straceWhole(text: string): string {
  const out: string[] = [];
  const started = new Map<string, { pid: string; head: string; slot?: number }>();
  for (const l of text.replace(/strace: Process \d+ attached\n/g, "").split("\n")) {
    const pid = /^(\[pid +\d+\] )?/.exec(l)![0];
    const unfinished = /^(.*?) ?<unfinished \.\.\.>$/.exec(l);
    if (unfinished) {
      const head = unfinished[1].slice(pid.length);
      const name = /^\w+/.exec(head)![0];
      const clone = name === "clone" || name === "clone3";
      started.set(`${pid}${name}`, { pid, head, slot: clone ? out.push("") - 1 : undefined });
      continue;
    }
    const resumed = /^(\[pid +\d+\] )?<\.\.\. (\w+) resumed>(.*)$/.exec(l);
    if (resumed) {
      // A line started while one process was left has no prefix.
      const key = started.has(`${pid}${resumed[2]}`) ? `${pid}${resumed[2]}` : resumed[2];
      const s = started.get(key);
      assert.ok(s, `no start for ${l}`);
      started.delete(key);
      if (s.slot !== undefined) out[s.slot] = s.pid + s.head + resumed[3];
      else out.push(pid + s.head + resumed[3]);
      continue;
    }
    out.push(l);
  }
  return out.join("\n");
}

/**
 * Lines to compare: spaces as one, addresses as ADDR, and each thread id
 * (prefixes, clone's results, getpid's) as T0, T1... in the order each
 * first appears.
 */
function threadLines(text: string): string[] {
  const tids = new Set<string>();
  for (const m of text.matchAll(/^\[pid +(\d+)\]|^(?:\[pid +\d+\] )?(?:clone3?|getpid|gettid)\(.*\) += (\d+)$/gm)) tids.add(m[1] ?? m[2]);
  const order = [...text.matchAll(/\b\d+\b/g)].map((m) => m[0]).filter((n) => tids.has(n));
  const names = new Map([...new Set(order)].map((n, i) => [n, `T${i}`]));
  return lines(text.replace(/\b\d+\b/g, (n) => names.get(n) ?? n).replace(/0x[0-9a-f]{5,}/g, "ADDR"));
}

for (const program of variants("tracethreads").filter((v) => !v.endsWith(".pie"))) {
  test(`${program}: torov trace shows threads as strace -f does`, { skip: !hasStrace && "strace is not installed" }, () => {
    const { dir, nativeDir, manifest } = setUp(program);
    // strace -f writes "[pid N] " to stderr (with -o, "N " on every line).
    const native = spawnSync("strace", ["-f", "-e", `trace=${THREAD_CALLS}`, guest(program)], { cwd: nativeDir, encoding: "utf8" });
    assert.equal(native.status, 4, native.stderr);
    const r = torov(["trace", "-e", `trace=${THREAD_CALLS}`, "-o", join(dir, "torov.txt"), manifest]);
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stdout, native.stdout);
    const got = readFileSync(join(dir, "torov.txt"), "utf8");
    assert.deepEqual(threadLines(got), threadLines(straceWhole(native.stderr)));
    // Not vacuous: the workers' lines are prefixed, main's are not once
    // they are gone, each worker ends with its own line, clone is decoded.
    assert.match(got, /^\[pid +\d+\] write\(1, "A: hello\\n", 9\) += 9$/m);
    assert.match(got, /^\[pid +\d+\] tgkill\(\d+, \d+, 0\) += 0$/m);
    assert.match(got, /^\[pid +\d+\] exit\(0\) += \?\n\[pid +\d+\] \+\+\+ exited with 0 \+\+\+$/m);
    assert.match(got, /^write\(1, "main: end\\n", 10\) += 10\nexit_group\(4\) += \?\n\+\+\+ exited with 4 \+\+\+\n$/m);
    assert.match(got, program.endsWith(".musl") ? /^clone\(child_stack=0x[0-9a-f]+, flags=CLONE_VM\|.*, parent_tid=\[(\d+)\], tls=0x[0-9a-f]+, child_tidptr=0x[0-9a-f]+\) = \1$/m : /^clone3\(\{flags=CLONE_VM\|.*\} => \{parent_tid=\[(\d+)\]\}, 88\) = \1$/m);
    // strace's columns: the prefix counts; a short call's "=" is in column 40.
    for (const l of got.split("\n")) {
      const m = /^(.*?\)) += /.exec(l);
      if (m && m[1].length < 39) assert.equal(l.indexOf(" = "), 39, l);
    }
  });

  test(`${program}: -c counts every thread's calls, as strace -f -c`, { skip: !hasStrace && "strace is not installed" }, () => {
    const { dir, nativeDir, manifest } = setUp(program);
    const out = join(dir, "strace.txt");
    const native = spawnSync("strace", ["-f", "-c", "-o", out, guest(program)], { cwd: nativeDir, encoding: "utf8" });
    assert.equal(native.status, 4, native.stderr);
    const expected = table(readFileSync(out, "utf8"));
    const r = torov(["trace", "-c", "-o", join(dir, "torov.txt"), manifest]);
    assert.equal(r.status, 4, r.stderr);
    const got = table(readFileSync(join(dir, "torov.txt"), "utf8"));
    // How often pthread_join waits on a futex depends on timing; whether
    // glibc trims the arena it maps for worker A (pthread_exit allocates)
    // with one munmap or two depends on where the kernel put it (natively,
    // at random); the VM starts without execve.
    for (const t of [got, expected]) for (const name of ["total", "futex", "munmap", "execve"]) t.delete(name);
    assert.deepEqual(Object.fromEntries(got), Object.fromEntries(expected));
    // The workers' own calls are counted: main writes twice, each worker once.
    assert.deepEqual(got.get("write"), [4, 0]);
    assert.deepEqual(got.get("nanosleep"), [2, 0]);
  });
}

test("--json: each call names its thread", () => {
  const { dir, manifest } = setUp("tracethreads");
  const r = torov(["trace", "--json", "-e", "write,gettid", "-o", join(dir, "t.json"), manifest]);
  assert.equal(r.status, 4, r.stderr);
  const calls = readFileSync(join(dir, "t.json"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(calls.map((c) => c.name), ["write", "write", "gettid", "write", "gettid", "write"], "no clone or exit: -e leaves them out");
  const [main, a, aTid, b, bTid, end] = calls;
  assert.equal(main.tid, end.tid);
  assert.equal(a.tid, aTid.ret);
  assert.equal(b.tid, bTid.ret);
  assert.equal(new Set([main.tid, a.tid, b.tid]).size, 3);
});

test("torov profile allows what any thread used: a call made only in a worker", () => {
  const { dir, manifest } = setUp("tracethreads");
  const out = join(dir, "profile.json");
  const p = torov(["profile", manifest, "-o", out]);
  assert.equal(p.status, 4, p.stderr);
  const names = JSON.parse(readFileSync(out, "utf8")).Hypercalls.map((h: { Name: string }) => h.Name);
  // nanosleep: only the workers call it (main sleeps with clock_nanosleep).
  assert.ok(names.includes("nanosleep"), names.join(" "));
  assert.ok(names.includes("clock_nanosleep") && names.includes("write"), names.join(" "));
  const rerun = torov(["run", out]);
  assert.equal(rerun.status, 4, rerun.stderr);
  assert.equal(rerun.stdout, "main: start\nA: hello\nB: hello\nmain: end\n");
});

test("monitor trace: threads' lines carry strace -f's prefix there too", { skip: spawnSync("gdb", ["--version"]).status !== 0 && "gdb is not installed" }, async () => {
  const d = await startDebug(debugManifest("tracethreads"));
  const r = gdbBatch(d.port, ["monitor trace on -e write,exit_group", "continue"]);
  assert.match(r.output, /hypercall trace on/);
  const end = await d.done;
  assert.match(end.stderr, /^write\(1, "main: start\\n", 12\) += 12$/m);
  assert.match(end.stderr, /^\[pid +\d+\] write\(1, "A: hello\\n", 9\) += 9$/m);
  assert.match(end.stderr, /^\[pid +\d+\] \+\+\+ exited with 0 \+\+\+$/m, "a worker's end, though -e leaves exit out");
  assert.match(end.stderr, /^write\(1, "main: end\\n", 10\) += 10\nexit_group\(4\) += \?$/m);
});

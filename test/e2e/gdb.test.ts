// Real GDB against `torov debug`, scripted (gdb -batch) as a user would type
// it. Nothing is given to GDB locally: it reads the program from the target.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { guest, native, scaled, tempDir } from "../helpers.js";
import { debugManifest, gdbBatch, hasGdb, REMOTE_TIMEOUT, startDebug, startGdbserver } from "./debugger.js";

const skip = !hasGdb() && "gdb is not installed";

test("a bare `target remote` finds the program and its symbols, stopped at _start", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["info symbol $pc", "p $pc == _start", "info registers cs ss"]);
  assert.match(r.output, /Reading symbols from target:.*debugme/);
  assert.match(r.output, /_start in section \.text/);
  assert.match(r.output, /\$1 = 1/);
  assert.match(r.output, /cs +0x33 +51\nss +0x2b +43/);
  const end = await d.done;
  assert.equal(end.status, 137, "gdb -batch kills the program when it quits");
});

test("breakpoints, backtrace, finish, info args, structs, locals", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, [
    "break area",
    "continue",
    "bt",
    "info args",
    "print a",
    "print b.label",
    "finish",
    "next",
    "info locals",
    "print total",
    "print scale * 2",
    "continue",
  ]);
  assert.match(r.output, /Breakpoint 1, area \(a=\.\.\., b=\.\.\.\) at .*debugme\.c:\d+/);
  assert.match(r.output, /#0 +area \(a=\.\.\., b=\.\.\.\) at .*\n#1 +0x[0-9a-f]+ in main \(argc=1, argv=0x[0-9a-f]+\)/);
  assert.match(r.output, /a = {\s*x = 1,\s*y = 2,\s*label = 0x[0-9a-f]+ "origin"\s*}/);
  assert.match(r.output, /\$1 = {x = 1, y = 2, label = 0x[0-9a-f]+ "origin"}/);
  assert.match(r.output, /\$2 = 0x[0-9a-f]+ "corner"/);
  assert.match(r.output, /in main \(argc=1, argv=0x[0-9a-f]+\) at .*debugme\.c:\d+\n\d+\s+int total = area\(origin, corner\);\nValue returned is \$3 = 15/);
  assert.match(r.output, /\$4 = 15/);
  assert.match(r.output, /\$5 = 5/);
  assert.match(r.output, /\[Inferior 1 \(process \d+\) exited with code 01\]/);
  const end = await d.done;
  assert.equal(end.status, 1);
  assert.equal(end.stdout, "checkpoint\ntotal=15 counter=6 scale=2.5\n");
});

test("stepi over `syscall` runs the hypercall and stops at the next instruction", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  // Find write's syscall instruction, stop on it, and step over it.
  const r = gdbBatch(d.port, [
    "catch syscall write",
    "continue",
    "delete",
    "p/x $pc - 2",
    "x/2bx $pc - 2",
    "kill",
  ]);
  const at = /\$1 = (0x[0-9a-f]+)/.exec(r.output)?.[1];
  assert.ok(at, r.output);
  assert.match(r.output, /0x0f\s+0x05/, "the catchpoint stops just after a syscall instruction");
  await d.done;
  const e = await startDebug(debugManifest("debugme"));
  const s = gdbBatch(e.port, [`break *${at}`, "continue", "delete", "p/x $pc", "stepi", "p/x $pc", "info registers eflags", "stepi", "p/x $pc", "continue"]);
  const pcs = [...s.output.matchAll(/^\$\d+ = 0x([0-9a-f]+)$/gm)].map((m) => parseInt(m[1], 16));
  assert.deepEqual(pcs.slice(0, 2), [parseInt(at, 16), parseInt(at, 16) + 2], s.output);
  assert.ok(pcs[2] > pcs[1] && pcs[2] - pcs[1] < 16, "and one instruction further");
  assert.doesNotMatch(s.output, /eflags +0x[0-9a-f]+ +\[[^\]]*TF/, "the trap flag torov sets is not shown");
  assert.match(s.output, /exited with code 01/, "the program still runs to its end");
  const end = await e.done;
  assert.equal(end.stdout, "checkpoint\ntotal=15 counter=6 scale=2.5\n", "the stepped-over write happened once");
});

test("stepi through a whole syscall wrapper stays in the program", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["break write", "continue", "delete", ...Array.from({ length: 30 }, () => "stepi"), "p/x $pc"]);
  const pcs = [...r.output.matchAll(/^(?:0x([0-9a-f]+)\s|\$\d+ = 0x([0-9a-f]+)$)/gm)].map((m) => parseInt(m[1] ?? m[2], 16));
  assert.ok(pcs.length >= 10, r.output);
  for (const pc of pcs) assert.ok(pc >= 0x10000, `pc 0x${pc.toString(16)} left the program`);
  assert.doesNotMatch(r.output, /Cannot access memory|Program received/);
  await d.done;
});

test("a watchpoint fires after the write, with old and new values", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["break bump", "continue", "delete", "watch counter", "continue", "continue", "rwatch scale", "awatch counter"]);
  assert.match(r.output, /Hardware watchpoint 2: counter/);
  assert.match(r.output, /Old value = 0\nNew value = 1\n/);
  assert.match(r.output, /Old value = 1\nNew value = 3\n/);
  assert.match(r.output, /bump \(by=1\) at debugme\.c:\d+\n\d+\s+return counter;/);
  await d.done;
});

test("catch syscall write stops on entry and return", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["catch syscall write", "continue", "p $orig_rax", "continue", "p $rax", "p $orig_rax", "continue"]);
  assert.match(r.output, /Catchpoint 1 \(syscall 'write' \[1\]\)/);
  assert.match(r.output, /Catchpoint 1 \(call to syscall write\)/);
  assert.match(r.output, /\$1 = 1\n/);
  assert.match(r.output, /Catchpoint 1 \(returned from syscall write\)/);
  assert.match(r.output, /\$2 = 11\n/, "write returned the 11 bytes of checkpoint\\n");
  await d.done;
});

test("registers: fs_base, orig_rax, SSE and AVX as gdbserver shows them", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["break main", "continue", "info registers fs_base gs_base orig_rax", "p $xmm0.v2_int64", "p $ymm0.v4_int64", "p $mxcsr", "set var $rbx = 0x1234", "p/x $rbx", "p $fctrl"]);
  assert.match(r.output, /fs_base +0x[1-9a-f][0-9a-f]+/, "libc has set up TLS by main");
  assert.match(r.output, /gs_base +0x0 /);
  assert.match(r.output, /orig_rax +0xffffffffffffffff +-1/);
  assert.match(r.output, /\$1 = {-?\d+, -?\d+}/);
  assert.match(r.output, /\$2 = {-?\d+, -?\d+, -?\d+, -?\d+}/);
  assert.match(r.output, /\$3 = \[ IM DM ZM OM UM PM \]/);
  assert.match(r.output, /\$4 = 0x1234/);
  assert.match(r.output, /\$5 = 895/, "fctrl 0x37f, what Linux starts a process with");
  await d.done;
});

test("a fault stops with the signal at the faulting line; continuing delivers it", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"), [], ["crash"]);
  const r = gdbBatch(d.port, ["continue", "bt 1", "continue"]);
  assert.match(r.output, /Program received signal SIGSEGV, Segmentation fault\.\n0x[0-9a-f]+ in main \(argc=2, argv=0x[0-9a-f]+\) at .*debugme\.c:\d+\n\d+\s+\*nowhere = total;/);
  assert.match(r.output, /Program terminated with signal SIGSEGV, Segmentation fault\./);
  const end = await d.done;
  assert.equal(end.status, 139);
  assert.match(end.stderr, /torov: debugme killed by SIGSEGV/);
});

test("info proc and info proc mappings: the pid, argv, the program and its memory map", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["break area", "continue", "info proc", "info proc mappings", "info threads", "continue"]);
  const pid = /^process (\d+)$/m.exec(r.output)?.[1];
  assert.ok(pid, r.output);
  assert.match(r.output, /^cmdline = 'debugme'$/m);
  assert.match(r.output, new RegExp(`^exe = '${guest("debugme").replace(/[.]/g, "\\.")}'$`, "m"));
  // The program's segments by its path, the heap and the stack, as Linux lists them.
  assert.match(r.output, /^\s+0x401000\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x0\s+r-xp\s+\S*debugme$/m);
  assert.match(r.output, /^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x0\s+rw-p\s+\[heap\]$/m);
  assert.match(r.output, /^\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x800000\s+0x0\s+rw-p\s+\[stack\]$/m);
  assert.match(r.output, new RegExp(`Thread ${pid}\\.${pid} "debugme" area`));
  assert.match(r.output, new RegExp(`\\[Inferior 1 \\(process ${pid}\\) exited with code 01\\]`));
  await d.done;
});

test("signals: GDB sees each first, a resume with it runs the handler, handle nopass discards it", { skip }, async () => {
  // Ignored ones too (SIGTERM): as under ptrace, the debugger sees them.
  const quiet = "handle SIGUSR2 SIGHUP SIGPIPE SIGABRT SIGTERM nostop noprint pass";
  const d = await startDebug(debugManifest("signals"));
  const r = gdbBatch(d.port, [quiet, "continue", "bt 3", "break on_info", "continue", "bt 3", "delete", "handle SIGUSR1 nostop noprint pass", "continue"]);
  assert.match(r.output, /Program received signal SIGUSR1, User defined signal 1\./);
  assert.match(r.output, /#1 +0x[0-9a-f]+ in (raise|__pthread_kill\w*) /);
  assert.match(r.output, /Breakpoint 1, on_info \(sig=10, si=0x[0-9a-f]+, uc=0x[0-9a-f]+\) at signals\.c:\d+/);
  assert.match(r.output, /#1 +<signal handler called>/);
  assert.match(r.output, /Program terminated with signal SIGUSR2, User defined signal 2\./);
  const end = await d.done;
  assert.equal(end.status, 128 + 12);
  assert.equal(end.stdout, native(guest("signals"), [], { cwd: tempDir() }).stdout, "the same run as natively");

  // nopass: GDB resumes without the signal, which is then never delivered.
  const n = await startDebug(debugManifest("signals"));
  gdbBatch(n.port, [quiet, "handle SIGUSR1 nostop noprint nopass", "continue"]);
  const discarded = await n.done;
  assert.match(discarded.stdout, /^raise: code=other pid_ok=0 keep=1\n/);
});

test("detach lets the program run on; kill ends it", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["break bump", "continue", "detach"]);
  assert.match(r.output, /\[Inferior 1 \(process \d+\) detached\]/);
  const end = await d.done;
  assert.equal(end.status, 1, end.stderr);
  assert.equal(end.stdout, "checkpoint\ntotal=15 counter=6 scale=2.5\n");

  const k = await startDebug(debugManifest("debugme"));
  gdbBatch(k.port, ["break bump", "continue", "kill"]);
  const killed = await k.done;
  assert.equal(killed.status, 137);
  assert.equal(killed.stdout, "");
});

test("a dropped connection leaves the program stopped for the next debugger", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const first = gdbBatch(d.port, ["break area", "continue", "p/x $pc", "disconnect"]);
  const pc = /\$1 = (0x[0-9a-f]+)/.exec(first.output)?.[1];
  assert.ok(pc, first.output);
  const second = gdbBatch(d.port, ["p/x $pc", "bt 1"]);
  assert.match(second.output, new RegExp(`\\$1 = ${pc}`));
  assert.match(second.output, /#0 +area /);
  await d.done;
});

test("monitor commands: help, hypercalls, policy, memory", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme", { hypercalls: [{ Name: "@basic-io" }, { Name: "@time" }] }));
  const r = gdbBatch(d.port, ["break bump", "continue", "monitor help", "monitor hypercalls", "monitor policy", "monitor memory", "monitor frobnicate"]);
  assert.match(r.output, /torov monitor commands:/);
  assert.match(r.output, / +\d+ +brk\n/);
  assert.match(r.output, /forwarded to the host \(\d+\): .*write.*clock_gettime/);
  assert.match(r.output, /0+400000-0+[0-9a-f]+ r-- image +debugme/);
  assert.match(r.output, /r-x image +debugme/);
  assert.match(r.output, /rw- stack/);
  assert.match(r.output, /unknown monitor command "frobnicate"/);
  await d.done;
});

test("--stop-on-denied: a refused hypercall stops with SIGSYS at the syscall", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme", { hypercalls: [] }), ["--stop-on-denied"]);
  const r = gdbBatch(d.port, ["continue", "p $orig_rax", "bt 2", "continue"]);
  assert.match(r.output, /Program received signal SIGSYS, Bad system call\.\n0x[0-9a-f]+ in write \(\)\n\$1 = 1\n/);
  assert.match(r.output, /#1 +0x[0-9a-f]+ in main \(/);
  assert.match(r.output, /Program terminated with signal SIGSYS/, "GDB passes SIGSYS: the program dies of it");
  const end = await d.done;
  assert.equal(end.status, 128 + 31);
  assert.equal(end.stdout, "", "the denied write never reached the host");
});

test("--stdio: target remote | torov debug --stdio", { skip }, async () => {
  const { spawnSync } = await import("node:child_process");
  const { BIN } = await import("../helpers.js");
  const manifest = debugManifest("debugme");
  const r = spawnSync("gdb", ["-q", "-nx", "-batch", "-ex", REMOTE_TIMEOUT, "-ex", `target remote | ${process.execPath} ${BIN} debug --stdio ${manifest}`, "-ex", "break area", "-ex", "continue", "-ex", "bt 1", "-ex", "continue"], { encoding: "utf8", timeout: scaled(60_000) });
  assert.match(r.stdout + r.stderr, /Breakpoint 1, area/);
  assert.match(r.stdout + r.stderr, /exited with code 01/);
  assert.match(r.stderr, /checkpoint\n/, "the program's output goes to stderr in --stdio mode");
});

test("Debug.Allowed in the manifest makes `torov run` wait for a debugger", { skip }, async () => {
  const { spawn } = await import("node:child_process");
  const { BIN, ROOT } = await import("../helpers.js");
  const manifest = debugManifest("debugme", { extra: { Debug: { Allowed: "True", Port: "0" } } });
  const proc = spawn(process.execPath, [BIN, "run", manifest], { cwd: ROOT });
  let stderr = "";
  const port = await new Promise<number>((resolve) =>
    proc.stderr.on("data", (d) => {
      stderr += d;
      const m = /GDB can attach on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    }),
  );
  const r = gdbBatch(port, ["continue"]);
  assert.match(r.output, /exited with code 01/);
  const status = await new Promise((resolve) => proc.on("exit", resolve));
  assert.equal(status, 1);
});

test("the same session against gdbserver and torov debug gives the same answers", { skip: (skip || spawnSync("gdbserver", ["--version"]).status !== 0) && "gdb or gdbserver is not installed" }, async () => {
  const script = [
    "break area",
    "continue",
    "bt",
    "info args",
    "finish",
    "next",
    "print total",
    "print origin",
    "break bump",
    "continue",
    "delete",
    "watch counter",
    "continue",
    "continue",
    "delete",
    "catch syscall write",
    "continue",
    "continue",
    "delete",
    "stepi",
    "stepi",
    "info symbol $pc",
    "print $orig_rax",
    "print/x $cs",
    "print $fctrl",
    "print $mxcsr",
    // Out of write() and line by line to the end: GDB range-steps (vCont;r)
    // over the calls and the program's last system calls.
    "finish",
    "next",
    "next",
    "next",
    "next",
    "info line *$pc",
    "continue",
  ];
  // Stack addresses and pids differ between a native process and the VM;
  // everything else must not.
  const normalize = (out: string) =>
    out
      .split("\n")
      .filter((l) => !/Reading|warning|File transfers|^Remote debugging|^Listening|^Process .* created|^Detaching/.test(l))
      .map((l) =>
        l
          .replace(/argv=0x[0-9a-f]+/g, "argv=ADDR")
          .replace(/\(process \d+\)|\(Remote target\)/g, "(PROCESS)")
          // A native process has a vDSO, a second objfile, so GDB names the program's.
          .replace(/ of target:\S+$/, ""),
      )
      .join("\n");

  const gsPort = await startGdbserver(guest("debugme"));
  const native = gdbBatch(gsPort, script);
  const d = await startDebug(debugManifest("debugme"));
  const vm = gdbBatch(d.port, script);
  await d.done;
  assert.equal(normalize(vm.output), normalize(native.output));
  assert.match(vm.output, /Old value = 0\nNew value = 1/);
  assert.match(vm.output, /returned from syscall write/);
});

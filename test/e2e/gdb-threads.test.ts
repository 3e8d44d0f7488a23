// The debugger and threads (issue 11): GDB sees and controls a threaded
// program under torov as it does under gdbserver. test/guests/debugthreads.c
// has a main thread and two workers; each worker calls work() in turn, then
// spins until main ends the run.
//
// Each test runs the same session against gdbserver on the same binary
// natively and against torov debug. Where a thread other than the one that
// stopped is caught is a matter of timing (natively as under torov), so
// those threads' frames are compared only where they are determined.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { elfSymbols } from "../../src/vmm/elf.js";
import { guest, scaled } from "../helpers.js";
import { debugManifest, gdbBatch, hasGdb, hasLldb, Mi, startDebug, startGdbserver } from "./debugger.js";

const hasGdbserver = () => spawnSync("gdbserver", ["--version"]).status === 0;
const skip = (!hasGdb() || !hasGdbserver()) && "gdb or gdbserver is not installed";
const BINARY = guest("debugthreads");

/** gdbserver --once on the native program; resolves with its port. */
const gdbserver = (args: string[] = []) => startGdbserver(BINARY, args);

/**
 * What must be the same natively and under torov: process and thread ids
 * become P and T1, T2... in the order they first appear; in `info threads`,
 * a thread other than the current one keeps its id and name, not its frame.
 */
function normalize(out: string): string {
  const tids = new Map<string, string>();
  return out
    .split("\n")
    .filter((l) => !/^Reading|^warning|File transfers|^Remote debugging|^Listening|^Process .* created|^Detaching/.test(l))
    .map((l) =>
      l
        .replace(/(\d+)\.(\d+)/g, (_, _pid, tid: string) => {
          if (!tids.has(tid)) tids.set(tid, `T${tids.size + 1}`);
          return `P.${tids.get(tid)}`;
        })
        .replace(/\(process \d+\)/g, "(process P)")
        .replace(/argv=0x[0-9a-f]+/g, "argv=ADDR")
        .replace(/^( {2}\d+ +Thread \S+ "[^"]*") .*$/, "$1"),
    )
    .join("\n");
}

test("GDB on threads: breakpoints in each worker, info threads, thread N, bt, as under gdbserver", { skip }, async () => {
  const script = [
    "break work",
    "continue",
    "info threads",
    "bt",
    "thread 2",
    "print n",
    "continue",
    "info threads",
    "bt",
    "print total",
    "delete",
    "thread apply all print $_thread",
    "continue",
  ];
  const native = gdbBatch(await gdbserver(), script);
  const d = await startDebug(debugManifest("debugthreads"));
  const vm = gdbBatch(d.port, script);
  const end = await d.done;
  assert.equal(normalize(vm.output), normalize(native.output));
  // What the comparison covers, said plainly.
  assert.match(vm.output, /Thread 2 "debugthreads" hit Breakpoint 1, work \(n=1\)/);
  assert.match(vm.output, /Thread 3 "debugthreads" hit Breakpoint 1, work \(n=2\)/);
  assert.match(vm.output, /\* 3 +Thread \d+\.\d+ "debugthreads" work \(n=2\) at debugthreads\.c:\d+/);
  assert.match(vm.output, /in __futex_abstimed_wait_common \(\)/, "main, blocked in sem_wait, as Linux shows a task in a system call");
  assert.equal(end.stdout, "total 3\n");
});

interface MiThread {
  id: string;
  "target-id": string;
  state: string;
  frame: { func: string };
}

const value = async (mi: Mi, expr: string) => BigInt((await mi.cmd(`-data-evaluate-expression ${expr}`)).value as string);

/**
 * Ctrl-C with all three threads running stops all of them; then a step
 * of one worker with GDB's scheduler locking leaves the others stopped
 * (the other worker's counter does not move), and without it they run.
 */
async function interruptAndStep(port: number): Promise<string[]> {
  const facts: string[] = [];
  const mi = new Mi();
  try {
    // cppdbg's start; then run, and interrupt, until both workers spin (on
    // a slow host they may not have started at the first interrupt).
    await mi.cmd("-gdb-set mi-async on");
    await mi.cmd("-gdb-set pagination off");
    await mi.cmd(`-file-exec-and-symbols ${BINARY}`);
    await mi.cmd(`-target-select remote 127.0.0.1:${port}`);
    await mi.stopped();
    let stop: Record<string, unknown> = {};
    let info: MiThread[] = [];
    for (let tries = 0; tries < 20; tries++) {
      await mi.cmd("-exec-continue");
      await new Promise((r) => setTimeout(r, scaled(500)));
      await mi.cmd("-exec-interrupt");
      stop = await mi.stopped();
      info = (await mi.cmd("-thread-info")).threads as MiThread[];
      if (info.filter((t) => t.frame.func === "worker").length === 2) break;
    }
    facts.push(`stop: ${String(stop.reason)} ${String(stop["signal-name"])}`);
    facts.push(`threads: ${info.length}, all stopped: ${info.every((t) => t.state === "stopped")}`);
    const workers = info.filter((t) => t.frame.func === "worker").map((t) => t.id);
    facts.push(`workers spinning in worker(): ${workers.length}`);
    // The first worker made (thread 2) steps; thread 3 must not move.
    await mi.cmd("-thread-select 2");
    await mi.cmd("-gdb-set scheduler-locking step");
    const mine = await value(mi, "spins[1]");
    const other = await value(mi, "spins[2]");
    for (let i = 0; i < 3; i++) {
      await mi.cmd("-exec-next");
      const s = await mi.stopped();
      if (i === 0) facts.push(`next: ${String(s.reason)}, thread ${String(s["thread-id"])}`);
    }
    facts.push(`locked: the stepped worker moved: ${(await value(mi, "spins[1]")) > mine}, the other stayed: ${(await value(mi, "spins[2]")) === other}`);
    // Unlocked, everything runs again (a while, then Ctrl-C: on a slow
    // single-CPU host a couple of steps may not give the other worker a turn).
    await mi.cmd("-gdb-set scheduler-locking off");
    const before = await value(mi, "spins[2]");
    await mi.cmd("-exec-continue");
    await new Promise((r) => setTimeout(r, scaled(500)));
    await mi.cmd("-exec-interrupt");
    await mi.stopped();
    facts.push(`unlocked: the other worker ran too: ${(await value(mi, "spins[2]")) > before}`);
    await mi.cmd("-data-evaluate-expression release=1");
    await mi.cmd("-exec-continue");
    const end = await mi.stopped();
    facts.push(`end: ${String(end.reason)}`);
  } finally {
    mi.close();
  }
  return facts;
}

test("Ctrl-C stops every thread; a step with scheduler locking moves one worker only, as under gdbserver", { skip }, async () => {
  const native = await interruptAndStep(await gdbserver(["hold"]));
  const d = await startDebug(debugManifest("debugthreads"), [], ["hold"]);
  const vm = await interruptAndStep(d.port);
  const end = await d.done;
  assert.deepEqual(vm, native);
  assert.deepEqual(vm, [
    "stop: signal-received SIGINT",
    "threads: 3, all stopped: true",
    "workers spinning in worker(): 2",
    "next: end-stepping-range, thread 2",
    "locked: the stepped worker moved: true, the other stayed: true",
    "unlocked: the other worker ran too: true",
    "end: exited-normally",
  ]);
  assert.equal(end.stdout, "total 3\n");
});

test("a worker's fault stops the program at the faulting thread, with every thread listed", { skip: !hasGdb() && "gdb is not installed" }, async () => {
  // threads.c's crash mode: a worker writes through NULL while main waits in pthread_join.
  const d = await startDebug(debugManifest("threads"), [], ["crash"]);
  const out = gdbBatch(d.port, ["continue", "info threads", "bt 2", "kill"]).output;
  await d.done;
  assert.match(out, /Thread 2 "threads" received signal SIGSEGV, Segmentation fault\./);
  assert.match(out, /\* 2 +Thread \d+\.\d+ "threads" .*crasher/);
  assert.match(out, / {2}1 +Thread \d+\.\d+ "threads" /);
});

test("lldb lists the threads at a breakpoint in a worker", { skip: !hasLldb() && "lldb is not installed" }, async () => {
  // By address, without a local copy of the program (see lldb.test.ts).
  const work = elfSymbols(readFileSync(BINARY)).find((s) => s.name === "work")!.value;
  const d = await startDebug(debugManifest("debugthreads"));
  const commands = [`gdb-remote 127.0.0.1:${d.port}`, `breakpoint set -a 0x${work.toString(16)}`, "continue", "thread list", "process kill"];
  const r = spawnSync("lldb", ["-b", ...commands.flatMap((c) => ["-o", c])], { encoding: "utf8", timeout: scaled(60_000) });
  await d.done;
  const listed = r.stdout.slice(r.stdout.indexOf("thread list"));
  // The worker that stopped, and main (the second worker does not exist yet).
  assert.match(listed, new RegExp(`\\* thread #\\d+: tid = 0x[0-9a-f]+, 0x0*${work.toString(16)}, .*stop reason = breakpoint`), r.stdout);
  assert.equal((listed.match(/thread #\d+: tid = /g) ?? []).length, 2, r.stdout);
});

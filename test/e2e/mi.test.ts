// GDB over MI, driven the way VS Code's cppdbg drives it (gdb-js), against
// `torov debug`: the set-up commands, breakpoints by file:line, next,
// frames, variables, expressions, and Ctrl-C (-exec-interrupt).
import assert from "node:assert/strict";
import { test } from "node:test";
import { debugManifest, hasGdb, Mi, startDebug } from "./debugger.js";
import { guest, scaled } from "../helpers.js";

const skip = !hasGdb() && "gdb is not installed";

/** The commands cppdbg sends before attaching to a gdbserver-like target. */
async function attach(mi: Mi, port: number): Promise<void> {
  await mi.cmd("-gdb-set mi-async on");
  await mi.cmd("-gdb-set pagination off");
  await mi.cmd("-enable-pretty-printing");
  await mi.cmd(`-file-exec-and-symbols ${guest("debugme")}`);
  await mi.cmd(`-target-select remote 127.0.0.1:${port}`);
  await mi.stopped();
}

test("a VS Code session: break at file:line, continue, next, frames, variables, expressions", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const mi = new Mi();
  try {
    await attach(mi, d.port);
    const bp = await mi.cmd("-break-insert debugme.c:19");
    assert.equal((bp.bkpt as { line: string }).line, "19");
    await mi.cmd("-exec-continue");
    const hit = await mi.stopped();
    assert.equal(hit.reason, "breakpoint-hit");
    const frames = await mi.cmd("-stack-list-frames");
    const stack = frames.stack as Array<{ value: { func: string; line: string } }>;
    assert.deepEqual(
      stack.map((f) => f.value.func),
      ["area", "main"],
    );
    await mi.cmd("-exec-next");
    const next = await mi.stopped();
    assert.equal(next.reason, "end-stepping-range");
    const vars = await mi.cmd("-stack-list-variables --simple-values");
    const byName = Object.fromEntries((vars.variables as Array<{ name: string; value?: string }>).map((v) => [v.name, v.value]));
    assert.equal(byName.w, "3");
    const v = await mi.cmd("-var-create - * b");
    assert.equal(v.numchild, "3");
    const children = await mi.cmd(`-var-list-children --all-values ${v.name as string}`);
    const kids = (children.children as Array<{ value: { exp: string; value: string } }>).map((c) => [c.value.exp, c.value.value]);
    assert.deepEqual(kids.slice(0, 2), [["x", "4"], ["y", "7"]]);
    assert.deepEqual(await mi.cmd("-data-evaluate-expression (b.x-a.x)*(b.y-a.y)"), { value: "15" });
    assert.deepEqual(await mi.cmd("-data-evaluate-expression counter"), { value: "0" });
    await mi.cmd("-break-delete");
    await mi.cmd("-exec-continue");
    const end = await mi.stopped();
    assert.equal(end.reason, "exited");
  } finally {
    mi.close();
  }
  const end = await d.done;
  assert.equal(end.stdout, "checkpoint\ntotal=15 counter=6 scale=2.5\n");
});

/** Lets a spinning program run `ms` (scaled), then stops it with Ctrl-C. */
async function interruptAfter(mi: Mi, ms: number): Promise<Record<string, unknown>> {
  await mi.cmd("-exec-continue");
  await new Promise((r) => setTimeout(r, scaled(ms)));
  await mi.cmd("-exec-interrupt");
  return mi.stopped();
}

test("Ctrl-C (-exec-interrupt) stops a spinning program with SIGINT, and it goes on", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"), [], ["spin"]);
  const mi = new Mi();
  try {
    await attach(mi, d.port);
    const stop = await interruptAfter(mi, 300);
    assert.equal(stop.reason, "signal-received");
    assert.equal(stop["signal-name"], "SIGINT");
    const before = Number((await mi.cmd("-data-evaluate-expression counter")).value);
    assert.ok(before > 6, "it was spinning");
    await interruptAfter(mi, 200);
    const after = Number((await mi.cmd("-data-evaluate-expression counter")).value);
    assert.notEqual(after, before, "and it went on spinning (the int counter may wrap around)");
    await mi.cmd("kill");
  } finally {
    mi.close();
  }
  await d.done;
});

test("after Ctrl-C, stepi moves one instruction on in the interrupted code", { skip }, async () => {
  // The program wrote (a hypercall) before it spins: the step must start
  // where Ctrl-C stopped it, not where that write returned.
  const d = await startDebug(debugManifest("debugme"), [], ["spin"]);
  const mi = new Mi();
  try {
    await attach(mi, d.port);
    const stop = await interruptAfter(mi, 300);
    assert.equal((stop.frame as { line: string }).line, "44");
    const value = async (reg: string) => BigInt(String((await mi.cmd(`-data-evaluate-expression "(long)${reg}"`)).value));
    const pc = await value("$pc");
    const sp = await value("$sp");
    for (let i = 0; i < 3; i++) {
      await mi.cmd("-exec-next-instruction");
      const step = await mi.stopped();
      assert.equal(step.reason, "end-stepping-range");
      assert.equal((step.frame as { line: string }).line, "44", "still in the loop");
    }
    const after = await value("$pc");
    const distance = after > pc ? after - pc : pc - after;
    assert.ok(distance < 64n, `pc ${pc.toString(16)} -> ${after.toString(16)}: a few instructions of the loop`);
    assert.equal(await value("$sp"), sp, "the stack pointer is the loop's");
    await mi.cmd("kill");
  } finally {
    mi.close();
  }
  await d.done;
});

test("Ctrl-C ends a `next` that never leaves its line (range stepping) with SIGINT", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"), [], ["spin"]);
  const mi = new Mi();
  try {
    await attach(mi, d.port);
    await mi.cmd("-break-insert debugme.c:44");
    await mi.cmd("-exec-continue");
    assert.equal((await mi.stopped()).reason, "breakpoint-hit");
    await mi.cmd("-break-delete"); // or each turn of the loop hits it
    const before = Number((await mi.cmd("-data-evaluate-expression counter")).value);
    // `for (;;) counter++;` is one line: GDB range-steps it until stopped.
    await mi.cmd("-exec-next");
    await new Promise((r) => setTimeout(r, scaled(400)));
    await mi.cmd("-exec-interrupt");
    const stop = await mi.stopped();
    assert.equal(stop["signal-name"], "SIGINT");
    assert.equal((stop.frame as { line: string }).line, "44");
    const after = Number((await mi.cmd("-data-evaluate-expression counter")).value);
    assert.ok(after > before + 10, `it stepped the loop many times (counter ${before} -> ${after})`);
    await mi.cmd("kill");
  } finally {
    mi.close();
  }
  await d.done;
});

test("Ctrl-C while the program is blocked in a host call; the call resumes on continue", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"), [], ["read"]);
  const mi = new Mi();
  try {
    await attach(mi, d.port);
    await mi.cmd("-exec-continue");
    await new Promise((r) => setTimeout(r, scaled(500))); // blocked in read(0): stdin is an open pipe
    await mi.cmd("-exec-interrupt");
    const stop = await mi.stopped();
    assert.equal(stop["signal-name"], "SIGINT");
    const frames = (await mi.cmd("-stack-list-frames")).stack as Array<{ value: { func: string } }>;
    assert.ok(frames.some((f) => f.value.func === "main"), "stopped inside read, called from main");
    // As Linux shows a task stopped in a system call (gdbserver gives the
    // same): the pc after the syscall instruction, rax -ERESTARTSYS; the
    // call starts over when the program goes on.
    const insn = (await mi.cmd(`-data-evaluate-expression "*(unsigned short*)($pc - 2)"`)).value;
    assert.equal(insn, String(0x050f), "just after the syscall instruction");
    assert.equal((await mi.cmd(`-data-evaluate-expression "$rax"`)).value, "-512");
    await mi.cmd("-exec-continue");
    d.proc.stdin!.end("typed later\n");
    const end = await mi.stopped();
    assert.equal(end.reason, "exited");
  } finally {
    mi.close();
  }
  const end = await d.done;
  assert.match(end.stdout, /read 12: typed later\n/);
});

// Issue 19: processes. fork, vfork and a process-making clone make a new
// VM (native/processes/fork.cc) whose memory is a copy of its parent's,
// with the parent's open files shared; wait4 and waitid find it when it
// ends (wait.cc). test/guests/fork.c runs the same checks natively and
// under torov, and prints nothing that depends on pid values.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, tempDir, torov, variants, writeManifest } from "../helpers.js";
import { gdbBatch, hasGdb, startDebug, startGdbserver } from "./debugger.js";

const skip = !existsSync(guest("fork")) && "no fork guest (make -C test/guests)";

function underTorov(variant: string, args: string[], extra: Record<string, unknown> = {}, command = "run") {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const manifest = writeManifest(dir, { binary: guest(variant), args, extra });
  const r = command === "trace" ? torov(["trace", "-o", join(dir, "trace.txt"), manifest]) : torov(["run", manifest]);
  return { ...r, dir, root: join(dir, "root") };
}

for (const variant of skip ? ["fork"] : variants("fork")) {
  test(`${variant}: fork, vfork, clone and the waits behave as natively: copies of memory, shared files, statuses, SIGCHLD, groups`, { skip }, () => {
    const dir = tempDir();
    const want = native(guest(variant), ["semantics", dir], { cwd: dir });
    assert.equal(want.status, 0, want.stdout + want.stderr);
    const r = underTorov(variant, ["semantics", "/"]);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, want.stdout);
    assert.equal(r.status, 0);
    // What the lines say, so that a change in both runs cannot hide one.
    assert.match(r.stdout, /^child: exited 7$/m);
    assert.match(r.stdout, /^parent after: counter 1, heap: the parent's heap$/m);
    assert.match(r.stdout, /^one offset for both: abcdef$/m);
    assert.match(r.stdout, /^killed child: killed by signal 9$/m);
    assert.match(r.stdout, /^after the child wrote 42: shared 42, private 1$/m);
    assert.equal(readFileSync(join(r.root, "shared-offset.txt"), "latin1"), "abcdef");
  });
}

test("a fork past the manifest's Processes (64 by default) is EAGAIN, and every child is still reaped", { skip }, () => {
  const r = underTorov("fork", ["limit"]);
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "forked 63 children, then EAGAIN\nreaped 63\n");
  assert.equal(r.status, 0);
  const few = underTorov("fork", ["limit"], { Processes: 4 });
  assert.equal(few.stdout, "forked 3 children, then EAGAIN\nreaped 3\n");
});

test("a fork bomb is bounded, and the guest's end ends every process it made", { skip }, () => {
  const r = underTorov("fork", ["bomb"], { Processes: 16 });
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "bomb\n");
  assert.equal(r.status, 0);
});

test("torov trace follows processes as strace -f: [pid N] on a child's lines, +++ exited and +++ killed for each", { skip }, () => {
  const r = underTorov("fork", ["trace"], {}, "trace");
  assert.equal(r.stdout, "child\nparent\n");
  assert.equal(r.status, 0);
  const text = readFileSync(join(r.dir, "trace.txt"), "utf8");
  const child = /^\[pid +(\d+)\] write\(1, "child\\n", 6\) += 6$/m.exec(text);
  assert.ok(child, text);
  assert.match(text, new RegExp(`^\\[pid +${child[1]}\\] \\+\\+\\+ exited with 3 \\+\\+\\+$`, "m"));
  assert.match(text, /^\[pid +\d+\] \+\+\+ killed by SIGKILL \+\+\+$/m);
  assert.match(text, new RegExp(`= ${child[1]}$`, "m"), "the call that made it returns its pid");
  assert.match(text, /^\+\+\+ exited with 0 \+\+\+$/m);
});

test("GDB with its defaults (follow the parent, detach the child): a breakpoint the child also reaches stops only the parent, as with gdbserver", { skip: skip || (!hasGdb() && "no gdb") }, async () => {
  const script = ["break child_work", "continue", "print x", "continue"];
  const normalize = (out: string) =>
    out
      .split("\n")
      .filter((l) => /^(\$\d|Breakpoint 1,|\[Inferior)/.test(l))
      .map((l) => l.replace(/0x[0-9a-f]+/g, "ADDR").replace(/\(process \d+\)|\(Remote target\)/g, "(PROCESS)"))
      .join("\n");
  const { LD_PRELOAD: _, ...env } = process.env;
  const gdbserver = gdbBatch(await startGdbserver(guest("fork"), ["debug"], env), script);
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const d = await startDebug(writeManifest(dir, { binary: guest("fork") }), [], ["debug"]);
  const vm = gdbBatch(d.port, script);
  const end = await d.done;
  // The child ran its copy without the breakpoint: it exited 6, not by SIGTRAP.
  assert.equal(end.stdout, "child: exited 6\nparent: 15\n");
  assert.match(vm.output, /^\$1 = 5$/m);
  assert.equal(normalize(vm.output), normalize(gdbserver.output));
});

// ToroV's flat ABI (an `out` with the number in eax) goes through the same
// hypercall gate as `syscall` (issue 11): the debugger's catch syscall and
// --stop-on-denied stop there too, and a refused call is traced and counted.
// Before, the flat path had its own copy of the gate that did neither stop.
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT, tempDir, torov, writeManifest } from "../helpers.js";
import { gdbBatch, hasGdb, startDebug } from "./debugger.js";

const skip = !hasGdb() && "gdb is not installed";

/** The example's flat binary (write, then getpid, then hlt) with these hypercalls allowed. */
function flatManifest(allowed: string[]): string {
  const dir = tempDir();
  copyFileSync(join(ROOT, "examples", "toro-flat", "toro-flat.bin"), join(dir, "toro-flat.bin"));
  return writeManifest(dir, {
    binary: join(dir, "toro-flat.bin"),
    mountPoint: null,
    hypercalls: allowed.map((name) => ({ Name: name, Allowed: true })),
    extra: { Startaddr: "400200" },
  });
}

test("flat ABI: catch syscall stops at the call and at its return, with orig_rax", { skip }, async () => {
  const d = await startDebug(flatManifest(["write", "getpid"]));
  const out = gdbBatch(d.port, ["catch syscall getpid", "continue", "p $orig_rax", "continue", "p $rax > 0", "continue"]).output;
  const end = await d.done;
  assert.match(out, /Catchpoint 1 \(call to syscall getpid\), 0x0*400227 in \?\? \(\)\n\$1 = 39\n/);
  assert.match(out, /Catchpoint 1 \(returned from syscall getpid\), 0x0*400227 in \?\? \(\)\n\$2 = 1\n/);
  assert.equal(end.stdout, "Hello from a ToroV flat binary\n");
});

test("flat ABI: --stop-on-denied stops a refused call with SIGSYS, its result -EPERM", { skip }, async () => {
  const d = await startDebug(flatManifest([]), ["--stop-on-denied"]);
  const out = gdbBatch(d.port, ["continue", "p $rax", "continue"]).output;
  const end = await d.done;
  assert.match(out, /Program received signal SIGSYS, Bad system call\.\n0x0*400218 in \?\? \(\)\n\$1 = -1\n/);
  assert.equal(end.stdout, "", "the refused write never reached the host");
});

test("flat ABI: a refused call is traced as denied and the program sees EPERM", () => {
  const r = torov(["trace", flatManifest([])]);
  assert.match(r.stderr, /^write\(1, "Hello from a ToroV flat binary\\n", 31\) += -1 EPERM \(Operation not permitted\) <denied>$/m);
  assert.match(r.stderr, /^exit_group\(1\) += \?$/m);
  assert.equal(r.status, 1, "the program checks write's result and exits 1");
});

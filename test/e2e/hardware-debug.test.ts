// Hardware breakpoints and watchpoints, whichever mechanism this host's KVM
// allows (native/debug.h): debug registers through KVM_SET_GUEST_DEBUG on
// VT-x and AMD-V, int3s and page protection on PVM. GDB sees the same
// answers from both: watchpoints beyond what the four debug registers hold
// work by page protection there too; a fifth hbreak is refused, as
// gdbserver refuses it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { native } from "../../src/vmm/native.js";
import { flavourName } from "../../src/vmm/flavour.js";
import { debugManifest, gdbBatch, hasGdb, startDebug } from "./debugger.js";

const skip = !hasGdb() && "gdb is not installed";

test("KVM single-steps user mode on VT-x and AMD-V, and not on PVM", () => {
  const info = native().kvmInfo();
  const probe = native().probeDebug();
  if (info.flavour === "pvm") assert.deepEqual(probe.mechanisms, { kvmStep: false, kvmInt3: false, debugRegisters: false }, "PVM ignores KVM's guest debugging for user mode");
  if (info.flavour === "svm" || info.flavour === "vmx") assert.equal(probe.mechanisms.kvmStep, true, `${flavourName(info)}: ${JSON.stringify(probe)}`);
  // Real VT-x and AMD-V give all of it; QEMU's emulated AMD-V does not
  // intercept int3 nor fire debug registers: the probe must see that.
  if (flavourName(info) === "AMD-V nested under QEMU") assert.deepEqual(probe.mechanisms, { kvmStep: true, kvmInt3: false, debugRegisters: false }, JSON.stringify(probe));
  else if (info.flavour === "svm" || info.flavour === "vmx") assert.deepEqual(probe.mechanisms, { kvmStep: true, kvmInt3: true, debugRegisters: true }, JSON.stringify(probe));
});

test("hbreak stops before the instruction, every time it is reached", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  const r = gdbBatch(d.port, ["hbreak bump", "continue", "p by", "continue", "p by", "delete", "continue"]);
  assert.match(r.output, /Hardware assisted breakpoint 1 at 0x[0-9a-f]+: file .*debugme\.c, line \d+\./);
  assert.match(r.output, /Breakpoint 1, bump \(by=1\) at .*debugme\.c:\d+\n\d+\s+counter \+= by;\n\$1 = 1\n/);
  assert.match(r.output, /Breakpoint 1, bump \(by=2\) at .*debugme\.c:\d+\n\d+\s+counter \+= by;\n\$2 = 2\n/);
  assert.match(r.output, /exited with code 01/);
  const end = await d.done;
  assert.equal(end.stdout, "checkpoint\ntotal=15 counter=6 scale=2.5\n");
});

test("rwatch stops at reads, not at the write between them", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  // bump() reads counter, writes it, reads it again to return it.
  const r = gdbBatch(d.port, ["break bump", "continue", "delete", "rwatch counter", "continue", "continue", "continue", "delete", "continue"]);
  assert.match(r.output, /Hardware read watchpoint 2: counter/);
  const values = [...r.output.matchAll(/Hardware read watchpoint 2: counter\n\nValue = (\d+)\n/g)].map((m) => Number(m[1]));
  assert.deepEqual(values, [0, 1, 1], r.output);
  assert.doesNotMatch(r.output, /Old value|New value/);
  assert.match(r.output, /exited with code 01/);
  await d.done;
});

test("a watchpoint per byte: four fit the debug registers, and a fifth moves them all to page protection", { skip }, async () => {
  // counter (4 bytes) is written by bump(): 0 -> 1 first.
  const bytes = (n: number) => Array.from({ length: n }, (_, i) => `watch -l *((char *)&counter + ${i})`);
  for (const extra of [[], ["watch -l scale"]]) {
    const d = await startDebug(debugManifest("debugme"));
    const r = gdbBatch(d.port, [...bytes(4), ...extra, "continue", "p counter", "continue", "p counter", "delete", "continue"]);
    assert.doesNotMatch(r.output, /Could not insert/, r.output);
    assert.match(r.output, /Hardware watchpoint 1: -location \*\(\(char \*\)&counter \+ 0\)\n\nOld value = 0 '\\000'\nNew value = 1 '\\001'\n/, r.output);
    assert.match(r.output, /\$1 = 1\n/);
    assert.match(r.output, /New value = 3 '\\003'\n[^]*\$2 = 3\n/, "the next write, 1 -> 3, is seen too");
    assert.match(r.output, /exited with code 01/);
    const end = await d.done;
    assert.equal(end.stdout, "checkpoint\ntotal=15 counter=6 scale=2.5\n");
  }
});

test("a 16-byte watchpoint (two debug registers, or one protected page) fires on a write to either half", { skip }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  // `origin` is 16 bytes, aligned, set field by field at the top of main.
  const r = gdbBatch(d.port, ["break main", "continue", "watch -l origin", "continue", "continue", "continue", "p origin.y"]);
  const hits = [...r.output.matchAll(/Hardware watchpoint 2: -location origin\n\nOld value = .*\nNew value = (.*)\n/g)].map((m) => m[1]);
  assert.equal(hits.length, 3, r.output);
  assert.match(hits[2], /^{x = 1, y = 2, label = 0x[0-9a-f]+ "origin"}$/, "the last write, to the second half, is seen");
  await d.done;
});

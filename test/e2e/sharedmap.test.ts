// Issue 18: MAP_SHARED file mappings map the file itself (GuestRam::MapShared):
// what the guest writes through one is the file's, at once, and the other
// way round. test/guests/sharedmap.c runs the same checks natively and
// under torov. A page past the file's end is SIGBUS for the guest, and
// never for the monitor that reads or writes it on the guest's behalf
// (memory.cc's "surviving a shared file's end").

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, tempDir, torov, variants, writeManifest } from "../helpers.js";
import { gdbBatch, hasGdb, startDebug, startGdbserver } from "./debugger.js";

const skip = !existsSync(guest("sharedmap")) && "no sharedmap guest (make -C test/guests)";

function underTorov(variant: string, mode: string) {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const r = torov(["run", writeManifest(dir, { binary: guest(variant), args: [mode, "/"] })]);
  return { ...r, root: join(dir, "root") };
}

function natively(variant: string, mode: string) {
  const dir = tempDir();
  return native(guest(variant), [mode, dir], { cwd: dir });
}

for (const variant of skip ? ["sharedmap"] : variants("sharedmap")) {
  test(`${variant}: a shared mapping is the file: writes either way, two mappings, msync, mremap, a read-only fd, as natively`, { skip }, () => {
    const want = natively(variant, "semantics");
    assert.equal(want.status, 0, want.stdout + want.stderr);
    const r = underTorov(variant, "semantics");
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, want.stdout);
    assert.equal(r.status, 0);
    // Nothing was a copy: the host's file holds what the guest wrote last.
    assert.equal(readFileSync(join(r.root, "shared.dat"), "latin1").slice(0, 5), "after");
    assert.match(r.stdout, /^file after a write through the mapping: hello$/m);
    assert.match(r.stdout, /^read-only mapping after pwrite: Hillo$/m);
  });
}

test("a page past a shared file's end is SIGBUS for the guest, as natively", { skip }, () => {
  const want = natively("sharedmap", "past-end");
  assert.equal(want.status, 135, want.stdout);
  const r = underTorov("sharedmap", "past-end");
  assert.equal(r.stdout, want.stdout);
  assert.equal(r.status, 135);
  assert.match(r.stderr, /^torov: .* killed by SIGBUS: it touched a page of a file it maps shared past the file's end$/m);
});

test("the monitor survives pointers to a shared file's pages past its end, and answers EFAULT as natively", { skip }, () => {
  const want = natively("sharedmap", "monitor");
  assert.equal(want.status, 0, want.stdout);
  const r = underTorov("sharedmap", "monitor");
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, want.stdout);
  assert.equal(r.status, 0);
  // Where the host reads it, where the monitor copies a path from it, and
  // where the monitor writes a struct into it.
  assert.match(r.stdout, /^write from past the end: EFAULT$/m);
  assert.match(r.stdout, /^open a path running off the file's end: EFAULT$/m);
  assert.match(r.stdout, /^uname into past the end: EFAULT$/m);
});

test("a thread that truncates and extends a file while another hands the system pointers into its mapping ends nothing but its own calls", { skip }, () => {
  const r = underTorov("sharedmap", "race");
  assert.equal(r.stderr, "");
  assert.equal(r.stdout, "race: 2 threads, 200 rounds each, 0 mappings refused\n");
  assert.equal(r.status, 0);
});

test("holes punched in a shared mapping stop at torov's cap on host mappings (ENOMEM), and a memfd is not mapped shared for writing", { skip }, () => {
  const r = underTorov("sharedmap", "limits");
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  // Natively all 600 holes are punched (vm.max_map_count is 65530 per
  // process); a guest gets 512 file-backed ranges in all (SECURITY.md).
  const holes = /^holes punched: (\d+), then ENOMEM$/m.exec(r.stdout);
  assert.ok(holes && Number(holes[1]) > 400 && Number(holes[1]) < 512, r.stdout);
  assert.match(r.stdout, /^uname into the last piece, past the end: EFAULT$/m);
  assert.match(r.stdout, /^memfd shared writable: ENODEV$/m);
  assert.match(r.stdout, /^alive$/m);
});

test("GDB writes a shared writable mapping (the file) and a private one, never a shared read-only one, as with gdbserver", { skip: skip || (!hasGdb() && "no gdb") }, async () => {
  const script = ["break mapped", "continue", "print *ro_map = 'X'", "print *rw_map = 'Y'", "print *private_map = 'Z'", "continue"];
  const normalize = (out: string) =>
    out
      .split("\n")
      .filter((l) => /^(Cannot access|\$\d|Breakpoint 1,|\[Inferior)/.test(l))
      .map((l) => l.replace(/0x[0-9a-f]+/g, "ADDR").replace(/\(process \d+\)|\(Remote target\)/g, "(PROCESS)"))
      .join("\n");
  const dir = tempDir();
  const { LD_PRELOAD: _, ...env } = process.env;
  const gdbserver = gdbBatch(await startGdbserver(guest("sharedmap"), ["debug", dir], env), script);
  const vmDir = tempDir();
  mkdirSync(join(vmDir, "root"));
  const d = await startDebug(writeManifest(vmDir, { binary: guest("sharedmap") }), [], ["debug", "/"]);
  const vm = gdbBatch(d.port, script);
  const end = await d.done;
  assert.match(vm.output, /^Cannot access memory at address 0x[0-9a-f]+$/m);
  assert.equal(normalize(vm.output), normalize(gdbserver.output));
  assert.equal(end.stdout, "shared read-only Ybcdef, shared writable Ybcdef, private Zbcdef, file Ybcdef\n");
  assert.equal(readFileSync(join(vmDir, "root", "shared.dat"), "latin1"), "Ybcdef");
});

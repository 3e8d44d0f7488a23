// A fatal fault kills the guest with the signal Linux would send, a report
// on stderr, and status 128 + signal, as the native program's.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, tempDir, torov, writeManifest } from "../helpers.js";

const cases: Array<[how: string, signal: string, detail: RegExp]> = [
  ["null", "SIGSEGV", /read from unmapped address 0x0\n/],
  ["write-rodata", "SIGSEGV", /write to read-only address 0x[0-9a-f]+\n/],
  ["divide", "SIGFPE", /divide error\n/],
  ["ud2", "SIGILL", /invalid opcode\n/],
  ["int3", "SIGTRAP", /breakpoint \(int3\)\n/],
  ["stack", "SIGSEGV", /write to unmapped address 0x[0-9a-f]+\n/],
  ["munmap", "SIGSEGV", /read from unmapped address 0x[0-9a-f]+\n/],
  ["mprotect", "SIGSEGV", /write to read-only address 0x[0-9a-f]+\n/],
  ["exec-stack", "SIGSEGV", /execute non-executable address 0x[0-9a-f]+\n/],
  ["abort", "SIGABRT", /\(it sent the signal to itself\)\n/],
  ["kill", "SIGTERM", /\(it sent the signal to itself\)\n/],
  ["sigreturn-kernel", "SIGSEGV", /: rt_sigreturn to an address outside user space\n/],
  ["sigreturn-no-frame", "SIGSEGV", /: rt_sigreturn without a signal frame\n/],
];

const signals: Record<string, number> = { SIGSEGV: 11, SIGFPE: 8, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGTERM: 15 };

for (const [how, signal, detail] of cases) {
  test(`crash ${how}: ${signal}, like the native process`, () => {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    const r = torov(["run", writeManifest(dir, { binary: guest("crash") }), how]);
    const host = native(guest("crash"), [how], { cwd: tempDir() });
    assert.equal(r.status, 128 + signals[signal]);
    assert.equal(host.status, r.status);
    assert.equal(r.stdout, `crashing: ${how}\n`);
    assert.match(r.stderr, new RegExp(`^torov: crash killed by ${signal}`));
    assert.match(r.stderr, detail);
    if (!/sent the signal|rt_sigreturn/.test(r.stderr)) {
      // Code on the stack has no symbol; everything else is in the program.
      const symbol = how === "exec-stack" ? "" : " <[\\w.]+(\\+0x[0-9a-f]+)?>";
      assert.match(r.stderr, new RegExp(`\\n {2}at rip 0x[0-9a-f]+${symbol}\\n`));
      for (const reg of ["rax", "rsp", "rip", "eflags", "fs_base"]) assert.match(r.stderr, new RegExp(`${reg} +0x[0-9a-f]{16}`));
    }
  });
}

test("a crash in main is reported in main", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const r = torov(["run", writeManifest(dir, { binary: guest("crash") }), "null"]);
  assert.match(r.stderr, /at rip 0x[0-9a-f]+ <main\+0x[0-9a-f]+>/);
});

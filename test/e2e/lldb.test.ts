// LLDB's gdb-remote against torov debug works at the instruction level: it
// connects, finds the program stopped at its entry point, reads registers
// through target.xml, stops at address breakpoints, single-steps and sees
// the program's end. (LLDB does not fetch the program from the target as
// GDB does; given a local copy of a static program, LLDB 14 resumes to the
// entry point on connect and runs past breakpoints, exactly as it does
// against gdbserver. README says so.)
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { elfSymbols } from "../../src/vmm/elf.js";
import { guest, scaled } from "../helpers.js";
import { debugManifest, hasLldb, startDebug } from "./debugger.js";

test("lldb gdb-remote: entry stop, registers, address breakpoint, step, exit", { skip: !hasLldb() && "lldb is not installed" }, async () => {
  const area = elfSymbols(readFileSync(guest("debugme"))).find((s) => s.name === "area")!.value;
  const hex = (n: number) => `0x${n.toString(16).padStart(16, "0")}`;
  const d = await startDebug(debugManifest("debugme"));
  const commands = [
    `gdb-remote 127.0.0.1:${d.port}`,
    "register read cs orig_rax mxcsr",
    `breakpoint set -a 0x${area.toString(16)}`,
    "continue",
    "si",
    "register read rip",
    "continue",
  ];
  const r = spawnSync("lldb", ["-b", ...commands.flatMap((c) => ["-o", c])], { encoding: "utf8", timeout: scaled(60_000) });
  const out = r.stdout;
  assert.match(out, /stop reason = signal SIGTRAP\n\s+frame #0: 0x00000000004[0-9a-f]{5}\n->.*xorl +%ebp, %ebp/);
  assert.match(out, /cs = 0x00000033/);
  assert.match(out, /orig_rax = 0xffffffffffffffff/);
  assert.match(out, /mxcsr = 0x00001f80/);
  assert.match(out, new RegExp(`stop reason = breakpoint 1\\.1\\n\\s+frame #0: ${hex(area)}`));
  const stepped = /stop reason = instruction step into\n\s+frame #0: 0x([0-9a-f]+)/.exec(out);
  assert.ok(stepped && parseInt(stepped[1], 16) > area && parseInt(stepped[1], 16) < area + 16, out);
  assert.match(out, new RegExp(`rip = 0x${stepped![1]}`));
  assert.match(out, /exited with status = 1/);
  const end = await d.done;
  assert.equal(end.status, 1);
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { TorovError } from "../../src/vmm/errors.js";
import { elfSymbols, parseElf, PT_LOAD, symbolize } from "../../src/vmm/elf.js";
import { guest } from "../helpers.js";

/** A minimal valid x86-64 ET_EXEC: header, one PT_LOAD covering the file. */
function minimal(): Buffer {
  const b = Buffer.alloc(64 + 56 + 16);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  b.writeUInt16LE(2, 0x10); // ET_EXEC
  b.writeUInt16LE(62, 0x12); // x86-64
  b.writeUInt32LE(1, 0x14);
  b.writeBigUInt64LE(0x400078n, 0x18); // entry
  b.writeBigUInt64LE(64n, 0x20); // phoff
  b.writeUInt16LE(64, 0x34);
  b.writeUInt16LE(56, 0x36);
  b.writeUInt16LE(1, 0x38);
  const ph = 64;
  b.writeUInt32LE(PT_LOAD, ph);
  b.writeUInt32LE(5, ph + 4); // R+X
  b.writeBigUInt64LE(0n, ph + 8);
  b.writeBigUInt64LE(0x400000n, ph + 16);
  b.writeBigUInt64LE(BigInt(b.length), ph + 32);
  b.writeBigUInt64LE(BigInt(b.length), ph + 40);
  return b;
}

function rejects(buf: Buffer, message: RegExp) {
  assert.throws(
    () => parseElf(buf, "prog"),
    (e: unknown) => e instanceof TorovError && e.code === "EBINARY" && message.test(e.message) && e.message.startsWith("prog: "),
  );
}

test("a minimal static executable parses", () => {
  const elf = parseElf(minimal(), "prog");
  assert.equal(elf.type, "exec");
  assert.equal(elf.entry, 0x400078);
  assert.equal(elf.loads.length, 1);
  assert.equal(elf.loads[0].vaddr, 0x400000);
});

test("real static programs parse: gcc, static-pie", () => {
  const exec = parseElf(readFileSync(guest("args")), "args");
  assert.equal(exec.type, "exec");
  assert.ok(exec.loads.length >= 2);
  const pie = parseElf(readFileSync(guest("args.pie")), "args.pie");
  assert.equal(pie.type, "dyn");
  assert.ok(pie.loads[0].vaddr < 0x10000);
});

test("not an ELF, truncated, 32-bit, big-endian, other machines", () => {
  rejects(Buffer.from("#!/bin/sh\necho hi\n"), /not an ELF executable/);
  rejects(minimal().subarray(0, 40), /truncated ELF file \(40 bytes/);
  const c32 = minimal();
  c32[4] = 1;
  rejects(c32, /32-bit ELF program; torov runs x86-64/);
  const be = minimal();
  be[5] = 2;
  rejects(be, /big-endian/);
  const arm = minimal();
  arm.writeUInt16LE(183, 0x12);
  rejects(arm, /for 64-bit ARM \(AArch64\); torov runs x86-64/);
  const odd = minimal();
  odd.writeUInt16LE(9999, 0x12);
  rejects(odd, /for machine type 9999/);
});

test("objects, core dumps and shared libraries are not programs", () => {
  const rel = minimal();
  rel.writeUInt16LE(1, 0x10);
  rejects(rel, /relocatable object file/);
  const core = minimal();
  core.writeUInt16LE(4, 0x10);
  rejects(core, /core dump/);
  const so = minimal();
  so.writeUInt16LE(3, 0x10);
  so.writeBigUInt64LE(0n, 0x18);
  rejects(so, /shared library/);
});

test("dynamically linked programs are refused with a hint", () => {
  rejects(readFileSync("/bin/true"), /dynamically linked \(it needs \/lib64\/ld-linux-x86-64\.so\.2\); .*rebuild it with -static/);
});

test("program headers and segments past the end of the file", () => {
  const b = minimal();
  b.writeUInt16LE(40, 0x38); // 40 headers
  rejects(b, /truncated: its program headers run past the end/);
  const s = minimal();
  s.writeBigUInt64LE(100000n, 64 + 32); // filesz
  s.writeBigUInt64LE(100000n, 64 + 40);
  rejects(s, /truncated: segment 0 needs bytes 0\.\.100000 but the file has 136/);
  const f = minimal();
  f.writeBigUInt64LE(10n, 64 + 40); // memsz < filesz
  rejects(f, /larger in the file/);
  const n = minimal();
  n.writeUInt16LE(0, 0x38);
  rejects(n, /no program headers/);
  const big = minimal();
  big.writeBigUInt64LE(0xffffffffffff0000n, 64 + 16);
  rejects(big, /segment 0 address 0xffffffffffff0000 is out of range/);
});

test("symbols from .symtab name addresses", () => {
  const syms = elfSymbols(readFileSync(guest("crash")));
  const main = syms.find((s) => s.name === "main");
  assert.ok(main && main.size > 0);
  assert.equal(symbolize(syms, main.value), "main");
  assert.equal(symbolize(syms, main.value + 5), "main+0x5");
  assert.equal(symbolize(syms, 1), undefined);
  assert.deepEqual(elfSymbols(Buffer.from("garbage")), []);
  assert.deepEqual(elfSymbols(minimal()), []);
});

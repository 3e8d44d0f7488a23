import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { TorovError } from "../../src/vmm/errors.js";
import { elfSymbols, parseElf, PT_INTERP, PT_LOAD, symbolize } from "../../src/vmm/elf.js";
import { closeProgram, loadImage, readImage } from "../../src/vmm/image.js";
import { guest, tempDir } from "../helpers.js";
import { FakeMachine } from "./fake-machine.js";

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

test("a dynamically linked program's interpreter is its PT_INTERP path", () => {
  const elf = parseElf(readFileSync("/bin/true"), "true");
  assert.equal(elf.interp, "/lib64/ld-linux-x86-64.so.2");
  assert.equal(parseElf(readFileSync(guest("args")), "args").interp, undefined);
});

/** minimal() with a second program header, a PT_INTERP of `bytes` (filesz `filesz`) put after the headers. */
function withInterp(bytes: Buffer, filesz = bytes.length): Buffer {
  const head = Buffer.alloc(64 + 2 * 56);
  minimal().copy(head, 0, 0, 64 + 56); // the header and its PT_LOAD
  head.writeUInt16LE(2, 0x38);
  const ph = 64 + 56;
  head.writeUInt32LE(PT_INTERP, ph);
  head.writeUInt32LE(4, ph + 4);
  head.writeBigUInt64LE(BigInt(head.length), ph + 8);
  head.writeBigUInt64LE(BigInt(filesz), ph + 32);
  head.writeBigUInt64LE(BigInt(filesz), ph + 40);
  const out = Buffer.concat([head, bytes]);
  out.writeBigUInt64LE(BigInt(out.length), 64 + 32); // the load covers the file
  out.writeBigUInt64LE(BigInt(out.length), 64 + 40);
  return out;
}

test("interpreter paths Linux refuses are refused: not NUL-terminated, too short or long, past the file, not UTF-8", () => {
  assert.equal(parseElf(withInterp(Buffer.from("/lib/ld.so\0")), "prog").interp, "/lib/ld.so");
  assert.equal(parseElf(withInterp(Buffer.from("/lib/ld.so\0junk\0")), "prog").interp, "/lib/ld.so");
  rejects(withInterp(Buffer.from("/lib/ld.so")), /^prog: its interpreter path \(PT_INTERP\) is not NUL-terminated: "\/lib\/ld\.so"$/);
  rejects(withInterp(Buffer.from("\0")), /^prog: its interpreter path \(PT_INTERP\) is 1 bytes long: Linux takes 2 to 4096/);
  rejects(withInterp(Buffer.from("\0\0")), /^prog: its interpreter path \(PT_INTERP\) is empty$/);
  rejects(withInterp(Buffer.alloc(5000, 0x61)), /^prog: its interpreter path \(PT_INTERP\) is 5000 bytes long/);
  rejects(withInterp(Buffer.from("/lib/ld.so\0"), 400), /^prog: truncated: its interpreter path \(PT_INTERP\) needs bytes \d+\.\.\d+ but the file has \d+$/);
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

// Regressions found by elf-fuzz.test.ts.

test("the interpreter's name is shown on one line, its odd bytes escaped", () => {
  rejects(withInterp(Buffer.from("/lib/ld\n\x1b[2J\x9b\0", "latin1")), /^prog: its interpreter path \(PT_INTERP\) is not UTF-8: "\/lib\/ld\\x0a\\x1b\[2J\\x9b"$/);
  rejects(withInterp(Buffer.from("/lib/ld\n\x1b[2J", "latin1")), /^prog: its interpreter path \(PT_INTERP\) is not NUL-terminated: "\/lib\/ld\\x0a\\x1b\[2J"$/);
});

test("entry points and segments beyond the 47-bit user address space are refused", () => {
  // A static-pie's entry is relocated: 2^53 - 1 would pass 2^53 and reach KVM as garbage.
  const pie = minimal();
  pie.writeUInt16LE(3, 0x10);
  pie.writeBigUInt64LE(2n ** 53n - 1n, 0x18);
  rejects(pie, /^prog: entry point 0x1fffffffffffff is out of range$/);
  const exec = minimal();
  exec.writeBigUInt64LE(2n ** 47n, 0x18);
  rejects(exec, /^prog: entry point 0x800000000000 is out of range$/);
  exec.writeBigUInt64LE(2n ** 47n - 1n, 0x18); // runs, and faults as it would on Linux
  assert.equal(parseElf(exec, "prog").entry, 2 ** 47 - 1);
  const seg = minimal();
  seg.writeBigUInt64LE(2n ** 47n - 0x1000n, 64 + 16);
  seg.writeBigUInt64LE(0x2000n, 64 + 40);
  rejects(seg, /^prog: segment 0 extends past the address space$/);
});

test("more program headers than Linux loads are refused before they are read", () => {
  const b = Buffer.concat([minimal(), Buffer.alloc(1200 * 56)]);
  b.writeUInt16LE(1171, 0x38);
  const t0 = performance.now();
  rejects(b, /^prog: has 1171 program headers, more than the 1170 \(64 KiB\) that Linux loads$/);
  b.writeUInt16LE(0xffff, 0x38);
  rejects(b, /has 65535 program headers/);
  assert.ok(performance.now() - t0 < 100);
});

test("errors about a segment number it as readelf does, among all program headers", () => {
  const b = Buffer.concat([minimal(), Buffer.alloc(56)]);
  b.copy(b, 64 + 56, 64, 64 + 56); // header 1: the PT_LOAD
  b.writeUInt32LE(4, 64); // header 0: a PT_NOTE
  b.writeUInt16LE(2, 0x38);
  b.writeBigUInt64LE(10n, 64 + 56 + 40); // memsz < filesz
  rejects(b, /^prog: segment 1 is larger in the file/);
});

/** A sparse copy of `bytes`, `size` bytes long, with `tail` written at `at`. */
function sparse(bytes: Buffer, size: number, tail?: { at: number; bytes: Buffer }): string {
  const path = join(tempDir(), "big");
  writeFileSync(path, bytes);
  const fd = openSync(path, "r+");
  try {
    writeSync(fd, tail?.bytes ?? Buffer.alloc(1), 0, tail?.bytes.length ?? 1, tail?.at ?? size - 1);
  } finally {
    closeSync(fd);
  }
  return path;
}

test("program headers past 4 GiB into the file: read alone, not with all before them", () => {
  const orig = minimal();
  const at = 5 * 2 ** 30;
  const b = Buffer.from(orig);
  b.writeBigUInt64LE(BigInt(at), 0x20);
  const program = readImage(sparse(b, at + 56, { at, bytes: orig.subarray(64, 64 + 56) }), undefined);
  closeProgram(program);
  assert.equal(program.elf?.phoff, at);
  assert.deepEqual(program.elf?.loads, parseElf(orig, "prog").loads);
});

test("a segment that must be copied from a file over 2 GiB is read alone", () => {
  const b = minimal();
  b.writeBigUInt64LE(0x400010n, 64 + 16); // not page-congruent with its offset: copied
  const program = readImage(sparse(b, 3 * 2 ** 30), undefined);
  const m = new FakeMachine(256);
  try {
    loadImage(m.native, program, 256);
  } finally {
    closeProgram(program);
  }
  assert.ok(m.read(0x400010, b.length).equals(b));
});

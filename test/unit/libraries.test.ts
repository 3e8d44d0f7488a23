// qXfer:libraries-svr4 (src/gdbstub/commands/libraries.ts): the library
// list as gdbserver writes it, made from the loader's r_debug and link_map
// in guest memory; and what a corrupt list gives (a shorter list, never a
// hang or a throw).

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { librariesSvr4 } from "../../src/gdbstub/commands/libraries.js";
import type { DebugTarget } from "../../src/gdbstub/target.js";
import { fuzzOptions } from "../fuzz-settings.js";

/** Guest memory as pieces at addresses; a read returns what is there from addr on, within one piece. */
class Memory {
  readonly pieces: Array<[bigint, Buffer]> = [];
  put(addr: bigint, bytes: Buffer): void {
    this.pieces.push([addr, bytes]);
  }
  u64s(addr: bigint, values: bigint[]): void {
    const b = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => b.writeBigUInt64LE(BigInt.asUintN(64, v), i * 8));
    this.put(addr, b);
  }
  read(addr: bigint, length: number): Buffer | undefined {
    for (const [at, b] of this.pieces) {
      if (addr >= at && addr < at + BigInt(b.length)) return b.subarray(Number(addr - at), Number(addr - at) + length);
    }
    return undefined;
  }
}

const BIAS = 0x555555554000n;
const PHDR = BIAS + 0x40n, DYNAMIC = BIAS + 0x3df0n, R_DEBUG = 0x7ffff7ffd118n;

/** A PIE program with PT_PHDR and PT_DYNAMIC, its DT_DEBUG pointing at r_debug, and link_maps for `names`. */
function program(names: string[]): { mem: Memory; target: DebugTarget; maps: bigint[] } {
  const mem = new Memory();
  const phdrs = Buffer.alloc(3 * 56);
  const ph = (i: number, type: number, vaddr: bigint) => {
    phdrs.writeUInt32LE(type, i * 56);
    phdrs.writeBigUInt64LE(vaddr, i * 56 + 16);
  };
  ph(0, 6 /* PT_PHDR */, 0x40n);
  ph(1, 1 /* PT_LOAD */, 0n);
  ph(2, 2 /* PT_DYNAMIC */, 0x3df0n);
  mem.put(PHDR, phdrs);
  mem.u64s(DYNAMIC, [1n, 0x10n, 21n /* DT_DEBUG */, R_DEBUG, 0n, 0n]);
  const maps = [BIAS + 0x10000n, ...names.slice(1).map((_, i) => 0x7ffff7fc0000n + BigInt(i) * 0x1000n)];
  mem.u64s(R_DEBUG, [1n, maps[0], 0x7ffff7fd5000n, 0n, 0x7ffff7fc3000n]);
  names.forEach((name, i) => {
    const nameAt = 0x7ffff7f00000n + BigInt(i) * 0x100n;
    mem.put(nameAt, Buffer.from(`${name}\0`));
    const lAddr = i === 0 ? BIAS : 0x7ffff7d00000n + BigInt(i) * 0x100000n;
    mem.u64s(maps[i], [lAddr, nameAt, lAddr + 0x1000n, maps[i + 1] ?? 0n, i ? maps[i - 1] : 0n]);
  });
  const auxv = Buffer.alloc(4 * 16);
  [[3n, PHDR], [4n, 56n], [5n, 3n], [0n, 0n]].forEach(([k, v], i) => {
    auxv.writeBigUInt64LE(k, i * 16);
    auxv.writeBigUInt64LE(v, i * 16 + 8);
  });
  const target = { auxv: () => auxv, readMemory: (addr: bigint, n: number) => mem.read(addr, n) } as unknown as DebugTarget;
  return { mem, target, maps };
}

test("the list is the loader's, as gdbserver writes it: main-lm the program's link_map, then each library by name", () => {
  const { target, maps } = program(["", "/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/opt/a&b<c>.so"]);
  assert.equal(
    librariesSvr4(target),
    `<library-list-svr4 version="1.0" main-lm="0x${maps[0].toString(16)}">` +
      `<library name="/lib64/ld-linux-x86-64.so.2" lm="0x${maps[1].toString(16)}" l_addr="0x7ffff7e00000" l_ld="0x7ffff7e01000"/>` +
      `<library name="/lib/x86_64-linux-gnu/libc.so.6" lm="0x${maps[2].toString(16)}" l_addr="0x7ffff7f00000" l_ld="0x7ffff7f01000"/>` +
      `<library name="/opt/a&amp;b&lt;c&gt;.so" lm="0x${maps[3].toString(16)}" l_addr="0x7ffff8000000" l_ld="0x7ffff8001000"/>` +
      "</library-list-svr4>",
  );
});

test("before the loader has set DT_DEBUG, and for a static program, the list is empty", () => {
  const { mem, target } = program(["", "/lib/libc.so.6"]);
  mem.pieces.unshift([DYNAMIC, Buffer.alloc(32)]); // DT_NULL first: no DT_DEBUG
  assert.equal(librariesSvr4(target), '<library-list-svr4 version="1.0"/>');
  const none = { auxv: () => Buffer.alloc(16), readMemory: () => undefined } as unknown as DebugTarget;
  assert.equal(librariesSvr4(none), '<library-list-svr4 version="1.0"/>');
});

test("a list that loops back ends where it stops being a list", () => {
  const { mem, target, maps } = program(["", "/a.so", "/b.so", "/c.so"]);
  // b.so's l_next back to a.so: its link_map again, first in memory.
  const b = Buffer.from(mem.read(maps[2], 40)!);
  b.writeBigUInt64LE(maps[1], 24);
  mem.pieces.unshift([maps[2], b]);
  const looped = librariesSvr4(target);
  assert.match(looped, /\/a\.so.*\/b\.so/);
  assert.doesNotMatch(looped, /\/c\.so/);
});

test("any bytes where the list should be: a document, never a throw", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 40, maxLength: 400 }), fc.nat(360), (bytes, cut) => {
      const { mem, target, maps } = program(["", "/a.so", "/b.so"]);
      mem.pieces.unshift([maps[1], Buffer.from(bytes)]);
      mem.pieces.unshift([R_DEBUG + 8n, Buffer.from(bytes.subarray(cut % bytes.length))]);
      const xml = librariesSvr4(target);
      assert.match(xml, /^<library-list-svr4 version="1\.0"/);
    }),
    fuzzOptions(500, 18),
  );
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { TorovError } from "../../src/vmm/errors.js";
import { appHighFor, pageDown, pageUp, planLayout, STACK_GUARD, STACK_SIZE } from "../../src/vmm/layout.js";
import { MAX_MEMORY_MIB } from "../../src/vmm/manifest.js";
import { AT_ENTRY, AT_EXECFN, AT_NULL, AT_PAGESZ, AT_PLATFORM, AT_RANDOM, buildStack } from "../../src/vmm/stack.js";

const MiB = 1 << 20;

test("the image, heap, mmap area and stack are placed in order", () => {
  const l = planLayout(0x10000, 250 * MiB, 0x400000, 0x4a1234, 256, "prog");
  assert.equal(l.brk, 0x4a2000);
  assert.equal(l.stackHigh, 250 * MiB);
  assert.equal(l.stackLow, 250 * MiB - STACK_SIZE);
  assert.equal(l.mmapTop, l.stackLow - STACK_GUARD);
  assert.ok(l.brk < l.mmapTop);
});

test("an image that does not fit asks for more Memory", () => {
  assert.throws(
    () => planLayout(0x10000, 14 * MiB, 0x400000, 0x800000, 16, "big"),
    (e: unknown) => e instanceof TorovError && e.code === "EMEMORY" && /big: does not fit in Memory \(16 MiB\).*set "Memory" to at least \d+/.test(e.message),
  );
});

test("the Memory it asks for is the least that holds the image, page tables and all", () => {
  const advice = (memoryMiB: number, imageHigh: number) => {
    try {
      planLayout(0x10000, appHighFor(memoryMiB), 0x400000, imageHigh, memoryMiB, "big");
      return undefined;
    } catch (e) {
      const m = /set "Memory" to at least (\d+)$/.exec((e as Error).message);
      assert.ok(m, (e as Error).message);
      return Number(m[1]);
    }
  };
  // A GiB image in 16 MiB: its page tables alone take 2 MiB more than the image.
  for (const [memoryMiB, imageHigh] of [[16, 0x40000000], [16, 0x1000000], [2048, 0x100000000], [4096, 0x200000000]]) {
    const need = advice(memoryMiB, imageHigh);
    assert.ok(need !== undefined && need > memoryMiB && need <= MAX_MEMORY_MIB);
    assert.equal(advice(need, imageHigh), undefined, `${need} MiB holds it`);
    assert.notEqual(advice(need - 1, imageHigh), undefined, `${need - 1} MiB does not`);
  }
});

test("an image beyond the most Memory there is: no advice to follow", () => {
  for (const imageHigh of [MAX_MEMORY_MIB * MiB, 2 ** 47, 2 ** 53 - 1])
    assert.throws(
      () => planLayout(0x10000, appHighFor(16), 0x400000, imageHigh, 16, "far"),
      (e: unknown) => e instanceof TorovError && e.code === "EBINARY" && /^far: needs addresses up to 0x[0-9a-f]+, beyond the most Memory a guest can have \(65536 MiB\)$/.test(e.message),
    );
});

test("an image below the runtime's area is refused", () => {
  assert.throws(() => planLayout(0x10000, 250 * MiB, 0x1000, 0x2000, 256, "low"), /linked at 0x1000, below 0x10000/);
});

test("page rounding", () => {
  assert.equal(pageDown(0x1fff), 0x1000);
  assert.equal(pageUp(0x1001), 0x2000);
  assert.equal(pageUp(0x1000), 0x1000);
});

test("the initial stack is laid out as Linux does", () => {
  const mem = new ArrayBuffer(1 << 20);
  const top = 1 << 20;
  const random = new Uint8Array(16).fill(7);
  const built = buildStack(top, 0, {
    argv: ["prog", "-x", "hello world"],
    envp: ["A=1", "B=two"],
    execfn: "prog",
    random,
    auxv: [[AT_PAGESZ, 4096], [AT_ENTRY, 0x401000]],
  });
  new Uint8Array(mem).set(built.bytes, built.rsp);
  const v = new DataView(mem);
  const u64 = (a: number) => Number(v.getBigUint64(a, true));
  const str = (a: number) => {
    let e = a;
    while (new Uint8Array(mem)[e]) e++;
    return Buffer.from(mem, a, e - a).toString();
  };
  assert.equal(built.rsp % 16, 0);
  let p = built.rsp;
  assert.equal(u64(p), 3);
  const argv = [1, 2, 3].map((i) => str(u64(p + 8 * i)));
  assert.deepEqual(argv, ["prog", "-x", "hello world"]);
  assert.equal(u64(p + 32), 0);
  p += 40;
  assert.deepEqual([str(u64(p)), str(u64(p + 8))], ["A=1", "B=two"]);
  assert.equal(u64(p + 16), 0);
  p += 24;
  assert.equal(p, built.auxvAddr);
  const aux = new Map<number, number>();
  for (; u64(p) !== AT_NULL; p += 16) aux.set(u64(p), u64(p + 8));
  assert.equal(aux.get(AT_PAGESZ), 4096);
  assert.equal(aux.get(AT_ENTRY), 0x401000);
  assert.equal(str(aux.get(AT_EXECFN)!), "prog");
  assert.equal(str(aux.get(AT_PLATFORM)!), "x86_64");
  assert.deepEqual([...new Uint8Array(mem, aux.get(AT_RANDOM)!, 16)], [...random]);
  // argv strings are ascending and followed by the environment strings.
  assert.ok(u64(built.rsp + 8) < u64(built.rsp + 16) && u64(built.rsp + 24) < u64(built.rsp + 40));
});

test("arguments that do not fit on the stack", () => {
  assert.throws(() => buildStack(1 << 16, 1 << 15, { argv: ["x".repeat(40000)], envp: [], execfn: "x", random: new Uint8Array(16), auxv: [] }), RangeError);
});

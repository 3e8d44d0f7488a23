import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_HYPERCALL, SYSCALL_SET_BYTES, bitmapHas, inSyscallRange, syscallBitmap } from "../../src/vmm/syscall-set.js";

// The wire format, bit by bit, as native/syscall_set.h reads it.
const bit = (bits: Uint8Array, nr: number) => ((bits[Math.floor(nr / 8)] >> nr % 8) & 1) === 1;

test("the bitmap is the addon's size: 512 numbers, 64 bytes", () => {
  assert.equal(MAX_HYPERCALL, 512);
  assert.equal(SYSCALL_SET_BYTES, 64);
  assert.equal(syscallBitmap([]).length, 64);
  assert.equal(syscallBitmap("all").length, 64);
  assert.ok(syscallBitmap([1]) instanceof Uint8Array);
});

test("a list sets exactly its numbers, bit nr % 8 of byte nr / 8", () => {
  const numbers = [0, 1, 7, 8, 60, 231, 511];
  const bits = syscallBitmap(numbers);
  for (let nr = 0; nr < MAX_HYPERCALL; nr++) {
    assert.equal(bit(bits, nr), numbers.includes(nr), `nr ${nr}`);
    assert.equal(bitmapHas(bits, nr), numbers.includes(nr), `nr ${nr}`);
  }
  assert.equal(bits[0], 0b1000_0011);
  assert.equal(bits[1], 1);
  assert.equal(bits[63], 0x80);
});

test("an empty list sets nothing; \"all\" sets every number", () => {
  assert.ok(syscallBitmap([]).every((b) => b === 0));
  assert.ok(syscallBitmap("all").every((b) => b === 0xff));
});

test("any iterable will do, and repeats change nothing", () => {
  assert.deepEqual(syscallBitmap(new Set([3, 9])), syscallBitmap([9, 3, 3, 9]));
});

test("numbers out of range are left out, without touching the others", () => {
  const bad = [-1, -8, -512, 512, 513, 1023, 2 ** 32, Number.MAX_SAFE_INTEGER, 1.5, NaN, Infinity, -Infinity];
  assert.ok(syscallBitmap(bad).every((b) => b === 0));
  assert.deepEqual(syscallBitmap([...bad, 2]), syscallBitmap([2]));
  // What a wrapping index would have hit: 512 -> 0, -1 -> 511, 1.5 -> 1.
  const bits = syscallBitmap([512, -1, 1.5]);
  assert.ok(!bitmapHas(bits, 0) && !bitmapHas(bits, 511) && !bitmapHas(bits, 1));
});

test("bitmapHas is false for any number out of range, even in \"all\"", () => {
  const all = syscallBitmap("all");
  assert.ok(bitmapHas(all, 0) && bitmapHas(all, 511));
  for (const nr of [-1, 512, 4096, 2 ** 53, 0.5, NaN]) {
    assert.ok(!inSyscallRange(nr), `${nr}`);
    assert.ok(!bitmapHas(all, nr), `${nr}`);
  }
});

// What the debugger loads into the four debug registers (native/debug.cc)
// for GDB's hbreaks and watchpoints, where KVM honours them (VT-x, AMD-V).
// The hosts the tests run on may not have that mechanism: the encoding is
// checked here, against the Intel SDM's DR7 layout, without a VM.
import assert from "node:assert/strict";
import { test } from "node:test";
import { native } from "../../src/vmm/native.js";

const plan = native().planDebugRegisters;
// DR7: L<n> at bit 2n; R/W<n> at 16 + 4n (00 execute, 01 write, 11 read or
// write); LEN<n> at 18 + 4n (00 one byte, 01 two, 11 four, 10 eight); bit 10 reads as 1.
const L = (n: number) => 1n << BigInt(2 * n);
const RW = (n: number, rw: number) => BigInt(rw) << BigInt(16 + 4 * n);
const LEN = (n: number, bytes: number) => BigInt({ 1: 0, 2: 1, 4: 3, 8: 2 }[bytes]!) << BigInt(18 + 4 * n);
const BIT10 = 1n << 10n;

test("an hbreak is an execute breakpoint of length 1", () => {
  const p = plan([0x401000n], []);
  assert.deepEqual(p, { used: 1, dr7: BIT10 | L(0), slots: [{ addr: 0x401000n, watch: -1 }] });
});

test("watch, rwatch and awatch of an aligned int: one register each, write or read/write", () => {
  assert.equal(plan([], [{ addr: 0x4a72d0n, len: 4, kind: "w" }])!.dr7, BIT10 | L(0) | RW(0, 1) | LEN(0, 4));
  // x86 has no read-only breakpoint: rwatch is read/write, reads told apart by the bytes.
  assert.equal(plan([], [{ addr: 0x4a72d0n, len: 4, kind: "r" }])!.dr7, BIT10 | L(0) | RW(0, 3) | LEN(0, 4));
  assert.equal(plan([], [{ addr: 0x4a72d0n, len: 4, kind: "a" }])!.dr7, BIT10 | L(0) | RW(0, 3) | LEN(0, 4));
});

test("a range is split into aligned pieces of 1, 2, 4 or 8 bytes, in order", () => {
  // 7 bytes from 0x1001: 1 at 0x1001, 2 at 0x1002, 4 at 0x1004.
  const p = plan([], [{ addr: 0x1001n, len: 7, kind: "w" }])!;
  assert.deepEqual(
    p.slots.map((s) => s.addr),
    [0x1001n, 0x1002n, 0x1004n],
  );
  assert.equal(p.dr7, BIT10 | L(0) | L(1) | L(2) | RW(0, 1) | RW(1, 1) | RW(2, 1) | LEN(0, 1) | LEN(1, 2) | LEN(2, 4));
  // 16 aligned bytes: two eight-byte registers, both for watch 0.
  const q = plan([], [{ addr: 0x2000n, len: 16, kind: "w" }])!;
  assert.deepEqual(q.slots, [
    { addr: 0x2000n, watch: 0 },
    { addr: 0x2008n, watch: 0 },
  ]);
  assert.equal(q.dr7 & (LEN(0, 8) | LEN(1, 8)), LEN(0, 8) | LEN(1, 8));
});

test("hbreaks come first, then the watches, each register naming its watch", () => {
  const p = plan([0x401000n, 0x401100n], [{ addr: 0x3000n, len: 1, kind: "w" }, { addr: 0x3008n, len: 8, kind: "r" }])!;
  assert.deepEqual(
    p.slots.map((s) => s.watch),
    [-1, -1, 0, 1],
  );
  assert.equal(p.dr7, BIT10 | L(0) | L(1) | L(2) | L(3) | RW(2, 1) | LEN(2, 1) | RW(3, 3) | LEN(3, 8));
});

test("what does not fit in four registers is not planned at all", () => {
  assert.equal(plan([1n, 2n, 3n, 4n, 5n], []), null);
  assert.equal(plan([], [{ addr: 0x1001n, len: 15, kind: "w" }])!.used, 4); // 1 + 2 + 4 + 8
  assert.equal(plan([], [{ addr: 0x1001n, len: 14, kind: "w" }]), null); // 1 + 2 + 4 + 4 + 2 + 1
  assert.equal(plan([0x401000n], [{ addr: 0x2000n, len: 32, kind: "w" }]), null);
  assert.deepEqual(plan([], []), { used: 0, dr7: BIT10, slots: [] });
});

test("bad arguments get one clear error", () => {
  assert.throws(() => plan([1 as unknown as bigint], []), /Expected planDebugRegisters\(breaks: bigint\[\]/);
  assert.throws(() => plan([], [{ addr: 1n, len: 0, kind: "w" }]), /Expected planDebugRegisters/);
  assert.throws(() => plan([], [{ addr: 1n, len: 1, kind: "x" as "w" }]), /Expected planDebugRegisters/);
});

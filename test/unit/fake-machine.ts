// A model of the native Machine's loader methods (addMapping, write, fill,
// snapshotProgram, mapProgram, copyProgram) for unit tests of
// src/vmm/image.ts: no KVM, and stricter than native, so that a loader bug
// shows as a failed assertion or a RangeError.

import assert from "node:assert/strict";
import { readSync } from "node:fs";
import { PAGE, pageUp } from "../../src/vmm/layout.js";
import type { NativeMachine } from "../../src/vmm/native.js";

export const RT_LIMIT = 0x10000;
const MiB = 1 << 20;

/** appHigh as native/memory.cc computes it: RAM less the page-table pool. */
export function appHighFor(memoryMiB: number): number {
  const size = Math.ceil(memoryMiB / 2) * 2 * MiB;
  const pool = 2 + Math.ceil(size / (1 << 30)) + size / (2 * MiB);
  return size - pool * PAGE;
}

/**
 * NativeMachine's loader methods, with native's bounds checks made strict:
 * bytes may only go into pages the loader mapped first. Guest RAM is
 * simulated page by page, so what the loader put where can be checked.
 */
export class FakeMachine {
  readonly appLow = RT_LIMIT;
  readonly appHigh: number;
  readonly mapped: Array<{ start: number; end: number; prot: number }> = [];
  private readonly pages = new Map<number, Uint8Array>();
  /** The program's copy, as snapshotProgram took it: bytes by file offset, and which offsets it holds. */
  private copy: { bytes: Buffer; ranges: Array<[number, number]> } | undefined;

  /** `file`: the program's bytes, to check the copy against; without them mapProgram fails and the loader copies. */
  constructor(
    memoryMiB: number,
    private readonly file?: Buffer,
  ) {
    this.appHigh = appHighFor(memoryMiB);
  }

  addMapping(start: number, end: number, prot: number, kind: string, name?: string): boolean {
    assert.equal(kind, "image");
    assert.equal(typeof name, "string");
    for (const v of [start, end, prot]) assert.ok(Number.isSafeInteger(v), `addMapping(${start}, ${end}, ${prot}): not an integer`);
    start -= start % PAGE;
    end = pageUp(end);
    if (start < this.appLow || start >= end || end > this.appHigh) return false;
    if (this.mapped.some((m) => m.start < end && start < m.end)) return false;
    this.mapped.push({ start, end, prot });
    return true;
  }

  private check(what: string, addr: number, length: number): void {
    if (!Number.isSafeInteger(addr) || !Number.isSafeInteger(length) || length < 0)
      throw new RangeError(`${what}: ${addr}+${length} is not a range`);
    if (length === 0) return;
    for (let a = addr - (addr % PAGE); a < addr + length; a += PAGE)
      if (!this.mapped.some((m) => m.start <= a && a < m.end))
        throw new RangeError(`${what}: 0x${addr.toString(16)}+${length} reaches 0x${a.toString(16)}, which the loader did not map`);
  }

  private page(a: number): Uint8Array {
    let p = this.pages.get(a / PAGE);
    if (!p) this.pages.set(a / PAGE, (p = new Uint8Array(PAGE)));
    return p;
  }

  private put(addr: number, bytes: Uint8Array): void {
    for (let i = 0; i < bytes.length; ) {
      const a = addr + i;
      const n = Math.min(bytes.length - i, PAGE - (a % PAGE));
      this.page(a - (a % PAGE)).set(bytes.subarray(i, i + n), a % PAGE);
      i += n;
    }
  }

  read(addr: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; ) {
      const a = addr + i;
      const n = Math.min(length - i, PAGE - (a % PAGE));
      const p = this.pages.get((a - (a % PAGE)) / PAGE);
      if (p) out.set(p.subarray(a % PAGE, (a % PAGE) + n), i);
      i += n;
    }
    return out;
  }

  write(addr: number, bytes: Uint8Array): void {
    this.check("write", addr, bytes.length);
    this.put(addr, bytes);
  }

  fill(addr: number, length: number, byte: number): void {
    this.check("fill", addr, length);
    this.put(addr, new Uint8Array(length).fill(byte));
  }

  snapshotProgram(fd: number, ranges: number[]): void {
    assert.ok(fd >= 0);
    assert.equal(this.copy, undefined, "snapshotProgram twice");
    assert.equal(ranges.length % 2, 0);
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < ranges.length; i += 2) {
      const [start, end] = [ranges[i], ranges[i + 1]];
      assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start < end, `range ${start}..${end}`);
      pairs.push([start, end]);
    }
    const size = Math.max(0, ...pairs.map(([, e]) => e));
    // The copy is as large as its last range: a bound the loader must keep
    // (programs name offsets far into sparse files).
    assert.ok(size <= 2 ** 31, `a copy of ${size} bytes`);
    const bytes = Buffer.alloc(size);
    for (const [start, end] of pairs) {
      for (let at = start; at < end; ) {
        const n = readSync(fd, bytes, at, end - at, at);
        assert.ok(n > 0, `the file ends at ${at}, inside range ${start}..${end}`);
        at += n;
      }
    }
    if (this.file) for (const [start, end] of pairs) assert.ok(bytes.subarray(start, end).equals(this.file.subarray(start, end)));
    this.copy = { bytes, ranges: pairs };
  }

  /** Bytes of the copy, which must hold them all (what lies between its ranges is not the program's). */
  private fromCopy(what: string, offset: number, length: number, pageRounded: boolean): Buffer {
    assert.ok(this.copy, `${what} before snapshotProgram`);
    const { bytes, ranges } = this.copy;
    // Mapped pages: the page's bytes past the range's end are zeros, which
    // the loader clears anyway; those before its start must be in it.
    const held = (a: number) => ranges.some(([s, e]) => s <= a && a < (pageRounded ? pageUp(e) : e));
    for (let a = offset; a < offset + length; a += a % PAGE ? PAGE - (a % PAGE) : PAGE)
      assert.ok(held(a) && held(Math.min(offset + length, a - (a % PAGE) + PAGE) - 1), `${what}: file bytes ${offset}..${offset + length} are not all in the copy`);
    const out = Buffer.alloc(length);
    bytes.copy(out, 0, offset, Math.min(offset + length, bytes.length));
    return out;
  }

  mapProgram(addr: number, length: number, offset: number): boolean {
    // native: false outside the application or unaligned; the caller copies.
    if (addr < RT_LIMIT || addr > this.appHigh || length > this.appHigh - addr) return false;
    if (!this.file || length === 0 || addr % PAGE || length % PAGE || offset % PAGE) return false;
    this.check("mapProgram", addr, length);
    // A private mapping of a page past the copy's end faults (SIGBUS) when
    // touched: the loader must never map one (native refuses).
    assert.ok(this.copy && offset + length <= pageUp(this.copy.bytes.length), `mapProgram: bytes ${offset}..${offset + length} past the copy's end`);
    this.put(addr, this.fromCopy("mapProgram", offset, length, true));
    return true;
  }

  copyProgram(addr: number, offset: number, length: number): void {
    this.check("copyProgram", addr, length);
    this.put(addr, this.fromCopy("copyProgram", offset, length, false));
  }

  /** As the loader takes it. */
  get native(): NativeMachine {
    return this as unknown as NativeMachine;
  }
}

// A model of the native Machine's loader methods (addMapping, write, fill,
// mapFile) for unit tests of src/vmm/image.ts: no KVM, and stricter than
// native, so that a loader bug shows as a failed assertion or a RangeError.

import assert from "node:assert/strict";
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

  /** `file`: the program's bytes, for mapFile (without them mapFile fails and the loader copies). */
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

  mapFile(addr: number, length: number, fd: number, offset: number): boolean {
    assert.ok(fd >= 0);
    // native: false outside the application or unaligned; the caller copies.
    if (addr < RT_LIMIT || addr > this.appHigh || length > this.appHigh - addr) return false;
    if (!this.file || length === 0 || addr % PAGE || length % PAGE || offset % PAGE) return false;
    this.check("mapFile", addr, length);
    // A private mapping of a file page past its end faults (SIGBUS) when the
    // guest touches it: the loader must never map one.
    assert.ok(offset + length <= pageUp(this.file.length), `mapFile: file bytes ${offset}..${offset + length} past the end (${this.file.length})`);
    const bytes = Buffer.alloc(length);
    this.file.copy(bytes, 0, offset, offset + length);
    this.put(addr, bytes);
    return true;
  }

  /** As the loader takes it. */
  get native(): NativeMachine {
    return this as unknown as NativeMachine;
  }
}

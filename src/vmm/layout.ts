// Where things go in the application's part of guest memory (native/memory.h
// has the whole map; the runtime sits below appLow, page tables above appHigh):
//
//   appLow                                                             appHigh
//   | image | brk ->        ...free...        <- mmap | guard | stack (8 MiB) |
//
// Guest virtual == guest physical, so the program's link addresses must lie
// inside guest RAM: ET_EXEC programs usually start at 0x400000, which any
// Memory of 16 MiB or more holds. Static-pie programs are loaded at PIE_BASE.

import { TorovError } from "./errors.js";
import { MAX_MEMORY_MIB } from "./manifest.js";

export const PAGE = 4096;
const MiB = 1 << 20;
export const STACK_SIZE = 8 << 20; // RLIMIT_STACK's usual 8 MiB, mapped up front
export const STACK_GUARD = 1 << 20; // unmapped: running off the stack faults, as Linux's guard gap
export const MIN_HEAP = 1 << 20;
export const PIE_BASE = 0x400000;
export const FLAT_DEFAULT_START = 0x400200; // ToroV's load address for flat binaries

export const pageDown = (a: number) => a - (a % PAGE);
export const pageUp = (a: number) => Math.ceil(a / PAGE) * PAGE;

export interface Layout {
  readonly appLow: number;
  readonly appHigh: number;
  readonly imageLow: number;
  readonly imageHigh: number;
  /** Initial program break: the first page after the image. */
  readonly brk: number;
  readonly stackLow: number;
  readonly stackHigh: number;
  /** Where top-down mmap allocation starts. */
  readonly mmapTop: number;
}

export const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * appHigh for a Memory of `mib` MiB, as native/memory.cc places it: guest RAM
 * comes in 2 MiB units and ends with the page tables, one per 2 MiB, one
 * directory per GiB, and the PML4 and PDPT.
 */
export function appHighFor(mib: number): number {
  const ram = Math.ceil(mib / 2) * 2 * MiB;
  return ram - (2 + Math.ceil(ram / (1024 * MiB)) + ram / (2 * MiB)) * PAGE;
}

/** Checks that an image spanning [imageLow, imageHigh) fits and places the rest. */
export function planLayout(appLow: number, appHigh: number, imageLow: number, imageHigh: number, memoryMiB: number, name: string): Layout {
  const stackHigh = appHigh;
  const stackLow = stackHigh - STACK_SIZE;
  const mmapTop = stackLow - STACK_GUARD;
  if (imageLow < appLow)
    throw new TorovError(`${name}: is linked at ${hex(imageLow)}, below ${hex(appLow)} where the torov runtime lives (Linux does not map below 0x10000 either)`, "EBINARY");
  const brk = pageUp(imageHigh);
  if (brk + MIN_HEAP > mmapTop) {
    // The least Memory whose application area holds the image, heap and stack.
    const drift = appHigh - appHighFor(memoryMiB); // 0 while this agrees with native/memory.cc
    const fits = (mib: number) => appHighFor(mib) + drift - STACK_SIZE - STACK_GUARD >= brk + MIN_HEAP;
    if (!fits(MAX_MEMORY_MIB))
      throw new TorovError(`${name}: needs addresses up to ${hex(imageHigh)}, beyond the most Memory a guest can have (${MAX_MEMORY_MIB} MiB)`, "EBINARY");
    let [lo, needMiB] = [memoryMiB, MAX_MEMORY_MIB];
    while (needMiB - lo > 1) {
      const mid = Math.floor((lo + needMiB) / 2);
      if (fits(mid)) needMiB = mid;
      else lo = mid;
    }
    throw new TorovError(
      `${name}: does not fit in Memory (${memoryMiB} MiB): it needs addresses up to ${hex(imageHigh)} plus heap and stack; set "Memory" to at least ${needMiB}`,
      "EMEMORY",
    );
  }
  return { appLow, appHigh, imageLow, imageHigh, brk, stackLow, stackHigh, mmapTop };
}

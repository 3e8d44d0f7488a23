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

export const PAGE = 4096;
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

const hex = (n: number) => `0x${n.toString(16)}`;

/** Checks that an image spanning [imageLow, imageHigh) fits and places the rest. */
export function planLayout(appLow: number, appHigh: number, imageLow: number, imageHigh: number, memoryMiB: number, name: string): Layout {
  const stackHigh = appHigh;
  const stackLow = stackHigh - STACK_SIZE;
  const mmapTop = stackLow - STACK_GUARD;
  if (imageLow < appLow)
    throw new TorovError(`${name}: is linked at ${hex(imageLow)}, below ${hex(appLow)} where the torov runtime lives (Linux does not map below 0x10000 either)`, "EBINARY");
  const brk = pageUp(imageHigh);
  if (brk + MIN_HEAP > mmapTop) {
    const needMiB = Math.ceil((brk + MIN_HEAP + STACK_GUARD + STACK_SIZE + (memoryMiB << 20) - appHigh) / (1 << 20));
    throw new TorovError(
      `${name}: does not fit in Memory (${memoryMiB} MiB): it needs addresses up to ${hex(imageHigh)} plus heap and stack; set "Memory" to at least ${Math.max(needMiB, memoryMiB + 1)}`,
      "EMEMORY",
    );
  }
  return { appLow, appHigh, imageLow, imageHigh, brk, stackLow, stackHigh, mmapTop };
}

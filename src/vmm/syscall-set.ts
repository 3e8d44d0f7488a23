// Sets of Linux x86-64 syscall (hypercall) numbers as the addon takes them:
// the policy's allowed numbers, the debugger's catch-syscall list and the
// trace filter. The wire format is a Uint8Array of MAX_HYPERCALL / 8 bytes,
// bit nr % 8 of byte nr / 8 for number nr; native/syscall_set.h reads it.

/** Linux x86-64 numbers are below this (kMaxHypercall in native/syscall_set.h). */
export const MAX_HYPERCALL = 512;
/** The bitmap's length in bytes. */
export const SYSCALL_SET_BYTES = MAX_HYPERCALL / 8;

/** Whether `nr` fits in the bitmap: an integer from 0 to MAX_HYPERCALL - 1. */
export function inSyscallRange(nr: number): boolean {
  return Number.isInteger(nr) && nr >= 0 && nr < MAX_HYPERCALL;
}

/**
 * The bitmap of `numbers`, or of every number for "all". A number out of
 * range (negative, MAX_HYPERCALL or more, not an integer) is left out: no
 * such call can be in the set.
 */
export function syscallBitmap(numbers: Iterable<number> | "all"): Uint8Array {
  const bits = new Uint8Array(SYSCALL_SET_BYTES);
  if (numbers === "all") return bits.fill(0xff);
  for (const nr of numbers) if (inSyscallRange(nr)) bits[nr >> 3] |= 1 << (nr & 7);
  return bits;
}

/** Whether the bitmap has `nr` (false for any number out of range). */
export function bitmapHas(bits: Uint8Array, nr: number): boolean {
  return inSyscallRange(nr) && ((bits[nr >> 3] >> (nr & 7)) & 1) === 1;
}

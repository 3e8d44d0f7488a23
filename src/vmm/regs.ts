// The application's registers as the native side hands them over: the
// UserRegs layout of native/debug.h (984 bytes, little-endian).
//
//   0    gpr[16]  rax rbx rcx rdx rsi rdi rbp rsp r8 ... r15
//   128  rip, rflags
//   144  seg[6]   cs ss ds es fs gs
//   192  fs_base, gs_base, orig_rax
//   216  fxsave[512]   x87, MXCSR, XMM0-15 in FXSAVE layout
//   728  ymmh[256]     upper halves of YMM0-15

export const REGS_SIZE = 984;

export const GPR_NAMES = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"] as const;
export type GprName = (typeof GPR_NAMES)[number];
export type RegName = GprName | "rip" | "eflags" | "cs" | "ss" | "ds" | "es" | "fs" | "gs" | "fs_base" | "gs_base" | "orig_rax";

/** Byte offsets of the integer registers (8 bytes each). */
export const REG_OFFSET: Readonly<Record<RegName, number>> = {
  ...(Object.fromEntries(GPR_NAMES.map((n, i) => [n, i * 8])) as Record<GprName, number>),
  rip: 128, eflags: 136, cs: 144, ss: 152, ds: 160, es: 168, fs: 176, gs: 184, fs_base: 192, gs_base: 200, orig_rax: 208,
};
export const FXSAVE_OFFSET = 216;
export const YMMH_OFFSET = 728;

export function getReg(regs: Buffer, name: RegName): bigint {
  return regs.readBigUInt64LE(REG_OFFSET[name]);
}

export function setReg(regs: Buffer, name: RegName, value: bigint): void {
  regs.writeBigUInt64LE(BigInt.asUintN(64, value), REG_OFFSET[name]);
}

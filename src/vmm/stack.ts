// The initial stack of a Linux process, as the kernel lays it out
// (fs/binfmt_elf.c create_elf_tables), from the top of the stack down:
//
//   [0]                          end marker
//   program name string          (AT_EXECFN)
//   environment strings, argument strings
//   "x86_64", 16 random bytes    (AT_PLATFORM, AT_RANDOM)
//   padding to 16 bytes
//   auxv pairs ... AT_NULL
//   envp[] NULL
//   argv[] NULL
//   argc                         <- rsp, 16-byte aligned

export const AT_NULL = 0;
export const AT_PHDR = 3;
export const AT_PHENT = 4;
export const AT_PHNUM = 5;
export const AT_PAGESZ = 6;
export const AT_BASE = 7;
export const AT_FLAGS = 8;
export const AT_ENTRY = 9;
export const AT_UID = 11;
export const AT_EUID = 12;
export const AT_GID = 13;
export const AT_EGID = 14;
export const AT_PLATFORM = 15;
export const AT_HWCAP = 16;
export const AT_CLKTCK = 17;
export const AT_SECURE = 23;
export const AT_RANDOM = 25;
export const AT_HWCAP2 = 26;
export const AT_EXECFN = 31;
export const AT_MINSIGSTKSZ = 51;

export interface StackSpec {
  readonly argv: readonly string[];
  readonly envp: readonly string[];
  readonly execfn: string;
  readonly random: Uint8Array; // 16 bytes
  /** auxv entries except the string-valued ones (AT_EXECFN, AT_RANDOM, AT_PLATFORM) and AT_NULL. */
  readonly auxv: ReadonlyArray<readonly [number, number]>;
}

export interface BuiltStack {
  /** The bytes from `rsp` up to the top of the stack, to copy into the guest at `rsp`. */
  readonly bytes: Uint8Array;
  readonly rsp: number;
  /** The auxv as placed, for the debugger's qXfer:auxv:read. */
  readonly auxv: ReadonlyArray<readonly [number, number]>;
  readonly auxvAddr: number;
}

/**
 * Lays out the stack that ends at `top` (an address) and returns its bytes
 * and rsp. Throws RangeError when it does not fit above `limit`.
 */
export function buildStack(top: number, limit: number, spec: StackSpec): BuiltStack {
  // argc, argv[] NULL, envp[] NULL, auxv with its 3 string entries and AT_NULL
  const words = 1 + spec.argv.length + 1 + spec.envp.length + 1 + (spec.auxv.length + 4) * 2;
  const text = [spec.execfn, ...spec.envp, ...spec.argv, "x86_64"].reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
  const size = 8 + text + 16 + words * 8 + 32; // + room for two 16-byte alignments
  if (top - size < limit) throw new RangeError("arguments and environment do not fit on the stack");
  const base = top - size; // the buffer below stands for guest memory [base, top)
  const bytes = Buffer.alloc(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = top - 8; // end marker (zero)
  const putString = (s: string): number => {
    const b = Buffer.from(s + "\0", "utf8");
    p -= b.length;
    bytes.set(b, p - base);
    return p;
  };
  const execfn = putString(spec.execfn);
  // Ascending: argv[0] ... argv[n-1] envp[0] ... envp[m-1], as Linux has them.
  const envAddrs = [...spec.envp].reverse().map(putString).reverse();
  const argAddrs = [...spec.argv].reverse().map(putString).reverse();
  const platform = putString("x86_64");
  p -= 16;
  bytes.set(spec.random, p - base);
  const random = p;
  p -= p % 16;

  const auxv: Array<readonly [number, number]> = [
    ...spec.auxv,
    [AT_RANDOM, random],
    [AT_PLATFORM, platform],
    [AT_EXECFN, execfn],
    [AT_NULL, 0],
  ];
  p -= words * 8;
  p -= p % 16; // rsp must be 16-byte aligned at the entry point
  const rsp = p;
  let w = p - base;
  const put = (v: number) => {
    view.setUint32(w, v % 0x100000000, true);
    view.setUint32(w + 4, Math.floor(v / 0x100000000), true);
    w += 8;
  };
  put(argAddrs.length);
  argAddrs.forEach(put);
  put(0);
  envAddrs.forEach(put);
  put(0);
  const auxvAddr = w;
  for (const [k, v] of auxv) {
    put(k);
    put(v);
  }
  return { bytes: bytes.subarray(rsp - base), rsp, auxv, auxvAddr: auxvAddr + base };
}

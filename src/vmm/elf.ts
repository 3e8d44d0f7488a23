// ELF64 parsing: what the loader needs (program headers) checked strictly,
// and symbols for crash reports read leniently (a broken symbol table means
// no symbols, never an error).
//
//   Elf64_Ehdr (64 bytes)        Elf64_Phdr (56 bytes)
//   0x00 e_ident[16]             0x00 p_type    u32
//   0x10 e_type    u16           0x04 p_flags   u32
//   0x12 e_machine u16           0x08 p_offset  u64
//   0x18 e_entry   u64           0x10 p_vaddr   u64
//   0x20 e_phoff   u64           0x20 p_filesz  u64
//   0x28 e_shoff   u64           0x28 p_memsz   u64
//   0x36 e_phentsize u16, 0x38 e_phnum u16, 0x3a e_shentsize, 0x3c e_shnum, 0x3e e_shstrndx

import { TorovError } from "./errors.js";

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_PHDR = 6;
export const PT_TLS = 7;
export const PT_GNU_STACK = 0x6474e551;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const ET_CORE = 4;
const EM_X86_64 = 62;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;

const MACHINES: Record<number, string> = {
  2: "SPARC", 3: "32-bit x86 (i386)", 8: "MIPS", 20: "PowerPC", 21: "64-bit PowerPC", 22: "IBM S/390",
  40: "32-bit ARM", 43: "SPARC v9", 50: "IA-64", 183: "64-bit ARM (AArch64)", 243: "RISC-V", 258: "LoongArch",
};

export interface ElfSegment {
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly filesz: number;
  readonly memsz: number;
}

export interface ElfImage {
  readonly type: "exec" | "dyn";
  readonly entry: number;
  readonly phoff: number;
  readonly phnum: number;
  readonly segments: readonly ElfSegment[];
  readonly loads: readonly ElfSegment[];
  /** The interpreter's path (PT_INTERP), for a dynamically linked program; see interpSegment. */
  readonly interp?: string;
  /** PT_INTERP: where interp's bytes are (parseElf reads them when they lie in the bytes it was given). */
  readonly interpSegment?: ElfSegment;
}

export function isElf(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0] === 0x7f && buf[1] === 0x45 && buf[2] === 0x4c && buf[3] === 0x46;
}

/** The end of a process's address space on x86-64 (47 bits, as Linux's TASK_SIZE). */
export const USER_TOP = 2 ** 47;
/** Linux takes an interpreter path of at most PATH_MAX bytes, its NUL included. */
export const MAX_INTERP = 4096;
/** Linux reads at most 64 KiB of program headers (fs/binfmt_elf.c); so do we. */
export const MAX_PHDR_BYTES = 65536;

/**
 * Parses and checks an x86-64 executable; `name` is how errors name it.
 * `buf` holds the start of the file, at least up to the end of the program
 * headers when the file has them, unless `table` holds those (the bytes at
 * e_phoff, for headers far into a file); `fileSize` is the whole file's size.
 */
export function parseElf(buf: Buffer, name: string, fileSize = buf.length, table?: Buffer): ElfImage {
  const fail = (problem: string): never => {
    throw new TorovError(`${name}: ${problem}`, "EBINARY");
  };
  if (!isElf(buf)) fail("not an ELF executable");
  if (buf.length < EHDR_SIZE) fail(`truncated ELF file (${fileSize} bytes, the header alone is ${EHDR_SIZE})`);
  if (buf[4] === 1) fail("is a 32-bit ELF program; torov runs x86-64 (64-bit) programs");
  if (buf[4] !== 2) fail(`has an invalid ELF class ${buf[4]}`);
  if (buf[5] !== 1) fail("is a big-endian ELF program; torov runs x86-64 programs");
  const machine = buf.readUInt16LE(0x12);
  if (machine !== EM_X86_64) fail(`is an ELF program for ${MACHINES[machine] ?? `machine type ${machine}`}; torov runs x86-64 programs`);
  const type = buf.readUInt16LE(0x10);
  if (type === ET_REL) fail("is a relocatable object file (.o), not a program: link it first");
  if (type === ET_CORE) fail("is a core dump, not a program");
  if (type !== ET_EXEC && type !== ET_DYN) fail(`has an unknown ELF type ${type}`);

  // Sizes and offsets fit a JavaScript number; addresses, user space.
  const u64 = (b: Buffer, off: number, what: string, limit = 2 ** 53): number => {
    const v = b.readBigUInt64LE(off);
    if (v >= BigInt(limit)) fail(`${what} 0x${v.toString(16)} is out of range`);
    return Number(v);
  };
  const entry = u64(buf, 0x18, "entry point", USER_TOP);
  const phoff = u64(buf, 0x20, "program header offset");
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  if (phnum === 0) fail("has no program headers: not an executable");
  if (phentsize !== PHDR_SIZE) fail(`has program headers of ${phentsize} bytes (expected ${PHDR_SIZE})`);
  if (phnum * PHDR_SIZE > MAX_PHDR_BYTES)
    fail(`has ${phnum} program headers, more than the ${Math.floor(MAX_PHDR_BYTES / PHDR_SIZE)} (64 KiB) that Linux loads`);
  if (phoff > fileSize || phnum * PHDR_SIZE > fileSize - phoff)
    fail(`truncated: its program headers run past the end of the file (${fileSize} bytes)`);
  const ph = table ?? buf.subarray(phoff, phoff + phnum * PHDR_SIZE);
  if (ph.length < phnum * PHDR_SIZE) throw new RangeError("parseElf: program headers not read");

  const segments: ElfSegment[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * PHDR_SIZE;
    segments.push({
      type: ph.readUInt32LE(o),
      flags: ph.readUInt32LE(o + 4),
      offset: u64(ph, o + 8, `segment ${i} offset`),
      vaddr: u64(ph, o + 16, `segment ${i} address`, USER_TOP),
      filesz: u64(ph, o + 32, `segment ${i} file size`),
      memsz: u64(ph, o + 40, `segment ${i} memory size`),
    });
  }

  // The interpreter (PT_INTERP, the first as Linux takes it): its path is
  // read here when the bytes are in `buf`, else by the caller (readImage).
  const interpSeg = segments.find((s) => s.type === PT_INTERP);
  let interp: string | undefined;
  if (interpSeg) {
    if (interpSeg.filesz < 2 || interpSeg.filesz > MAX_INTERP)
      fail(`its interpreter path (PT_INTERP) is ${interpSeg.filesz} bytes long: Linux takes 2 to ${MAX_INTERP} (PATH_MAX)`);
    if (interpSeg.offset > fileSize || interpSeg.filesz > fileSize - interpSeg.offset)
      fail(`truncated: its interpreter path (PT_INTERP) needs bytes ${interpSeg.offset}..${interpSeg.offset + interpSeg.filesz} but the file has ${fileSize}`);
    if (interpSeg.offset + interpSeg.filesz <= buf.length)
      interp = interpreterPath(buf.subarray(interpSeg.offset, interpSeg.offset + interpSeg.filesz), name);
  }
  if (type === ET_DYN && entry === 0) fail("is a shared library, not a program");

  const loads = segments.filter((s) => s.type === PT_LOAD && s.memsz > 0);
  if (loads.length === 0) fail("has no loadable segments");
  loads.forEach((s) => {
    const i = segments.indexOf(s); // numbered as the other messages and readelf -l number them
    if (s.filesz > s.memsz) fail(`segment ${i} is larger in the file (${s.filesz} bytes) than in memory (${s.memsz})`);
    if (s.offset > fileSize || s.filesz > fileSize - s.offset)
      fail(`truncated: segment ${i} needs bytes ${s.offset}..${s.offset + s.filesz} but the file has ${fileSize}`);
    if (s.vaddr + s.memsz > USER_TOP) fail(`segment ${i} extends past the address space`);
  });
  return { type: type === ET_EXEC ? "exec" : "dyn", entry, phoff, phnum, segments, loads, interp, interpSegment: interpSeg };
}

export interface ElfSymbol {
  readonly name: string;
  readonly value: number;
  readonly size: number;
}

/** Printable ASCII as it is, other bytes as \xNN: file bytes in a one-line message. */
export function printable(bytes: Buffer): string {
  return bytes.toString("latin1").replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * The path in a PT_INTERP segment's bytes: NUL-terminated as Linux demands
 * (the string ends at its first NUL), and UTF-8, which is how paths reach
 * the monitor.
 */
export function interpreterPath(bytes: Buffer, name: string): string {
  if (bytes[bytes.length - 1] !== 0)
    throw new TorovError(`${name}: its interpreter path (PT_INTERP) is not NUL-terminated: "${printable(bytes.subarray(0, 256))}"`, "EBINARY");
  const raw = bytes.subarray(0, bytes.indexOf(0));
  if (raw.length === 0) throw new TorovError(`${name}: its interpreter path (PT_INTERP) is empty`, "EBINARY");
  const path = raw.toString("utf8");
  if (!Buffer.from(path, "utf8").equals(raw))
    throw new TorovError(`${name}: its interpreter path (PT_INTERP) is not UTF-8: "${printable(raw.subarray(0, 256))}"`, "EBINARY");
  return path;
}

/** Function and object symbols from .symtab, sorted by address. Lenient. */
export function elfSymbols(buf: Buffer): ElfSymbol[] {
  try {
    if (!isElf(buf) || buf.length < EHDR_SIZE || buf[4] !== 2) return [];
    const shoff = Number(buf.readBigUInt64LE(0x28));
    const shentsize = buf.readUInt16LE(0x3a);
    const shnum = buf.readUInt16LE(0x3c);
    if (!shoff || shentsize !== 64 || shoff + shnum * 64 > buf.length) return [];
    const section = (i: number) => {
      const o = shoff + i * 64;
      return {
        type: buf.readUInt32LE(o + 4),
        offset: Number(buf.readBigUInt64LE(o + 24)),
        size: Number(buf.readBigUInt64LE(o + 32)),
        link: buf.readUInt32LE(o + 40),
      };
    };
    const out: ElfSymbol[] = [];
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.type !== 2 /* SHT_SYMTAB */ || s.offset + s.size > buf.length || s.link >= shnum) continue;
      const str = section(s.link);
      if (str.offset + str.size > buf.length) continue;
      for (let o = s.offset; o + 24 <= s.offset + s.size; o += 24) {
        const info = buf[o + 4];
        const kind = info & 0xf;
        const shndx = buf.readUInt16LE(o + 6);
        if ((kind !== 1 && kind !== 2) || shndx === 0) continue; // OBJECT, FUNC; defined
        const nameOff = buf.readUInt32LE(o);
        if (nameOff >= str.size) continue;
        const start = str.offset + nameOff;
        let end = start;
        while (end < str.offset + str.size && buf[end] !== 0) end++;
        const value = Number(buf.readBigUInt64LE(o + 8));
        const size = Number(buf.readBigUInt64LE(o + 16));
        if (value) out.push({ name: buf.toString("latin1", start, end), value, size });
      }
    }
    return out.sort((a, b) => a.value - b.value);
  } catch {
    return [];
  }
}

/** "name+0x12" for an address, or undefined when no symbol covers it. */
export function symbolize(symbols: readonly ElfSymbol[], addr: number): string | undefined {
  let lo = 0;
  let hi = symbols.length - 1;
  let best: ElfSymbol | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (symbols[mid].value <= addr) {
      best = symbols[mid];
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (!best) return undefined;
  const off = addr - best.value;
  if (best.size && off >= best.size) return undefined;
  return off ? `${best.name}+0x${off.toString(16)}` : best.name;
}

// Loading a program into guest memory: a static x86-64 ELF (ET_EXEC, or
// ET_DYN static-pie relocated to PIE_BASE) or ToroV's flat .bin (raw code
// loaded at Startaddr, 0x400200 by default).

import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { TorovError } from "./errors.js";
import { isElf, parseElf, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR, type ElfImage } from "./elf.js";
import { FLAT_DEFAULT_START, pageDown, pageUp, PIE_BASE, planLayout, type Layout } from "./layout.js";
import type { NativeMachine } from "./native.js";

const PROT_READ = 1;
const PROT_WRITE = 2;
const PROT_EXEC = 4;

export interface LoadedImage {
  readonly format: "elf" | "flat";
  readonly path: string;
  readonly name: string;
  /** Load bias: 0 for ET_EXEC and flat, PIE_BASE for static-pie. */
  readonly bias: number;
  readonly entry: number;
  /** AT_PHDR / AT_PHNUM (0 for flat binaries). */
  readonly phdr: number;
  readonly phnum: number;
  readonly layout: Layout;
  readonly elf?: ElfImage;
  /** The file's bytes (kept for symbols and the debugger's vFile). */
  readonly bytes: Buffer;
}

function readProgram(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TorovError(`${path}: ${(e as Error).message}`, "EBINARY");
  }
}

export interface ProgramFile {
  readonly path: string;
  readonly bytes: Buffer;
  /** Absent for a flat binary. */
  readonly elf?: ElfImage;
}

/** Reads a program and decides its format, without touching any VM. */
export function readImage(path: string, startaddr: number | undefined): ProgramFile {
  const bytes = readProgram(path);
  if (isElf(bytes)) return { path, bytes, elf: parseElf(bytes, path) };
  if (startaddr !== undefined || extname(path) === ".bin") {
    if (bytes.length === 0) throw new TorovError(`${path}: is empty`, "EBINARY");
    return { path, bytes };
  }
  throw new TorovError(`${path}: not an ELF executable (a ToroV flat binary must end in .bin or have a Startaddr)`, "EBINARY");
}

function protOf(flags: number): number {
  return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

/** Maps and copies a program read by readImage() into `m`; returns where it went. */
export function loadImage(m: NativeMachine, program: ProgramFile, memoryMiB: number, startaddr?: number): LoadedImage {
  const { path, bytes, elf } = program;
  const name = basename(path);

  if (!elf) {
    const start = startaddr ?? FLAT_DEFAULT_START;
    const layout = planLayout(m.appLow, m.appHigh, pageDown(start), start + bytes.length, memoryMiB, path);
    // ToroV ran flat code with everything writable and executable.
    if (!m.addMapping(layout.imageLow, pageUp(layout.imageHigh), PROT_READ | PROT_WRITE | PROT_EXEC, "image", name))
      throw new TorovError(`${path}: cannot map it at 0x${start.toString(16)}`, "EMEMORY");
    m.write(start, bytes);
    return { format: "flat", path, name, bias: 0, entry: start, phdr: 0, phnum: 0, layout, bytes };
  }

  const bias = elf.type === "dyn" ? PIE_BASE : 0;
  let low = Infinity;
  let high = 0;
  for (const s of elf.loads) {
    low = Math.min(low, pageDown(bias + s.vaddr));
    high = Math.max(high, bias + s.vaddr + s.memsz);
  }
  const layout = planLayout(m.appLow, m.appHigh, low, high, memoryMiB, path);

  // Segments may share a page (old linkers): that page gets both permissions.
  const bounds = new Set<number>();
  for (const s of elf.loads) {
    bounds.add(pageDown(bias + s.vaddr));
    bounds.add(pageUp(bias + s.vaddr + s.memsz));
  }
  const edges = [...bounds].sort((a, b) => a - b);
  for (let i = 0; i + 1 < edges.length; i++) {
    const [a, b] = [edges[i], edges[i + 1]];
    let prot = 0;
    let covered = false;
    for (const s of elf.loads) {
      if (pageDown(bias + s.vaddr) < b && pageUp(bias + s.vaddr + s.memsz) > a) {
        prot |= protOf(s.flags);
        covered = true;
      }
    }
    if (covered && !m.addMapping(a, b, prot, "image", name))
      throw new TorovError(`${path}: cannot map its segment at 0x${a.toString(16)}`, "EMEMORY");
  }
  for (const s of elf.loads) {
    const at = bias + s.vaddr;
    m.write(at, bytes.subarray(s.offset, s.offset + s.filesz));
    if (s.memsz > s.filesz) m.fill(at + s.filesz, s.memsz - s.filesz, 0);
  }

  // AT_PHDR: the program headers as mapped in memory.
  let phdr = 0;
  const pt = elf.segments.find((s) => s.type === PT_PHDR);
  if (pt) phdr = bias + pt.vaddr;
  else {
    const holder = elf.loads.find((s) => s.type === PT_LOAD && s.offset <= elf.phoff && elf.phoff < s.offset + s.filesz);
    if (holder) phdr = bias + holder.vaddr + (elf.phoff - holder.offset);
  }
  return { format: "elf", path, name, bias, entry: bias + elf.entry, phdr, phnum: elf.phnum, layout, elf, bytes };
}

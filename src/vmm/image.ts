// Loading a program into guest memory: a static x86-64 ELF (ET_EXEC, or
// ET_DYN static-pie relocated to PIE_BASE) or ToroV's flat .bin (raw code
// loaded at Startaddr, 0x400200 by default).

import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { basename, extname } from "node:path";
import { TorovError } from "./errors.js";
import { isElf, MAX_PHDR_BYTES, parseElf, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR, type ElfImage } from "./elf.js";
import { FLAT_DEFAULT_START, PAGE, pageDown, pageUp, PIE_BASE, planLayout, type Layout } from "./layout.js";
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
  /** The whole file, read on demand (for symbols, the debugger's vFile). */
  contents(): Buffer;
}

/** An open program file: its head parsed, its segments still to be mapped. */
export interface ProgramFile {
  readonly path: string;
  readonly fd: number;
  readonly size: number;
  /** The start of the file: its first 64 KiB (all of a flat binary). */
  readonly head: Buffer;
  /** Absent for a flat binary. */
  readonly elf?: ElfImage;
}

const HEAD = 64 * 1024;

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/**
 * Opens a program and decides its format, without touching any VM. The
 * caller closes `fd` (closeProgram) once the program is loaded.
 */
export function readImage(path: string, startaddr: number | undefined): ProgramFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new TorovError(`${path}: ${(e as NodeJS.ErrnoException).code === "EACCES" ? "permission denied" : (e as Error).message}`, "EBINARY");
  }
  try {
    const size = fstatSync(fd).size;
    const head = readAt(fd, 0, Math.min(size, HEAD));
    if (isElf(head)) {
      let table: Buffer | undefined;
      if (head.length >= 64 && head[4] === 2) {
        // Program headers past the first 64 KiB: unusual, but legal. Read
        // just them (parseElf refuses more than MAX_PHDR_BYTES).
        const phoff = Number(head.readBigUInt64LE(0x20));
        const bytes = head.readUInt16LE(0x38) * 56;
        if (phoff + bytes > head.length && phoff + bytes <= size && bytes <= MAX_PHDR_BYTES) table = readAt(fd, phoff, bytes);
      }
      return { path, fd, size, head, elf: parseElf(head, path, size, table) };
    }
    if (startaddr !== undefined || extname(path) === ".bin") {
      if (size === 0) throw new TorovError(`${path}: is empty`, "EBINARY");
      return { path, fd, size, head: size > head.length ? readAt(fd, 0, size) : head };
    }
    throw new TorovError(`${path}: not an ELF executable (a ToroV flat binary must end in .bin or have a Startaddr)`, "EBINARY");
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

export function closeProgram(program: ProgramFile): void {
  closeSync(program.fd);
}

function protOf(flags: number): number {
  return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) | (flags & PF_X ? PROT_EXEC : 0);
}

/** Maps a program opened by readImage() into `m`; returns where it went. */
export function loadImage(m: NativeMachine, program: ProgramFile, memoryMiB: number, startaddr?: number): LoadedImage {
  const { path, elf } = program;
  const name = basename(path);
  let cached: Buffer | undefined;
  const contents = () => (cached ??= readFileSync(path));

  if (!elf) {
    const start = startaddr ?? FLAT_DEFAULT_START;
    const layout = planLayout(m.appLow, m.appHigh, pageDown(start), start + program.size, memoryMiB, path);
    // ToroV ran flat code with everything writable and executable.
    if (!m.addMapping(layout.imageLow, pageUp(layout.imageHigh), PROT_READ | PROT_WRITE | PROT_EXEC, "image", name))
      throw new TorovError(`${path}: cannot map it at 0x${start.toString(16)}`, "EMEMORY");
    m.write(start, program.head);
    return { format: "flat", path, name, bias: 0, entry: start, phdr: 0, phnum: 0, layout, contents };
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
  // The segments' bytes come from a copy of them made now, never from the
  // file itself, which anyone may rewrite or truncate while the guest runs
  // (native/snapshot.h). A file that ends sooner than its headers said a
  // moment ago changed meanwhile: refused.
  const ranges: number[] = [];
  for (const s of elf.loads) if (s.filesz > 0) ranges.push(pageDown(s.offset), s.offset + s.filesz);
  try {
    m.snapshotProgram(program.fd, ranges);
  } catch (e) {
    if (e instanceof TorovError) throw new TorovError(`${path}: ${e.message}`, e.code);
    throw e;
  }
  // Map the copy's pages copy-on-write, as exec maps the file's, unless a
  // page would need bytes from two places of the file: then copy.
  const sorted = [...elf.loads].sort((a, b) => a.vaddr - b.vaddr);
  const sharesPage = sorted.some((s, i) => i > 0 && pageUp(sorted[i - 1].vaddr + sorted[i - 1].memsz) > pageDown(s.vaddr));
  const mappable = !sharesPage && elf.loads.every((s) => (s.vaddr - s.offset) % PAGE === 0);
  for (const s of elf.loads) {
    const at = bias + s.vaddr;
    const fileEnd = at + s.filesz;
    if (mappable && s.filesz > 0 && m.mapProgram(pageDown(at), pageUp(fileEnd) - pageDown(at), pageDown(s.offset))) {
      // The rest of the last file page is the start of .bss.
      if (fileEnd % PAGE) m.fill(fileEnd, pageUp(fileEnd) - fileEnd, 0);
    } else if (s.filesz > 0) {
      m.copyProgram(at, s.offset, s.filesz);
    }
    if (s.memsz > s.filesz) m.fill(fileEnd, Math.min(pageUp(fileEnd), at + s.memsz) - fileEnd, 0);
  }

  // AT_PHDR: the program headers as mapped in memory.
  let phdr = 0;
  const pt = elf.segments.find((s) => s.type === PT_PHDR);
  if (pt) phdr = bias + pt.vaddr;
  else {
    const holder = elf.loads.find((s) => s.type === PT_LOAD && s.offset <= elf.phoff && elf.phoff < s.offset + s.filesz);
    if (holder) phdr = bias + holder.vaddr + (elf.phoff - holder.offset);
  }
  return { format: "elf", path, name, bias, entry: bias + elf.entry, phdr, phnum: elf.phnum, layout, elf, contents };
}

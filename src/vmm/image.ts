// Loading a program into guest memory: an x86-64 ELF (ET_EXEC, or ET_DYN
// relocated to PIE_BASE) or ToroV's flat .bin (raw code loaded at
// Startaddr, 0x400200 by default). A dynamically linked program's
// interpreter (PT_INTERP) is found in what the guest sees and loaded at the
// top of the mmap area, as Linux's binfmt_elf loads it; the guest starts at
// its entry.

import { closeSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { basename, extname } from "node:path";
import { ERRNO } from "../trace/errno.js";
import { TorovError } from "./errors.js";
import { interpreterPath, isElf, MAX_PHDR_BYTES, parseElf, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR, type ElfImage, type ElfSegment } from "./elf.js";
import { FLAT_DEFAULT_START, hex, MIN_HEAP, PAGE, pageDown, pageUp, PIE_BASE, planLayout, type Layout } from "./layout.js";
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
  /** A dynamically linked program's interpreter, as loaded (loadInterpreter). */
  readonly interp?: LoadedInterpreter;
}

export interface LoadedInterpreter {
  /** Its path in the guest (PT_INTERP). */
  readonly path: string;
  /** Load bias, AT_BASE: where its address 0 is. */
  readonly bias: number;
  readonly entry: number;
  readonly elf: ElfImage;
  /** The lowest address it took: the mmap area goes on below it. */
  readonly low: number;
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
      let elf = parseElf(head, path, size, table);
      const seg = elf.interpSegment;
      if (seg && elf.interp === undefined) elf = { ...elf, interp: interpreterPath(readAt(fd, seg.offset, seg.filesz), path) };
      return { path, fd, size, head, elf };
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

/**
 * Maps the pages of `loads` at `bias` with their permissions. Segments may
 * share a page (old linkers): that page gets both permissions.
 */
function mapSegments(m: NativeMachine, loads: readonly ElfSegment[], bias: number, name: string, path: string): void {
  const bounds = new Set<number>();
  for (const s of loads) {
    bounds.add(pageDown(bias + s.vaddr));
    bounds.add(pageUp(bias + s.vaddr + s.memsz));
  }
  const edges = [...bounds].sort((a, b) => a - b);
  for (let i = 0; i + 1 < edges.length; i++) {
    const [a, b] = [edges[i], edges[i + 1]];
    let prot = 0;
    let covered = false;
    for (const s of loads) {
      if (pageDown(bias + s.vaddr) < b && pageUp(bias + s.vaddr + s.memsz) > a) {
        prot |= protOf(s.flags);
        covered = true;
      }
    }
    if (covered && !m.addMapping(a, b, prot, "image", name))
      throw new TorovError(`${path}: cannot map its segment at 0x${a.toString(16)}`, "EMEMORY");
  }
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

  mapSegments(m, elf.loads, bias, name, path);
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

/** The most an interpreter file may hold: ld.so is a quarter of a MiB, musl's libc under one. */
const MAX_INTERP_FILE = 64 << 20;

/**
 * Finds `image`'s interpreter in what the guest sees, as Linux's exec finds
 * it (opened from "/" of the guest, its symlinks followed there), and loads
 * it right below the mmap area's top, which then goes on below it. Its
 * bytes are read once, checked, and copied from that copy. Every problem
 * is a TorovError naming the program and the interpreter.
 */
export function loadInterpreter(m: NativeMachine, image: LoadedImage, mountPoint: string | undefined, lent: readonly string[] = []): LoadedInterpreter {
  const path = image.elf?.interp;
  if (path === undefined) throw new RangeError("loadInterpreter: not a dynamically linked program");
  const what = `${image.path}: its interpreter ${path}`;
  const fd = m.openGuestFile(path);
  if (fd < 0) {
    const err = -fd;
    const where = !mountPoint
      ? "(the manifest gives it no MountPoint)"
      : lent.length
        ? `in its MountPoint (${mountPoint}) and in what torov lent its loader (${lent.join(", ")})`
        : `in its MountPoint (${mountPoint})`;
    if (err === 2 /* ENOENT */)
      throw new TorovError(`${what} is not in what the guest sees: it is missing ${where}; copy it there with the libraries it loads, or build the program with -static`, "EBINARY");
    if (err === 20 /* ENOTDIR */) throw new TorovError(`${what} is not in what the guest sees: a part of the path is not a folder ${where}`, "EBINARY");
    if (err === 13 /* EACCES */) throw new TorovError(`${what}: permission denied`, "EBINARY");
    if (err === 40 /* ELOOP */) throw new TorovError(`${what}: too many symbolic links`, "EBINARY");
    if (err === 36 /* ENAMETOOLONG */) throw new TorovError(`${what}: its name is too long`, "EBINARY");
    const [code, text] = ERRNO.get(err) ?? [`errno ${err}`, "unknown error"];
    throw new TorovError(`${what}: cannot be opened: ${text} (${code})`, "EBINARY");
  }
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new TorovError(`${what} is a directory, not a program`, "EBINARY");
    if (!st.isFile()) throw new TorovError(`${what} is not a regular file`, "EBINARY");
    if (st.size > MAX_INTERP_FILE) throw new TorovError(`${what} is ${st.size} bytes, more than the ${MAX_INTERP_FILE >> 20} MiB an interpreter may be`, "EBINARY");
    // Read once: what is checked below is what is copied.
    bytes = readAt(fd, 0, st.size);
  } finally {
    closeSync(fd);
  }
  if (!isElf(bytes)) throw new TorovError(`${what} is not an ELF file`, "EBINARY");
  const elf = parseElf(bytes, what, bytes.length);
  if (elf.interp !== undefined || elf.interpSegment) throw new TorovError(`${what} is itself dynamically linked (it asks for ${elf.interp ?? "an interpreter"})`, "EBINARY");

  let low = Infinity;
  let high = 0;
  for (const s of elf.loads) {
    low = Math.min(low, pageDown(s.vaddr));
    high = Math.max(high, pageUp(s.vaddr + s.memsz));
  }
  const { layout } = image;
  let bias: number;
  if (elf.type === "dyn") {
    // Top-down, as the first mmap would place it.
    bias = pageDown(layout.mmapTop - (high - low)) - low;
  } else {
    bias = 0; // an ET_EXEC interpreter goes where it is linked, if that is free
    if (low < layout.imageHigh && high > layout.imageLow)
      throw new TorovError(`${what} is linked at ${hex(low)}..${hex(high)}, over the program (${hex(layout.imageLow)}..${hex(layout.imageHigh)})`, "EBINARY");
    if (high > layout.mmapTop) throw new TorovError(`${what} is linked at ${hex(low)}..${hex(high)}, beyond the mmap area (it ends at ${hex(layout.mmapTop)})`, "EMEMORY");
  }
  if (bias + low < layout.brk + MIN_HEAP)
    throw new TorovError(`${what} does not fit in Memory with the program: it needs ${(high - low) >> 10} KiB; set "Memory" higher`, "EMEMORY");
  mapSegments(m, elf.loads, bias, basename(path), what);
  for (const s of elf.loads) {
    const at = bias + s.vaddr;
    if (s.filesz > 0) m.write(at, bytes.subarray(s.offset, s.offset + s.filesz));
    // The rest of the last file page, and .bss, read zero.
    const end = pageUp(at + s.memsz);
    if (end > at + s.filesz) m.fill(at + s.filesz, end - (at + s.filesz), 0);
  }
  return { path, bias, entry: bias + elf.entry, elf, low: bias + low };
}

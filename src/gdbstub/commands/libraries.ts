// qXfer:libraries-svr4:read: the shared libraries the guest's loader has
// loaded, from its own r_debug and link_map list, as gdbserver reads them
// from a process (LLDB's gdb-remote and GDB both use it instead of walking
// the list themselves). Found as Linux's tools find it: the program headers
// (AT_PHDR) give the load bias (PT_PHDR) and the dynamic section
// (PT_DYNAMIC), whose DT_DEBUG entry the loader points at its r_debug.
// Everything is read from guest memory once and bounded: a guest that
// corrupts its list gets a shorter list, never a hang.

import type { DebugTarget as Target } from "../target.js";

const AT_PHDR = 3n, AT_PHENT = 4n, AT_PHNUM = 5n;
const PT_DYNAMIC = 2, PT_PHDR = 6;
const DT_NULL = 0n, DT_DEBUG = 21n;
const MAX_DYNAMIC = 1024;
const MAX_LIBRARIES = 4096;
const MAX_NAME = 4096;

const hex = (n: bigint) => `0x${n.toString(16)}`;
const xmlEscape = (s: string) => s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!);

function u64(t: Target, addr: bigint): bigint | undefined {
  const b = t.readMemory(addr, 8);
  return b && b.length === 8 ? b.readBigUInt64LE(0) : undefined;
}

function cString(t: Target, addr: bigint): string | undefined {
  const b = t.readMemory(addr, MAX_NAME);
  if (!b) return undefined;
  const end = b.indexOf(0);
  return b.subarray(0, end < 0 ? b.length : end).toString("utf8");
}

/** The address of the guest's r_debug, or 0n (a static program, or before the loader set it). */
function rDebug(t: Target): bigint {
  const aux = t.auxv();
  const get = (key: bigint) => {
    for (let o = 0; o + 16 <= aux.length; o += 16) if (aux.readBigUInt64LE(o) === key) return aux.readBigUInt64LE(o + 8);
    return 0n;
  };
  const phdr = get(AT_PHDR), phent = get(AT_PHENT), phnum = get(AT_PHNUM);
  if (!phdr || phent !== 56n || phnum === 0n || phnum > 256n) return 0n;
  const table = t.readMemory(phdr, Number(phnum) * 56);
  if (!table || table.length < Number(phnum) * 56) return 0n;
  let bias: bigint | undefined;
  let dynamic: bigint | undefined;
  for (let i = 0; i < Number(phnum); i++) {
    const type = table.readUInt32LE(i * 56);
    const vaddr = table.readBigUInt64LE(i * 56 + 16);
    if (type === PT_PHDR) bias = phdr - vaddr;
    if (type === PT_DYNAMIC) dynamic = vaddr;
  }
  if (dynamic === undefined) return 0n;
  const at = (dynamic + (bias ?? 0n)) & 0xffffffffffffffffn;
  const entries = t.readMemory(at, MAX_DYNAMIC * 16);
  if (!entries) return 0n;
  for (let o = 0; o + 16 <= entries.length; o += 16) {
    const tag = entries.readBigUInt64LE(o);
    if (tag === DT_NULL) break;
    if (tag === DT_DEBUG) return entries.readBigUInt64LE(o + 8);
  }
  return 0n;
}

/** The <library-list-svr4> document for the guest as it is now. */
export function librariesSvr4(t: Target): string {
  const debug = rDebug(t);
  const map = debug ? u64(t, debug + 8n) : undefined;
  if (!map) return '<library-list-svr4 version="1.0"/>';
  const libraries: string[] = [];
  let main: bigint | undefined;
  const seen = new Set<bigint>();
  for (let lm = map, prev = 0n; lm && !seen.has(lm) && seen.size < MAX_LIBRARIES; ) {
    seen.add(lm);
    const b = t.readMemory(lm, 40);
    if (!b || b.length < 40) break;
    const lAddr = b.readBigUInt64LE(0), lName = b.readBigUInt64LE(8), lLd = b.readBigUInt64LE(16);
    const next = b.readBigUInt64LE(24), lPrev = b.readBigUInt64LE(32);
    if (lPrev !== prev) break; // not a list this walk can trust
    if (prev === 0n) {
      main = lm; // the first is the program itself
    } else {
      const name = lName ? cString(t, lName) : undefined;
      if (name) libraries.push(`<library name="${xmlEscape(name)}" lm="${hex(lm)}" l_addr="${hex(lAddr)}" l_ld="${hex(lLd)}"/>`);
    }
    prev = lm;
    lm = next;
  }
  return `<library-list-svr4 version="1.0"${main !== undefined ? ` main-lm="${hex(main)}"` : ""}>${libraries.join("")}</library-list-svr4>`;
}

// Shared by the ELF loader's fuzzers (test/unit/elf-fuzz.test.ts and
// test/e2e/elf-fuzz.test.ts): the fast-check settings, and mutations of an
// ELF file at the fields the loader reads, with the values that break
// loaders (0, -1, 2^47, 2^53, 2^63, misaligned, the file's size, off by one).

import * as fc from "fast-check";
import { PT_DYNAMIC, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR, PT_TLS } from "../src/vmm/elf.js";
import { PAGE } from "../src/vmm/layout.js";
import { fuzzOptions, REPLAY, SEED_OVERRIDE } from "./fuzz-settings.js";

// ------------------------------------------------------------ the settings

export const SEED = SEED_OVERRIDE ?? 0x70e0f;
export { REPLAY };
export const runs = (n: number) => fuzzOptions(n, SEED);

// --------------------------------------------------------- ELF field access

type Width = 1 | 2 | 4 | 8;
interface Field {
  readonly name: string;
  readonly at: number;
  readonly width: Width;
}
const EHDR_FIELDS: Field[] = [
  { name: "EI_CLASS", at: 4, width: 1 },
  { name: "EI_DATA", at: 5, width: 1 },
  { name: "EI_VERSION", at: 6, width: 1 },
  { name: "EI_OSABI", at: 7, width: 1 },
  { name: "e_type", at: 0x10, width: 2 },
  { name: "e_machine", at: 0x12, width: 2 },
  { name: "e_version", at: 0x14, width: 4 },
  { name: "e_entry", at: 0x18, width: 8 },
  { name: "e_phoff", at: 0x20, width: 8 },
  { name: "e_shoff", at: 0x28, width: 8 },
  { name: "e_flags", at: 0x30, width: 4 },
  { name: "e_ehsize", at: 0x34, width: 2 },
  { name: "e_phentsize", at: 0x36, width: 2 },
  { name: "e_phnum", at: 0x38, width: 2 },
  { name: "e_shentsize", at: 0x3a, width: 2 },
  { name: "e_shnum", at: 0x3c, width: 2 },
  { name: "e_shstrndx", at: 0x3e, width: 2 },
];
const PHDR_FIELDS: Field[] = [
  { name: "p_type", at: 0, width: 4 },
  { name: "p_flags", at: 4, width: 4 },
  { name: "p_offset", at: 8, width: 8 },
  { name: "p_vaddr", at: 16, width: 8 },
  { name: "p_paddr", at: 24, width: 8 },
  { name: "p_filesz", at: 32, width: 8 },
  { name: "p_memsz", at: 40, width: 8 },
  { name: "p_align", at: 48, width: 8 },
];

export const mask = (w: Width) => (1n << BigInt(8 * w)) - 1n;

function get(b: Buffer, at: number, w: Width): bigint {
  if (at < 0 || at + w > b.length) return 0n;
  return w === 1 ? BigInt(b[at]) : w === 2 ? BigInt(b.readUInt16LE(at)) : w === 4 ? BigInt(b.readUInt32LE(at)) : b.readBigUInt64LE(at);
}

function set(b: Buffer, at: number, w: Width, v: bigint): void {
  if (at < 0 || at + w > b.length) return;
  v &= mask(w);
  if (w === 1) b[at] = Number(v);
  else if (w === 2) b.writeUInt16LE(Number(v), at);
  else if (w === 4) b.writeUInt32LE(Number(v), at);
  else b.writeBigUInt64LE(v, at);
}

const phoffOf = (b: Buffer) => Number(get(b, 0x20, 8) & 0xffffffffn);
const phnumOf = (b: Buffer) => Number(get(b, 0x38, 2));

// -------------------------------------------------------------- the values

export const U64_EDGES: bigint[] = [
  0n, 1n, 7n, 0x38n, 0x40n, 0xfffn, 0x1000n, 0x1001n, 0xffffn, 0x10000n, 0x10001n, 0x1ffffn,
  0x3ff000n, 0x3fffffn, 0x400000n, 0x400001n, 0x401000n, 0x7fffffn, 0xf000000n, 0xffff000n, 0x10000000n,
  0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0xfffff000n, 0x1000000000n, 0x1000000000n - 0x1000n,
  (1n << 47n) - 0x1000n, (1n << 47n) - 1n, 1n << 47n, (1n << 48n) - 1n, 1n << 52n, (1n << 53n) - 1n, 1n << 53n,
  (0x200000n << 32n) - 1n, 0x200000n << 32n, 1n << 63n, (1n << 63n) - 1n, (1n << 64n) - 0x1000n, (1n << 64n) - 1n,
];

/** A field value, some resolved against the file or the field's old value. */
type Value =
  | { kind: "edge"; v: bigint }
  | { kind: "any"; v: bigint }
  | { kind: "file"; delta: number } // the file's size + delta
  | { kind: "old"; delta: number }; // the old value + delta (misaligns, overlaps, off by ones)

const valueArb: fc.Arbitrary<Value> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...U64_EDGES).map((v): Value => ({ kind: "edge", v })) },
  { weight: 2, arbitrary: fc.bigUintN(64).map((v): Value => ({ kind: "any", v })) },
  { weight: 1, arbitrary: fc.integer({ min: -0x2000, max: 0x2000 }).map((delta): Value => ({ kind: "file", delta })) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(fc.constantFrom(-1, 1, -8, 8, -PAGE, PAGE, 0x800, -0x800, 0x10000), fc.integer({ min: -0x100000, max: 0x100000 }))
      .map((delta): Value => ({ kind: "old", delta })),
  },
);

function resolve(v: Value, old: bigint, fileSize: number): bigint {
  switch (v.kind) {
    case "edge":
    case "any":
      return v.v;
    case "file":
      return BigInt(Math.max(0, fileSize + v.delta));
    case "old":
      return old + BigInt(v.delta);
  }
}

export const P_TYPES = [0, PT_LOAD, PT_DYNAMIC, PT_INTERP, 4, 5, PT_PHDR, PT_TLS, 0x6474e550, PT_GNU_STACK, 0x6474e552, 0x6474e553, 0x60000000, 0x70000000, 0xffffffff];

// ----------------------------------------------------------- the mutations

export type Mutation =
  | { kind: "ehdr"; field: number; value: Value }
  | { kind: "phdr"; index: number; field: number; value: Value }
  | { kind: "type"; index: number; type: number }
  | { kind: "copy"; from: number; to: number; shift: number }
  | { kind: "interp"; index: number; text: string; at: number }
  | { kind: "flip"; at: number; xor: number; anywhere: boolean }
  | { kind: "truncate"; where: number; delta: number; fraction: number };

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("ehdr" as const), field: fc.nat(EHDR_FIELDS.length - 1), value: valueArb }) },
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant("phdr" as const), index: fc.nat(15), field: fc.nat(PHDR_FIELDS.length - 1), value: valueArb }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("type" as const),
      index: fc.nat(15),
      type: fc.oneof(fc.constantFrom(...P_TYPES), fc.nat({ max: 0xffffffff })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("copy" as const),
      from: fc.nat(15),
      to: fc.nat(15),
      shift: fc.constantFrom(0, 1, 0x10, PAGE, -PAGE, 0x1800),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("interp" as const),
      index: fc.nat(15),
      text: fc.oneof(
        fc.constantFrom("/lib64/ld-linux-x86-64.so.2\0", "", "\0", "/lib/ld\nsecond line\0", "\x1b[31mred\x1b[0m", "a".repeat(300), "/l\r\ni\tb\0"),
        fc.string({ unit: "binary", maxLength: 40 }),
      ),
      at: fc.nat(0x200),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }), anywhere: fc.boolean() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("truncate" as const),
      where: fc.nat(7),
      delta: fc.constantFrom(0, -1, 1, -8, 8, 55, 56, 57),
      fraction: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
);

/** Where a mutation of program header `index` lands (headers of the original file). */
function phdrAt(orig: Buffer, index: number): number {
  const n = Math.max(1, phnumOf(orig));
  return phoffOf(orig) + (index % n) * 56;
}

/** Truncation points worth trying: the ends of the header, the headers, each segment. */
function truncationPoint(b: Buffer, m: Extract<Mutation, { kind: "truncate" }>): number {
  const phoff = phoffOf(b);
  const phnum = phnumOf(b);
  const seg = (i: number) => phoff + (i % Math.max(1, phnum)) * 56;
  const segs = [...Array(phnum).keys()].map(seg).filter((o) => o + 56 <= b.length);
  const pick = segs.length ? segs[Math.floor(m.fraction * segs.length) % segs.length] : phoff;
  const points = [
    0x40,
    0x18,
    phoff,
    phoff + phnum * 56,
    Number(get(b, pick + 8, 8) & 0xfffffffffn), // a segment's start in the file
    Number((get(b, pick + 8, 8) + get(b, pick + 32, 8)) & 0xfffffffffn), // its end
    Math.floor(b.length * m.fraction),
    Math.floor(0x40 + (phnum * 56 + 0x40) * m.fraction),
  ];
  return Math.max(0, Math.min(b.length, points[m.where] + m.delta));
}

export function mutate(orig: Buffer, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(orig);
  for (const m of mutations) {
    switch (m.kind) {
      case "ehdr": {
        const f = EHDR_FIELDS[m.field];
        set(b, f.at, f.width, resolve(m.value, get(b, f.at, f.width), b.length));
        break;
      }
      case "phdr": {
        const f = PHDR_FIELDS[m.field];
        const at = phdrAt(orig, m.index) + f.at;
        set(b, at, f.width, resolve(m.value, get(b, at, f.width), b.length));
        break;
      }
      case "type":
        set(b, phdrAt(orig, m.index), 4, BigInt(m.type));
        break;
      case "copy": {
        const from = phdrAt(orig, m.from);
        const to = phdrAt(orig, m.to);
        if (from + 56 <= b.length && to + 56 <= b.length) {
          b.copy(b, to, from, from + 56);
          set(b, to + 16, 8, get(b, to + 16, 8) + BigInt(m.shift)); // overlapping, or just next to it
        }
        break;
      }
      case "interp": {
        const ph = phdrAt(orig, m.index);
        const text = Buffer.from(m.text, "latin1");
        const at = Math.min(m.at, Math.max(0, b.length - text.length));
        text.copy(b, at);
        set(b, ph, 4, BigInt(PT_INTERP));
        set(b, ph + 8, 8, BigInt(at));
        set(b, ph + 32, 8, BigInt(text.length));
        break;
      }
      case "flip": {
        // Mostly the headers, where the loader looks; sometimes anywhere.
        const span = m.anywhere ? b.length : Math.min(b.length, phoffOf(orig) + phnumOf(orig) * 56);
        if (span > 0) b[m.at % span] ^= m.xor;
        break;
      }
      case "truncate":
        b = b.subarray(0, truncationPoint(b, m));
        break;
    }
  }
  return b;
}


// Property-based fuzzing of the ELF loader: real programs mutated at the
// fields the loader reads, and headers built from arbitrary field values, go
// through readImage() and loadImage() into a model of the native machine.
// Each one either loads, with every segment inside the file and inside the
// application's part of guest memory, or is refused with a one-line
// TorovError that names the file. Nothing else may escape.
//
// The seed is fixed so that runs are repeatable; TOROV_FUZZ_SEED,
// TOROV_FUZZ_PATH and TOROV_FUZZ_RUNS change that (test/elf-mutations.ts).
// fast-check prints the seed, path and shrunk counterexample of a failure.
// TOROV_FUZZ_STATS=1 prints how often each outcome happened, to see that the
// cases reach every check.

import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as fc from "fast-check";
import { TorovError } from "../../src/vmm/errors.js";
import { PT_LOAD } from "../../src/vmm/elf.js";
import { closeProgram, loadImage, readImage, type LoadedImage } from "../../src/vmm/image.js";
import { PAGE, PIE_BASE } from "../../src/vmm/layout.js";
import { MAX_MEMORY_MIB, MIN_MEMORY_MIB } from "../../src/vmm/manifest.js";
import { mask, mutate, mutationArb, P_TYPES, REPLAY, runs, U64_EDGES } from "../elf-mutations.js";
import { EXAMPLES, guest, tempDir, variants } from "../helpers.js";
import { appHighFor, FakeMachine, RT_LIMIT } from "./fake-machine.js";

/** One case may take this long; anything slower is a hang in the making. */
const CASE_MS = 1000;

// ------------------------------------------------------------- the property

const LOAD_CODES = new Set(["EBINARY", "EMEMORY"]);

const STATS = process.env.TOROV_FUZZ_STATS ? new Map<string, number>() : undefined;
process.on("exit", () => {
  if (STATS) for (const [k, n] of [...STATS].sort((a, b) => b[1] - a[1])) process.stderr.write(`${String(n).padStart(6)}  ${k}\n`);
});

/** What happened to one file: loaded, or refused (the message). */
type Outcome = { image: LoadedImage; machine: FakeMachine } | { error: TorovError };

/** Loads the bytes as the file `path` and checks the property; returns what happened. */
function check(path: string, bytes: Buffer, memoryMiB: number): Outcome {
  rmSync(path, { force: true }); // a new file, not a truncated one: ext4 flushes those to disk on close
  writeFileSync(path, bytes);
  const machine = new FakeMachine(memoryMiB, bytes);
  const t0 = performance.now();
  let outcome: Outcome;
  try {
    const program = readImage(path, undefined);
    try {
      outcome = { image: loadImage(machine.native, program, memoryMiB), machine };
    } finally {
      closeProgram(program);
    }
  } catch (e) {
    if (!(e instanceof TorovError)) throw e; // a JavaScript error escaping is the bug this looks for
    outcome = { error: e };
  }
  const ms = performance.now() - t0;
  assert.ok(ms < CASE_MS, `loading took ${Math.round(ms)} ms`);
  if (STATS) {
    const k = "error" in outcome ? outcome.error.message.slice(path.length + 2).replace(/0x[0-9a-f]+|\d+/g, "N").slice(0, 60) : "(loaded)";
    STATS.set(k, (STATS.get(k) ?? 0) + 1);
  }
  if ("error" in outcome) checkRefusal(outcome.error, path);
  else checkLoaded(outcome.image, outcome.machine, bytes, memoryMiB);
  return outcome;
}

/** check(), and when it advises more Memory, that the advice works. */
function checkAll(path: string, bytes: Buffer, memoryMiB: number): Outcome {
  const r = check(path, bytes, memoryMiB);
  const advice = "error" in r ? /set "Memory" to at least (\d+)$/.exec(r.error.message) : null;
  if (advice) {
    const mib = Number(advice[1]);
    assert.ok("image" in check(path, bytes, mib), `followed the advice of ${mib} MiB and it still does not load`);
    // ...and it is the least that works (Memory comes in whole MiB).
    if (mib - 1 > memoryMiB) assert.ok("error" in check(path, bytes, mib - 1), `${mib - 1} MiB would have done`);
  }
  return r;
}

function checkRefusal(e: TorovError, path: string): void {
  const m = e.message;
  assert.ok(LOAD_CODES.has(e.code), `code ${e.code}: ${m}`);
  assert.ok(m.startsWith(`${path}: `), `does not name the file: ${JSON.stringify(m)}`);
  const problem = m.slice(path.length + 2);
  // One line, printable: it goes to a terminal as it is.
  assert.doesNotMatch(problem, /[\x00-\x1f\x7f-\x9f]/, `not one printable line: ${JSON.stringify(m)}`);
  assert.doesNotMatch(problem, /\bundefined\b|\bNaN\b|Infinity|\[object |Error:|^\s*$/, `a JavaScript value in ${JSON.stringify(m)}`);
  // Numbers shown are numbers: no exponent notation, no rounding to 2^53+.
  for (const n of problem.match(/(?<![\w.])\d+(?:\.\d+)?(?:e[+-]?\d+)?/g) ?? []) {
    assert.match(n, /^\d+$/, `odd number ${n} in ${JSON.stringify(m)}`);
    assert.ok(Number.isSafeInteger(Number(n)), `number ${n} beyond 2^53 in ${JSON.stringify(m)}`);
  }
  // Advice must be followable: a Memory the manifest accepts.
  const advice = /set "Memory" to at least (\d+)/.exec(problem);
  if (advice) {
    const mib = Number(advice[1]);
    assert.ok(mib >= MIN_MEMORY_MIB && mib <= MAX_MEMORY_MIB, `impossible advice: ${m}`);
  }
}

function checkLoaded(image: LoadedImage, machine: FakeMachine, file: Buffer, memoryMiB: number): void {
  const { elf, layout, bias } = image;
  assert.ok(elf);
  assert.equal(image.format, "elf");
  assert.equal(bias, elf.type === "dyn" ? PIE_BASE : 0);
  assert.ok(layout.appLow === RT_LIMIT && layout.appHigh === appHighFor(memoryMiB));
  assert.ok(layout.imageLow >= layout.appLow && layout.imageLow < layout.imageHigh);
  assert.ok(layout.brk >= layout.imageHigh && layout.brk % PAGE === 0);
  assert.ok(layout.brk <= layout.mmapTop && layout.mmapTop < layout.stackLow && layout.stackHigh <= layout.appHigh);
  assert.ok(elf.loads.length > 0);
  // What goes to the native side and into the auxv: integers it takes.
  for (const v of [image.entry, image.phdr, image.phnum]) assert.ok(Number.isSafeInteger(v) && v >= 0, `entry/AT_PHDR/AT_PHNUM ${v}`);
  for (const s of elf.loads) {
    for (const v of [s.offset, s.vaddr, s.filesz, s.memsz]) assert.ok(Number.isSafeInteger(v) && v >= 0);
    assert.ok(s.filesz <= s.memsz, "filesz > memsz");
    assert.ok(s.offset + s.filesz <= file.length, `segment ${s.offset}+${s.filesz} past the end of the file (${file.length})`);
    const at = bias + s.vaddr;
    assert.ok(at >= layout.imageLow && at + s.memsz <= layout.imageHigh, "segment outside the image");
    assert.ok(at >= layout.appLow && at + s.memsz <= layout.mmapTop, "segment outside the application's memory");
  }
  // The mappings: inside the application, below the stack, disjoint.
  for (const m of machine.mapped) assert.ok(m.start >= layout.appLow && m.end <= layout.mmapTop);
  // Without overlaps the contents are unambiguous: each segment's file bytes,
  // then zeros to its end (those bytes that the guest sees without a fault).
  const sorted = [...elf.loads].sort((a, b) => a.vaddr - b.vaddr);
  const overlap = sorted.some((s, i) => i > 0 && sorted[i - 1].vaddr + sorted[i - 1].memsz > s.vaddr);
  if (!overlap) {
    for (const s of elf.loads) {
      const at = bias + s.vaddr;
      const want = file.subarray(s.offset, s.offset + s.filesz);
      assert.ok(machine.read(at, s.filesz).equals(want), `segment at 0x${at.toString(16)}: wrong bytes`);
      const bss = Math.min(s.memsz - s.filesz, 2 * PAGE);
      assert.ok(machine.read(at + s.filesz, bss).every((b) => b === 0), `segment at 0x${at.toString(16)}: .bss not zero`);
    }
  }
}

const memoryArb = fc.constantFrom(16, 17, 64, 256, 2048, 4096, MAX_MEMORY_MIB);

// ------------------------------------------------------------ the programs

const REAL = [...variants("args").map((v) => ({ name: v, path: guest(v) })), { name: "hello", path: join(EXAMPLES, "hello", "hello") }].filter((p) =>
  existsSync(p.path),
);

/** Each real program loads as it is, so mutations start from something valid. */
test("the unmutated programs load", () => {
  const dir = tempDir("torov-elf-fuzz-");
  assert.ok(REAL.length >= 2, "the test guests are built (make -C test/guests)");
  for (const p of REAL) {
    const r = check(join(dir, p.name), readFileSync(p.path), 256);
    assert.ok("image" in r, `${p.name}: ${"error" in r ? r.error.message : ""}`);
  }
});

test("mutated real programs load or are refused in one line", () => {
  const dir = tempDir("torov-elf-fuzz-");
  const files = REAL.map((p) => ({ ...p, bytes: readFileSync(p.path) }));
  let loaded = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.nat(files.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), memoryArb, (which, mutations, memoryMiB) => {
      const f = files[which];
      const r = checkAll(join(dir, f.name), mutate(f.bytes, mutations), memoryMiB);
      if ("image" in r) loaded++;
      else refused++;
    }),
    runs(5000),
  );
  // The mutations are meant to reach both sides of every check.
  if (!REPLAY) assert.ok(loaded > 100 && refused > 500, `loaded ${loaded}, refused ${refused}`);
});

// ---------------------------------------------- headers built field by field

interface PhdrSpec {
  type: number;
  flags: number;
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
  memsz: bigint;
}
interface ElfSpec {
  type: number;
  machine: number;
  entry: bigint;
  phoff: bigint;
  phentsize: number;
  phnum: number | undefined; // undefined: the number of headers built
  phdrs: PhdrSpec[];
  size: number; // bytes after the headers
}

/** Builds a file like test/unit/elf.test.ts's minimal(), from arbitrary field values. */
function build(spec: ElfSpec): Buffer {
  const phoff = spec.phoff <= 0x10000n ? Number(spec.phoff) : 64;
  const table = spec.phdrs.length * 56;
  const b = Buffer.alloc(Math.max(64, phoff + table) + spec.size);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1], 0);
  b.writeUInt16LE(spec.type, 0x10);
  b.writeUInt16LE(spec.machine, 0x12);
  b.writeUInt32LE(1, 0x14);
  b.writeBigUInt64LE(spec.entry, 0x18);
  b.writeBigUInt64LE(spec.phoff, 0x20);
  b.writeUInt16LE(64, 0x34);
  b.writeUInt16LE(spec.phentsize, 0x36);
  b.writeUInt16LE(spec.phnum ?? spec.phdrs.length, 0x38);
  spec.phdrs.forEach((p, i) => {
    const o = phoff + i * 56;
    if (o + 56 > b.length) return;
    b.writeUInt32LE(p.type, o);
    b.writeUInt32LE(p.flags, o + 4);
    b.writeBigUInt64LE(p.offset, o + 8);
    b.writeBigUInt64LE(p.vaddr, o + 16);
    b.writeBigUInt64LE(p.vaddr, o + 24);
    b.writeBigUInt64LE(p.filesz, o + 32);
    b.writeBigUInt64LE(p.memsz, o + 40);
    b.writeBigUInt64LE(0x1000n, o + 48);
  });
  for (let i = Math.max(64, phoff + table); i < b.length; i++) b[i] = i & 0xff;
  return b;
}

/** Mostly plausible values (so that loading gets far), with the edges mixed in. */
const u64 = (plausible: fc.Arbitrary<bigint>) =>
  fc.oneof({ weight: 24, arbitrary: plausible }, { weight: 2, arbitrary: fc.constantFrom(...U64_EDGES) }, { weight: 1, arbitrary: fc.bigUintN(64) });

const phdrArb: fc.Arbitrary<PhdrSpec> = fc
  .record({
    type: fc.oneof({ weight: 8, arbitrary: fc.constant(PT_LOAD) }, { weight: 3, arbitrary: fc.constantFrom(...P_TYPES) }),
    flags: fc.oneof(fc.nat(7), fc.nat({ max: 0xffffffff })),
    // Page-congruent with the address (mapped from the file), or not (copied).
    offset: u64(fc.oneof(fc.bigInt(0n, 0x2000n), fc.constantFrom(0n, 0x1000n, 0x2000n))),
    vaddr: u64(
      fc.oneof(
        fc.bigInt(0x400000n, 0x404000n),
        fc.constantFrom(0x400000n, 0x401000n, 0x402000n),
        fc.bigInt(0n, 0x20000n),
        fc.bigInt(0x400000n, 0x10000000n),
      ),
    ),
    filesz: u64(fc.bigInt(0n, 0x1000n)),
    // memsz: filesz plus this (small, a page, or large .bss), or a value of its own
    memsz: fc.oneof(
      { weight: 6, arbitrary: fc.oneof(fc.bigInt(0n, 0x100n), fc.bigInt(0n, 0x4000n), fc.bigInt(0n, 0x4000000n)).map((extra) => ({ extra })) },
      { weight: 1, arbitrary: u64(fc.bigInt(0n, 0x4000n)).map((memsz) => ({ memsz })) },
    ),
  })
  .map(({ memsz, ...p }) => ({ ...p, memsz: "extra" in memsz ? (p.filesz + memsz.extra) & mask(8) : memsz.memsz }));

const specArb: fc.Arbitrary<ElfSpec> = fc.record({
  type: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(2, 3) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  machine: fc.oneof({ weight: 20, arbitrary: fc.constant(62) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  entry: u64(fc.bigInt(0x400000n, 0x402000n)),
  phoff: fc.oneof({ weight: 16, arbitrary: fc.constant(64n) }, { weight: 1, arbitrary: fc.bigInt(0n, 0x10000n) }, { weight: 1, arbitrary: fc.constantFrom(...U64_EDGES) }),
  phentsize: fc.oneof({ weight: 20, arbitrary: fc.constant(56) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  phnum: fc.oneof({ weight: 16, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.nat(0xffff) }),
  phdrs: fc.array(phdrArb, { minLength: 1, maxLength: 6 }),
  size: fc.oneof({ weight: 4, arbitrary: fc.constant(0x3000) }, { weight: 1, arbitrary: fc.nat(0x3000) }),
});

test("headers built from arbitrary field values load or are refused in one line", () => {
  const dir = tempDir("torov-elf-fuzz-");
  let loaded = 0;
  fc.assert(
    fc.property(specArb, memoryArb, (spec, memoryMiB) => {
      if ("image" in checkAll(join(dir, "built"), build(spec), memoryMiB)) loaded++;
    }),
    runs(5000),
  );
  if (!REPLAY) assert.ok(loaded > 300, `only ${loaded} loaded`);
});

test("many program headers: a bounded table, loaded or refused quickly", () => {
  const dir = tempDir("torov-elf-fuzz-");
  // Up to the most the loader takes (64 KiB of headers: 1170) and on to
  // e_phnum's limit, every header a PT_LOAD of its own page or all on one.
  fc.assert(
    fc.property(
      fc.oneof(fc.constantFrom(1170, 1171, 0xffff), fc.integer({ min: 100, max: 1170 }), fc.integer({ min: 1171, max: 0xffff })),
      fc.boolean(),
      fc.constantFrom(256, 4096),
      (phnum, samePage, memoryMiB) => {
        const phdrs = Array.from({ length: phnum }, (_, i) => ({
          type: PT_LOAD,
          flags: 5,
          offset: 0n,
          vaddr: BigInt(0x400000 + (samePage ? 0 : i * PAGE)),
          filesz: 0x40n,
          memsz: 0x40n,
        }));
        const r = check(join(dir, "many"), build({ type: 2, machine: 62, entry: 0x400000n, phoff: 64n, phentsize: 56, phnum: undefined, phdrs, size: 0 }), memoryMiB);
        assert.equal("image" in r, phnum <= 1170);
      },
    ),
    runs(16),
  );
});

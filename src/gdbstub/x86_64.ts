// The x86-64 registers torov describes to GDB: what gdbserver describes for
// a Linux process with AVX (the core, SSE, linux and segments features and
// the upper halves of YMM), generated from one table, with the codec between
// GDB's 'g' packet and the native register layout (src/vmm/regs.ts).

import { FXSAVE_OFFSET, REG_OFFSET, REGS_SIZE, YMMH_OFFSET, type RegName } from "../vmm/regs.js";

type Source =
  | { at: "reg"; name: RegName } // an integer register of the native layout
  | { at: "fx"; offset: number; size: number } // bytes of the FXSAVE area
  | { at: "ftag" } // the full tag word, rebuilt from FXSAVE's abridged one
  | { at: "fop" }
  | { at: "ymmh"; index: number };

export interface RegisterInfo {
  readonly name: string;
  readonly regnum: number;
  readonly bits: number;
  readonly type: string;
  readonly group?: string;
  readonly feature: string;
  readonly source: Source;
  /** Offset of this register in the 'g' packet's bytes. */
  readonly offset: number;
}

const GPRS = ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"] as const;
const CORE = "org.gnu.gdb.i386.core";
const SSE = "org.gnu.gdb.i386.sse";
const LINUX = "org.gnu.gdb.i386.linux";
const SEGMENTS = "org.gnu.gdb.i386.segments";
const AVX = "org.gnu.gdb.i386.avx";

type Row = [name: string, bits: number, type: string, feature: string, source: Source, group?: string];

const rows: Row[] = [
  ...GPRS.map((g): Row => [g, 64, g === "rbp" || g === "rsp" ? "data_ptr" : "int64", CORE, { at: "reg", name: g }]),
  ["rip", 64, "code_ptr", CORE, { at: "reg", name: "rip" }],
  ["eflags", 32, "i386_eflags", CORE, { at: "reg", name: "eflags" }],
  ...(["cs", "ss", "ds", "es", "fs", "gs"] as const).map((s): Row => [s, 32, "int32", CORE, { at: "reg", name: s }]),
  ...[0, 1, 2, 3, 4, 5, 6, 7].map((i): Row => [`st${i}`, 80, "i387_ext", CORE, { at: "fx", offset: 32 + 16 * i, size: 10 }]),
  ["fctrl", 32, "int", CORE, { at: "fx", offset: 0, size: 2 }, "float"],
  ["fstat", 32, "int", CORE, { at: "fx", offset: 2, size: 2 }, "float"],
  ["ftag", 32, "int", CORE, { at: "ftag" }, "float"],
  ["fiseg", 32, "int", CORE, { at: "fx", offset: 12, size: 2 }, "float"],
  ["fioff", 32, "int", CORE, { at: "fx", offset: 8, size: 4 }, "float"],
  ["foseg", 32, "int", CORE, { at: "fx", offset: 20, size: 2 }, "float"],
  ["fooff", 32, "int", CORE, { at: "fx", offset: 16, size: 4 }, "float"],
  ["fop", 32, "int", CORE, { at: "fop" }, "float"],
  ...Array.from({ length: 16 }, (_, i): Row => [`xmm${i}`, 128, "vec128", SSE, { at: "fx", offset: 160 + 16 * i, size: 16 }]),
  ["mxcsr", 32, "i386_mxcsr", SSE, { at: "fx", offset: 24, size: 4 }, "vector"],
  ["orig_rax", 64, "int", LINUX, { at: "reg", name: "orig_rax" }, "system"],
  ["fs_base", 64, "int", SEGMENTS, { at: "reg", name: "fs_base" }],
  ["gs_base", 64, "int", SEGMENTS, { at: "reg", name: "gs_base" }],
  ...Array.from({ length: 16 }, (_, i): Row => [`ymm${i}h`, 128, "uint128", AVX, { at: "ymmh", index: i }]),
];

export const REGISTERS: readonly RegisterInfo[] = (() => {
  let offset = 0;
  return rows.map(([name, bits, type, feature, source, group], regnum) => {
    const r = { name, regnum, bits, type, feature, source, group, offset };
    offset += bits / 8;
    return r;
  });
})();

/** Bytes in a 'g' packet. */
export const G_SIZE = REGISTERS.reduce((n, r) => n + r.bits / 8, 0);

export const REGNUM: Readonly<Record<string, number>> = Object.fromEntries(REGISTERS.map((r) => [r.name, r.regnum]));

// ---- the x87 tag word: FXSAVE keeps one "in use" bit per register; GDB
// shows the full word (two bits each: valid 00, zero 01, special 10, empty 11).

function classify(ext: Buffer): number {
  const exponent = ext.readUInt16LE(8) & 0x7fff;
  const mantissa = ext.readBigUInt64LE(0);
  if (exponent === 0x7fff) return 2;
  if (exponent === 0) return mantissa === 0n ? 1 : 2;
  return mantissa >> 63n ? 0 : 2;
}

function fullTag(fx: Buffer): number {
  const abridged = fx[4];
  const top = (fx.readUInt16LE(2) >> 11) & 7;
  let tag = 0;
  for (let phys = 0; phys < 8; phys++) {
    let t = 3;
    if ((abridged >> phys) & 1) {
      const st = (phys - top + 8) & 7;
      t = classify(fx.subarray(32 + 16 * st, 32 + 16 * st + 10));
    }
    tag |= t << (2 * phys);
  }
  return tag;
}

function abridgedTag(full: number): number {
  let bits = 0;
  for (let phys = 0; phys < 8; phys++) if (((full >> (2 * phys)) & 3) !== 3) bits |= 1 << phys;
  return bits;
}

/** One register's bytes in GDB's layout, from the native register buffer. */
export function readRegister(regs: Buffer, r: RegisterInfo): Buffer {
  const out = Buffer.alloc(r.bits / 8);
  const fx = regs.subarray(FXSAVE_OFFSET, FXSAVE_OFFSET + 512);
  const s = r.source;
  switch (s.at) {
    case "reg":
      regs.copy(out, 0, REG_OFFSET[s.name], REG_OFFSET[s.name] + out.length);
      break;
    case "fx":
      fx.copy(out, 0, s.offset, s.offset + s.size);
      break;
    case "ftag":
      out.writeUInt32LE(fullTag(fx));
      break;
    case "fop":
      out.writeUInt32LE(fx.readUInt16LE(6) & 0x7ff);
      break;
    case "ymmh":
      regs.copy(out, 0, YMMH_OFFSET + 16 * s.index, YMMH_OFFSET + 16 * s.index + 16);
      break;
  }
  return out;
}

/** One register in hex, as 'p' and stop replies carry it. */
export function registerHex(regs: Buffer, r: RegisterInfo): string {
  if (r.source.at !== "reg") return readRegister(regs, r).toString("hex");
  const off = REG_OFFSET[r.source.name];
  return regs.toString("hex", off, off + r.bits / 8);
}

/** Writes one register given in GDB's layout into the native buffer. */
export function writeRegister(regs: Buffer, r: RegisterInfo, value: Buffer): void {
  const fx = regs.subarray(FXSAVE_OFFSET, FXSAVE_OFFSET + 512);
  const s = r.source;
  switch (s.at) {
    case "reg": {
      // Narrow registers (eflags, selectors) are zero-extended.
      const off = REG_OFFSET[s.name];
      regs.fill(0, off, off + 8);
      value.copy(regs, off, 0, Math.min(value.length, 8));
      break;
    }
    case "fx":
      value.copy(fx, s.offset, 0, s.size);
      break;
    case "ftag":
      fx[4] = abridgedTag(value.readUInt32LE(0));
      break;
    case "fop":
      fx.writeUInt16LE(value.readUInt32LE(0) & 0x7ff, 6);
      break;
    case "ymmh":
      value.copy(regs, YMMH_OFFSET + 16 * s.index, 0, 16);
      break;
  }
}

/** The 'g' packet's bytes. */
export function toGPacket(regs: Buffer): Buffer {
  if (regs.length !== REGS_SIZE) throw new RangeError("register buffer of the wrong size");
  return Buffer.concat(REGISTERS.map((r) => readRegister(regs, r)));
}

/** Applies a 'G' packet's bytes to the native buffer (a copy is returned). */
export function fromGPacket(regs: Buffer, g: Buffer): Buffer {
  const out = Buffer.from(regs);
  for (const r of REGISTERS) {
    if (r.offset + r.bits / 8 > g.length) break; // a short G writes the leading registers
    writeRegister(out, r, g.subarray(r.offset, r.offset + r.bits / 8));
  }
  return out;
}

const FEATURE_TYPES: Record<string, string> = {
  [CORE]: `    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/>
      <field name="" start="1" end="1"/>
      <field name="PF" start="2" end="2"/>
      <field name="AF" start="4" end="4"/>
      <field name="ZF" start="6" end="6"/>
      <field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/>
      <field name="IF" start="9" end="9"/>
      <field name="DF" start="10" end="10"/>
      <field name="OF" start="11" end="11"/>
      <field name="NT" start="14" end="14"/>
      <field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/>
      <field name="AC" start="18" end="18"/>
      <field name="VIF" start="19" end="19"/>
      <field name="VIP" start="20" end="20"/>
      <field name="ID" start="21" end="21"/>
    </flags>
`,
  [SSE]: `    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/>
    <vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v4_float" type="v4f"/>
      <field name="v2_double" type="v2d"/>
      <field name="v16_int8" type="v16i8"/>
      <field name="v8_int16" type="v8i16"/>
      <field name="v4_int32" type="v4i32"/>
      <field name="v2_int64" type="v2i64"/>
      <field name="uint128" type="uint128"/>
    </union>
    <flags id="i386_mxcsr" size="4">
      <field name="IE" start="0" end="0"/>
      <field name="DE" start="1" end="1"/>
      <field name="ZE" start="2" end="2"/>
      <field name="OE" start="3" end="3"/>
      <field name="UE" start="4" end="4"/>
      <field name="PE" start="5" end="5"/>
      <field name="DAZ" start="6" end="6"/>
      <field name="IM" start="7" end="7"/>
      <field name="DM" start="8" end="8"/>
      <field name="ZM" start="9" end="9"/>
      <field name="OM" start="10" end="10"/>
      <field name="UM" start="11" end="11"/>
      <field name="PM" start="12" end="12"/>
      <field name="FZ" start="15" end="15"/>
    </flags>
`,
};

/** The target description (qXfer:features:read:target.xml). */
export const TARGET_XML: string = (() => {
  const features = [...new Set(REGISTERS.map((r) => r.feature))];
  const body = features
    .map((f) => {
      const regs = REGISTERS.filter((r) => r.feature === f)
        .map((r) => `    <reg name="${r.name}" bitsize="${r.bits}" type="${r.type}" regnum="${r.regnum}"${r.group ? ` group="${r.group}"` : ""}/>`)
        .join("\n");
      return `  <feature name="${f}">\n${FEATURE_TYPES[f] ?? ""}${regs}\n  </feature>`;
    })
    .join("\n");
  return `<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target>
  <architecture>i386:x86-64</architecture>
  <osabi>GNU/Linux</osabi>
${body}
</target>
`;
})();

// Shared by the GDB protocol fuzz tests (test/unit/gdb-fuzz.test.ts and
// test/e2e/stub-fuzz.test.ts): fast-check generators for the packets GDB
// sends, well-formed and mangled, and the oracle every reply must satisfy.

import fc from "fast-check";
import { parseCommand, ParseError, type Command } from "../src/gdbstub/protocol/commands.js";
import { decodeRle, escapeBinary, MAX_PACKET } from "../src/gdbstub/protocol/packet.js";
import { G_SIZE, REGISTERS } from "../src/gdbstub/x86_64.js";
import { fuzzOptions, SEED_OVERRIDE } from "./fuzz-settings.js";

/** The seed every property runs with unless TOROV_FUZZ_SEED says otherwise (test/fuzz-settings.ts). */
export const SEED = SEED_OVERRIDE ?? 0x70207;
export const runs = (n: number) => fuzzOptions(n, SEED).numRuns;

const hexOf = (n: number | bigint) => n.toString(16);
const TWO64 = 1n << 64n;

/** Text made of these characters. */
export const textOf = (chars: string, maxLength = 12) => fc.array(fc.constantFrom(...chars), { maxLength }).map((a) => a.join(""));

/**
 * A number field as GDB would write it (hex), and everything a confused or
 * hostile client might put there instead: huge, empty, negative, prefixed,
 * padded, not hex.
 */
export const hexField = (small = 0x10000): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 14, arbitrary: fc.integer({ min: 0, max: small }).map(hexOf) },
    { weight: 3, arbitrary: fc.bigUintN(64).map(hexOf) },
    { weight: 1, arbitrary: fc.bigUintN(64).map((n) => hexOf(n).toUpperCase()) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 1, max: 24 })).map(([n, w]) => hexOf(n).padStart(w, "0")) },
    { weight: 1, arbitrary: fc.bigUintN(160).map((n) => hexOf(n | (1n << 100n))) }, // more than 64 bits
    { weight: 1, arbitrary: fc.constantFrom("", "-1", "0x10", "ffffffff", "100000000", "7fffffff", "80000000", "ffffffffffffffff", "10000000000000000", " 1", "1 ", "+1", "1e3", "NaN") },
    { weight: 1, arbitrary: textOf("0123456789abcdefgxyzGXYZ-+ .:;,=*}$#\x00\xff", 10) },
  );

const threadField = fc.oneof(fc.constantFrom("", "0", "-1", "1", "p1.1", "p-1.-1", "pzz.1", "-2"), hexField(0xffff));
const signalField = fc.oneof(fc.integer({ min: 0, max: 0xff }).map((n) => hexOf(n).padStart(2, "0")), hexField(0x200));
const hexText = (s: string) => Buffer.from(s, "latin1").toString("hex");
const hexPayload = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("hex")) },
  { weight: 1, arbitrary: textOf("0123456789abcdefABCDEFxz", 40) },
);
/** File descriptors: the first ones the stub hands out, or anything. */
const fdField = fc.oneof(fc.constantFrom("3", "4", "5"), hexField(8));
const pathField = fc.oneof(fc.constantFrom("/prog", "/", "", "/nope", "../../../etc/passwd", "/proc/self/mem", "a\x00b").map(hexText), hexField());

/** An address: anywhere in 64 bits, but often near where programs (and the fake target) have memory. */
export const addrField: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: hexField(0x500000) },
  { weight: 4, arbitrary: fc.integer({ min: 0x3ff000, max: 0x4b0000 }).map(hexOf) },
  { weight: 1, arbitrary: fc.integer({ min: 0xf77c000, max: 0xff7e000 }).map(hexOf) },
  { weight: 1, arbitrary: fc.bigUintN(13).map((k) => hexOf(TWO64 - 1n - k)) },
);

/** An action list for vCont, each action with or without a thread. */
const vContActions = fc
  .array(
    fc.tuple(
      fc.oneof(
        fc.constantFrom("c", "s", "t", "x", "", "cc"),
        signalField.map((s) => `C${s}`),
        signalField.map((s) => `S${s}`),
        fc.tuple(addrField, addrField).map(([a, b]) => `r${a},${b}`),
        hexField().map((a) => `r${a}`),
      ),
      fc.option(threadField, { nil: undefined }),
    ),
    { minLength: 0, maxLength: 4 },
  )
  .map((acts) => acts.map(([a, t]) => (t === undefined ? a : `${a}:${t}`)).join(";"));

const monitorWords = fc.constantFrom("help", "memory", "hypercalls", "policy", "", "   ", "bogus", "memory extra words", "trace");
const xferObjects = fc.constantFrom("features", "exec-file", "auxv", "threads", "libraries", "memory-map", "", "a-b");
const features = fc.array(fc.oneof(fc.constantFrom("swbreak+", "hwbreak+", "multiprocess+", "xmlRegisters=i386", "vContSupported+", "qRelocInsn+", "-", "+", ""), textOf("abcxyz+-=;:", 8)), { maxLength: 6 });

/** A packet payload of one of the kinds GDB sends, with random fields. */
export const gdbPacket: fc.Arbitrary<Buffer> = fc
  .oneof(
    fc.tuple(addrField, hexField()).map(([a, l]) => `m${a},${l}`),
    fc.tuple(addrField, hexField(64), hexPayload).map(([a, l, d]) => `M${a},${l}:${d}`),
    fc.tuple(addrField, fc.uint8Array({ maxLength: 64 })).map(([a, d]) => `M${a},${hexOf(d.length)}:${Buffer.from(d).toString("hex")}`),
    fc.tuple(addrField, fc.uint8Array({ maxLength: 64 }), fc.boolean(), hexField(64)).map(([a, d, honest, l]) =>
      Buffer.concat([Buffer.from(`X${a},${honest ? hexOf(d.length) : l}:`), escapeBinary(d)]),
    ),
    fc.constantFrom("g", "g0", "?", "k", "D", "D;1", "vKill;1", "vCont?", "qC", "qfThreadInfo", "qsThreadInfo", "qAttached", "qAttached:1", "QStartNoAckMode", "qSymbol::", "QNonStop:0", "QNonStop:1", "qTStatus", "vMustReplyEmpty", "qOffsets", "vCtrlC", "vRun;", "QDisableRandomization:1", "QThreadEvents:1", "QListThreadsInStopReply", "qTfP", "qThreadExtraInfo,1", "!", "R00", "i", "bc", ""),
    hexPayload.map((d) => `G${d}`),
    fc.tuple(fc.integer({ min: 0, max: G_SIZE + 4 }), fc.integer({ min: 0, max: 255 })).map(([n, b]) => `G${Buffer.alloc(n, b).toString("hex")}`),
    hexField(REGISTERS.length + 4).map((r) => `p${r}`),
    fc.tuple(hexField(REGISTERS.length + 4), hexPayload).map(([r, d]) => `P${r}=${d}`),
    fc.tuple(fc.integer({ min: 0, max: REGISTERS.length - 1 }), fc.integer({ min: 0, max: 255 })).map(([r, b]) => `P${hexOf(r)}=${Buffer.alloc(REGISTERS[r].bits / 8, b).toString("hex")}`),
    fc.tuple(fc.constantFrom("Z", "z"), fc.oneof(fc.integer({ min: 0, max: 5 }).map(hexOf), hexField(16)), addrField, fc.oneof(fc.constantFrom("1", "2", "4", "8"), hexField()), fc.option(textOf("X0123456789abcdef,;:", 12), { nil: undefined })).map(
      ([z, t, a, k, cond]) => `${z}${t},${a},${k}${cond === undefined ? "" : `;${cond}`}`,
    ),
    vContActions.map((a) => `vCont;${a}`),
    fc.tuple(fc.constantFrom("c", "s", "C", "S"), fc.option(hexField(), { nil: undefined })).map(([c, a]) => `${c}${a ?? ""}`),
    fc.tuple(fc.constantFrom("C", "S"), signalField, hexField()).map(([c, s, a]) => `${c}${s};${a}`),
    fc.tuple(pathField, hexField(0x1ff), hexField(0x1ff)).map(([p, f, m]) => `vFile:open:${p},${f},${m}`),
    fc.constantFrom(`vFile:open:${hexText("/prog")},0,0`, "vFile:close:3", "vFile:fstat:3", "vFile:pread:3,100,0"),
    fc.tuple(xferObjects, fc.integer({ min: 0, max: 0x3000 }), fc.integer({ min: 0, max: 0x1000 })).map(([o, off, len]) => `qXfer:${o}:read:${o === "features" ? "target.xml" : ""}:${hexOf(off)},${hexOf(len)}`),
    fc.tuple(fdField, hexField(0x20000), hexField()).map(([fd, n, o]) => `vFile:pread:${fd},${n},${o}`),
    fc.tuple(fc.constantFrom("close", "fstat", "setfs", "readlink", "unlink", "pwrite", "stat", ""), fc.oneof(fdField, pathField)).map(([op, a]) => `vFile:${op}:${a}`),
    fc.tuple(xferObjects, fc.constantFrom("read", "read", "read", "write", "rd"), fc.constantFrom("target.xml", "", "i386.xml", "../x", "2a"), hexField(), hexField(0x20000)).map(
      ([o, op, annex, off, len]) => `qXfer:${o}:${op}:${annex}:${off},${len}`,
    ),
    features.map((f) => (f.length ? `qSupported:${f.join(";")}` : "qSupported")),
    fc.tuple(fc.constantFrom("0", "1", "2", "", "01"), fc.array(hexField(0x400), { maxLength: 6 })).map(([on, ns]) => `QCatchSyscalls:${[on, ...ns].join(";")}`),
    fc.tuple(fc.constantFrom("QPassSignals", "QProgramSignals"), fc.array(signalField, { maxLength: 6 })).map(([q, s]) => `${q}:${s.join(";")}`),
    fc.oneof(monitorWords.map(hexText), hexField()).map((c) => `qRcmd,${c}`),
    fc.tuple(fc.constantFrom("Hg", "Hc", "H", "Hx", "T"), threadField).map(([h, t]) => `${h}${t}`),
  )
  .map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : p));

/** A byte likely to matter to a parser. */
const interestingByte = fc.oneof(fc.constantFrom(...Buffer.from(",:;=}*#$+-0123456789abcdefxX \x00\x03\xff", "latin1")), fc.integer({ min: 0, max: 255 }));

type Mutation = (b: Buffer) => Buffer;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.nat().map((at): Mutation => (b) => b.subarray(0, b.length ? at % (b.length + 1) : 0)), // truncate
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 8 })).map(([at, n]): Mutation => (b) => {
    const i = b.length ? at % b.length : 0;
    return Buffer.concat([b.subarray(0, i), b.subarray(i + n)]); // delete
  }),
  fc.tuple(fc.nat(), fc.array(interestingByte, { minLength: 1, maxLength: 6 })).map(([at, bytes]): Mutation => (b) => {
    const i = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), Buffer.from(bytes), b.subarray(i)]); // insert
  }),
  fc.tuple(fc.nat(), interestingByte).map(([at, byte]): Mutation => (b) => {
    if (!b.length) return b;
    const c = Buffer.from(b);
    c[at % c.length] = byte; // replace
    return c;
  }),
  fc.tuple(fc.nat(), fc.nat()).map(([from, len]): Mutation => (b) => {
    if (!b.length) return b;
    const i = from % b.length;
    return Buffer.concat([b.subarray(0, i), b.subarray(i, i + 1 + (len % 16)), b.subarray(i)]); // duplicate a piece
  }),
  fc.constant<Mutation>((b) => Buffer.concat([b, Buffer.from("f".repeat(40))])), // a huge last number
);

/** A GDB packet with up to three mutations applied. */
export const mutatedPacket: fc.Arbitrary<Buffer> = fc
  .tuple(gdbPacket, fc.array(mutation, { maxLength: 3 }))
  .map(([p, ms]) => ms.reduce((b, m) => m(b), p));

/** Anything at all as a packet body: real kinds, mangled ones, and noise. */
export const anyPacketBody: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: gdbPacket },
  { weight: 4, arbitrary: mutatedPacket },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom("m", "M", "X", "p", "P", "G", "Z", "z", "q", "Q", "v", "H", "T", "C", "S", "vFile:", "qXfer:", "vCont;"), fc.uint8Array({ maxLength: 40 })).map(([h, b]) => Buffer.concat([Buffer.from(h), b])) },
);

/** Payload bytes a packet can carry as they are: '$' and '#' escaped the way GDB escapes them. */
export function sendable(body: Buffer): Buffer {
  const out: number[] = [];
  for (const b of body) {
    if (b === 0x23 || b === 0x24) out.push(0x7d, b ^ 0x20);
    else out.push(b);
  }
  return Buffer.from(out);
}

// ---- what the parser must return

function fail(cmd: Command, why: string): never {
  throw new Error(`ill-formed command ${JSON.stringify(cmd, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}: ${why}`);
}
const isU64 = (v: unknown) => typeof v === "bigint" && v >= 0n && v < TWO64;
const isInt = (v: unknown, max: number) => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

/** Throws unless a parsed command carries what its handler can rely on. */
export function checkCommand(cmd: Command): void {
  switch (cmd.kind) {
    case "readMemory":
      if (!isU64(cmd.addr) || !isInt(cmd.length, 0x10000)) fail(cmd, "address or length out of range");
      break;
    case "writeMemory":
      if (!isU64(cmd.addr) || !Buffer.isBuffer(cmd.data) || cmd.data.length > MAX_PACKET) fail(cmd, "address or data");
      break;
    case "writeRegisters":
      if (!Buffer.isBuffer(cmd.data)) fail(cmd, "data");
      break;
    case "readRegister":
      if (!isInt(cmd.reg, 0xffff)) fail(cmd, "register");
      break;
    case "writeRegister":
      if (!isInt(cmd.reg, 0xffff) || !Buffer.isBuffer(cmd.data)) fail(cmd, "register or data");
      break;
    case "breakpoint":
      if (![0, 1, 2, 3, 4].includes(cmd.type) || !isU64(cmd.addr) || !isInt(cmd.length, 0x10000) || typeof cmd.insert !== "boolean") fail(cmd, "fields");
      break;
    case "resume":
      if (!cmd.actions.length) fail(cmd, "no action");
      for (const a of cmd.actions) {
        if (!["c", "s", "t", "C", "S", "r"].includes(a.action)) fail(cmd, "action");
        if ((a.action === "C" || a.action === "S") !== (a.signal !== undefined)) fail(cmd, "signal");
        if (a.signal !== undefined && !isInt(a.signal, 255)) fail(cmd, "signal range");
        if (a.action === "r" && (!isU64(a.start) || !isU64(a.end))) fail(cmd, "range");
        if (a.thread !== undefined && typeof a.thread !== "string") fail(cmd, "thread");
      }
      break;
    case "xfer":
      if (!isInt(cmd.offset, 0x7fffffff) || !isInt(cmd.length, 0x10000) || !/^[\w-]+$/.test(cmd.object)) fail(cmd, "fields");
      break;
    case "vFileOpen":
      if (typeof cmd.path !== "string" || !isInt(cmd.flags, 0x7fffffff) || !isInt(cmd.mode, 0x7fffffff)) fail(cmd, "fields");
      break;
    case "vFilePread":
      if (!isInt(cmd.fd, 0x7fffffff) || !isInt(cmd.count, 0x10000) || !isInt(cmd.offset, 0x7fffffff)) fail(cmd, "fields");
      break;
    case "vFileClose":
    case "vFileFstat":
      if (!isInt(cmd.fd, 0x7fffffff)) fail(cmd, "fd");
      break;
    case "vFileSetfs":
      if (!isInt(cmd.pid, 0x7fffffff)) fail(cmd, "pid");
      break;
    case "catchSyscalls":
      if (!cmd.numbers.every((n) => isInt(n, 1023)) || (!cmd.enable && cmd.numbers.length)) fail(cmd, "numbers");
      break;
    case "signals":
      if (!cmd.signals.every((n) => isInt(n, 255))) fail(cmd, "signals");
      break;
    case "kill":
      if (typeof cmd.reply !== "boolean") fail(cmd, "reply");
      break;
    case "qSupported":
      if (!cmd.features.every((f) => typeof f === "string")) fail(cmd, "features");
      break;
    case "setThread":
    case "threadAlive":
      if (typeof cmd.thread !== "string") fail(cmd, "thread");
      break;
    case "monitor":
    case "vFileReadlink":
    case "unsupported":
    case "ok":
      break;
    case "startNoAck":
    case "haltReason":
    case "readRegisters":
    case "vContQuery":
    case "detach":
    case "currentThread":
    case "threadInfo":
    case "attached":
    case "symbol":
      break;
    default:
      fail(cmd, "unknown kind");
  }
}

/** The command a payload asks for, as the session sees it; undefined when it must be refused (E..). */
export function commandOf(payload: Buffer): Command | undefined {
  const expanded = decodeRle(payload);
  if (!expanded) return undefined;
  try {
    return parseCommand(expanded);
  } catch (e) {
    if (e instanceof ParseError) return undefined;
    throw e;
  }
}

// ---- what a reply may be

const ERROR = /^E[0-9a-fA-F]{2}$/;
const HEX = /^([0-9a-f]{2})*$/;
/** A thread id: TID, or pPID.TID once GDB and the stub agreed on multiprocess. */
const THREAD = "(p[0-9a-f]+\\.)?[0-9a-f]+";
const STOP = new RegExp(`^(T[0-9a-f]{2}(thread:${THREAD};)?([0-9a-z_]+:[0-9a-f]*;)*|[SWX][0-9a-f]{2}(;process:[0-9a-f]+)?)$`);
const FILEIO = /^F(-1,[0-9a-f]+|[0-9a-f]+)$/;
const REG_BYTES = new Map(REGISTERS.map((r) => [r.regnum, r.bits / 8]));

/** Binary reply data is escaped: no raw '$', '#' or '*', and every '}' escapes something. */
function wellEscaped(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b === 0x24 || b === 0x23 || b === 0x2a) return false;
    if (b === 0x7d && ++i >= data.length) return false;
  }
  return true;
}

/**
 * Why a reply payload is not what the protocol allows for this request
 * (undefined when it is). `running`: the stub got the request while the
 * program ran (all-stop: it refuses everything).
 */
export function replyProblem(request: Buffer, reply: Buffer, running = false): string | undefined {
  const text = reply.toString("latin1");
  const printable = /^[\x20-\x7e]*$/.test(text) && !/[$#*]/.test(text);
  if (running) return ERROR.test(text) ? undefined : "not an error while running";
  const cmd = commandOf(request);
  if (!cmd) return ERROR.test(text) ? undefined : "a malformed request must get E..";
  const ok = (cond: boolean, what: string) => (cond ? undefined : `expected ${what}`);
  const okOrError = () => ok(text === "OK" || ERROR.test(text), "OK or E..");
  switch (cmd.kind) {
    case "readMemory":
      if (cmd.length === 0) return ok(text === "" || text === "OK" || ERROR.test(text), "nothing");
      return ok(ERROR.test(text) || (HEX.test(text) && text.length >= 2 && text.length <= 2 * cmd.length), "hex bytes, at most as many as asked, or E..");
    case "readRegisters":
      return ok(ERROR.test(text) || (HEX.test(text) && text.length === 2 * G_SIZE), "all registers in hex, or E..");
    case "readRegister": {
      const n = REG_BYTES.get(cmd.reg);
      return ok(ERROR.test(text) || (n !== undefined && HEX.test(text) && text.length === 2 * n), "the register in hex, or E..");
    }
    case "writeMemory":
    case "writeRegisters":
    case "writeRegister":
    case "breakpoint":
    case "setThread":
    case "threadAlive":
    case "monitor":
      return okOrError();
    case "haltReason":
      return ok(STOP.test(text), "a stop reply");
    case "resume":
      return ok(STOP.test(text) || text === "OK" || ERROR.test(text), "a stop reply");
    case "kill":
    case "detach":
      return okOrError();
    case "vContQuery":
      return ok(/^vCont(;[a-zA-Z])+$/.test(text), "vCont;actions");
    case "currentThread":
      return ok(new RegExp(`^QC${THREAD}$`).test(text), "QC<thread>");
    case "threadInfo":
      return ok(new RegExp(`^(m${THREAD}(,${THREAD})*|l)$`).test(text), "m<threads> or l");
    case "attached":
      return ok(text === "0" || text === "1", "0 or 1");
    case "xfer":
      return ok(text === "" || ERROR.test(text) || (/^[ml]/.test(text) && wellEscaped(reply.subarray(1)) && reply.length - 1 <= 2 * cmd.length), "m/l and escaped data, E.. or nothing");
    case "vFileOpen":
    case "vFileClose":
    case "vFileSetfs":
    case "vFileReadlink":
      return ok(FILEIO.test(text) || ERROR.test(text), "F<result>");
    case "vFilePread":
    case "vFileFstat": {
      const semi = reply.indexOf(0x3b);
      if (semi < 0) return ok(FILEIO.test(text) || ERROR.test(text), "F<result>");
      const m = /^F([0-9a-f]+)$/.exec(reply.subarray(0, semi).toString("latin1"));
      const data = reply.subarray(semi + 1);
      return ok(!!m && wellEscaped(data), "F<count>;<escaped data>");
    }
    case "qSupported":
      return ok(/^PacketSize=[0-9a-f]+(;[\w:.=-]+[+-]?)*$/.test(text), "a feature list");
    case "startNoAck":
    case "ok":
    case "symbol":
    case "catchSyscalls":
    case "signals":
      return okOrError();
    case "unsupported":
      return ok(text === "", "the empty reply");
    default:
      return printable ? undefined : "printable text";
  }
}

/** Splits what the stub wrote into acks, nacks and framed packets (checking every checksum). */
export function splitReplies(out: Buffer): { acks: number; nacks: number; packets: Buffer[]; junk: string[] } {
  const packets: Buffer[] = [];
  const junk: string[] = [];
  let acks = 0;
  let nacks = 0;
  for (let i = 0; i < out.length; ) {
    const b = out[i];
    if (b === 0x2b) {
      acks++;
      i++;
    } else if (b === 0x2d) {
      nacks++;
      i++;
    } else if (b === 0x24) {
      const end = out.indexOf(0x23, i + 1);
      const start = out.indexOf(0x24, i + 1);
      if (end < 0 || (start >= 0 && start < end) || end + 3 > out.length) {
        junk.push(`unterminated packet at ${i}`);
        break;
      }
      const body = out.subarray(i + 1, end);
      let sum = 0;
      for (const c of body) sum = (sum + c) & 0xff;
      const given = out.subarray(end + 1, end + 3).toString("latin1");
      if (given !== sum.toString(16).padStart(2, "0")) junk.push(`bad checksum ${given} on ${body.toString("latin1").slice(0, 40)}`);
      packets.push(Buffer.from(body));
      i = end + 3;
    } else {
      junk.push(`stray byte ${b} at ${i}`);
      i++;
    }
  }
  return { acks, nacks, packets, junk };
}

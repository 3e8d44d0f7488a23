// Property tests (fast-check) of the GDB remote protocol side: the packet
// reader over arbitrary byte streams cut anywhere, the codecs, the command
// parser over real and mangled packets, and a whole Session driven with a
// fake target. Fixed seed (TOROV_FUZZ_SEED to change it, TOROV_FUZZ_RUNS
// for more cases).

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fstatSync, openSync } from "node:fs";
import { parseCommand, ParseError } from "../../src/gdbstub/protocol/commands.js";
import { checksum, decodeRle, encodeRle, escapeBinary, frame, fromHex, MAX_PACKET, PacketReader, toHex, unescapeBinary, type ReaderEvent } from "../../src/gdbstub/protocol/packet.js";
import { Session } from "../../src/gdbstub/session.js";
import type { BreakpointKind, DebugTarget, StopEvent, WatchKind } from "../../src/gdbstub/target.js";
import { REGS_SIZE } from "../../src/vmm/regs.js";
import { anyPacketBody, checkCommand, commandOf, gdbPacket, replyProblem, runs, SEED, sendable, splitReplies } from "../rsp-fuzz.js";

const opts = (numRuns: number) => ({ seed: SEED, numRuns: runs(numRuns) });
const TWO64 = 1n << 64n;

// ---- the reader

/** Feeds a stream cut at these points; every chunk is overwritten once fed (as a socket's buffer may be). */
function readAll(stream: Buffer, cuts: number[], reader = new PacketReader()): ReaderEvent[] {
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  const events: ReaderEvent[] = [];
  let at = 0;
  for (const p of [...points, stream.length]) {
    const chunk = Buffer.from(stream.subarray(at, p));
    events.push(...reader.feed(chunk));
    chunk.fill(0x21);
    at = p;
  }
  return events;
}

const show = (events: ReaderEvent[]) => events.map((e) => (e.type === "packet" ? `packet:${e.data.toString("latin1")}` : e.type));

/** Bytes other than '$' and '#': a packet body. */
const bodyBytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((b) => Buffer.from(b.map((x) => (x === 0x23 || x === 0x24 ? x + 0x40 : x))));
/** A body that is mostly the bytes that mean something outside packets. */
const trickyBody = (minLength: number, maxLength: number) =>
  fc.array(fc.constantFrom(0x2b, 0x2d, 0x03, 0x7d, 0x2a, 0x61, 0x30), { minLength, maxLength }).map((a) => Buffer.from(a));
const hex2 = (n: number) => n.toString(16).padStart(2, "0");

/** A piece of a stream and the events it must produce, whatever precedes it (the reader is idle before and after). */
type Item = { bytes: Buffer; expect: string[] };
const item = (bytes: Buffer | string, expect: string[]): Item => ({ bytes: typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes, expect });

const streamItem: fc.Arbitrary<Item> = fc.oneof(
  // A good packet (checksum digits in either case).
  fc.tuple(bodyBytes(200), fc.boolean()).map(([b, upper]) => {
    const f = frame(b);
    if (upper) f.write(f.subarray(-2).toString("latin1").toUpperCase(), f.length - 2, "latin1");
    return item(f, [`packet:${b.toString("latin1")}`]);
  }),
  gdbPacket.filter((p) => !p.includes(0x23) && !p.includes(0x24)).map((p) => item(frame(p), [`packet:${p.toString("latin1")}`])),
  // Exactly as long as the stub accepts.
  fc.integer({ min: 0, max: 255 }).map((c) => {
    const b = Buffer.alloc(MAX_PACKET, c === 0x23 || c === 0x24 ? 0x61 : c);
    return item(frame(b), [`packet:${b.toString("latin1")}`]);
  }),
  // A wrong checksum, or digits that are not hex.
  fc.tuple(bodyBytes(60), fc.integer({ min: 1, max: 255 })).map(([b, d]) => item(`$${b.toString("latin1")}#${hex2((checksum(b) + d) & 0xff)}`, ["bad-checksum"])),
  fc.tuple(bodyBytes(60), fc.constantFrom("zz", "g0", "0g", "  ", "\x00\x00")).map(([b, cs]) => item(`$${b.toString("latin1")}#${cs}`, ["bad-checksum"])),
  // Acknowledgements and Ctrl-C.
  fc.constantFrom(item("+", ["ack"]), item("-", ["nack"]), item("\x03", ["interrupt"])),
  // Noise between packets: anything but '$', '+', '-' and Ctrl-C.
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => item(Buffer.from(b.filter((x) => ![0x24, 0x2b, 0x2d, 0x03].includes(x))), [])),
  // A packet that never ends in time, full of bytes that mean something
  // outside packets: cut off once, its bytes never read as acks or Ctrl-C.
  fc.tuple(trickyBody(1, 3000), fc.boolean()).map(([extra, good]) => {
    const body = Buffer.concat([Buffer.alloc(MAX_PACKET, 0x2d), extra]);
    const sum = good ? checksum(body) : checksum(body) ^ 1;
    return item(Buffer.concat([Buffer.from("$"), body, Buffer.from(`#${hex2(sum)}`)]), ["too-long"]);
  }),
  // A packet cut short by the next one: '$' always starts afresh.
  fc.tuple(trickyBody(0, 30), bodyBytes(30)).map(([cut, b]) => item(Buffer.concat([Buffer.from("$"), cut, frame(b)]), [`packet:${b.toString("latin1")}`])),
  // ... even where its checksum should be.
  fc.tuple(bodyBytes(30), fc.constantFrom("", "0", "a"), bodyBytes(30)).map(([cut, digits, b]) =>
    item(Buffer.concat([Buffer.from(`$${cut.toString("latin1")}#${digits}`), frame(b)]), ["bad-checksum", `packet:${b.toString("latin1")}`]),
  ),
);

test("reader: a stream of packets, acks, noise and bad packets gives exactly its events, however it is cut", () => {
  fc.assert(
    fc.property(fc.array(streamItem, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 30 }), (items, cuts) => {
      const stream = Buffer.concat(items.map((i) => i.bytes));
      assert.deepEqual(show(readAll(stream, cuts)), items.flatMap((i) => i.expect));
    }),
    opts(1500),
  );
});

/** Bytes with the protocol's special ones over-represented. */
const protocolBytes = (maxLength: number) =>
  fc
    .array(fc.oneof(fc.constantFrom(0x24, 0x23, 0x2b, 0x2d, 0x03, 0x7d, 0x2a, 0x30, 0x61, 0x66, 0x41), fc.integer({ min: 0, max: 255 })), { maxLength })
    .map((a) => Buffer.from(a));
/** A stream of random bytes mixed with real packets, good and bad. */
const messyStream = fc
  .array(fc.oneof(protocolBytes(40), gdbPacket.map((p) => frame(p)), fc.tuple(gdbPacket, fc.nat(4)).map(([p, n]) => frame(p).subarray(0, -n))), { maxLength: 10 })
  .map((parts) => Buffer.concat(parts));

/** Where `data` is framed with a correct checksum in the stream. */
function framedIn(stream: Buffer, data: Buffer): boolean {
  const want = checksum(data);
  for (let at = stream.indexOf(0x24); at >= 0; at = stream.indexOf(0x24, at + 1)) {
    const end = at + 1 + data.length;
    if (end + 3 > stream.length || stream[end] !== 0x23) continue;
    if (!stream.subarray(at + 1, end).equals(data)) continue;
    if (Number.parseInt(stream.subarray(end + 1, end + 3).toString("latin1"), 16) === want && /^[0-9a-fA-F]{2}$/.test(stream.subarray(end + 1, end + 3).toString("latin1"))) return true;
  }
  return false;
}

test("reader: any bytes, cut anywhere: never throws, the same events for every cut, no packet that was not framed with its checksum", () => {
  fc.assert(
    fc.property(messyStream, fc.array(fc.nat(), { maxLength: 40 }), (stream, cuts) => {
      const whole = readAll(stream, []);
      const cut = readAll(stream, cuts);
      assert.deepEqual(show(cut), show(whole));
      assert.deepEqual(cut, whole);
      for (const e of whole) {
        if (e.type !== "packet") continue;
        assert.ok(e.data.length <= MAX_PACKET);
        assert.ok(!e.data.includes(0x23) && !e.data.includes(0x24));
        assert.ok(framedIn(stream, e.data), `packet ${JSON.stringify(e.data.toString("latin1"))} was never framed with its checksum`);
      }
    }),
    opts(2000),
  );
});

test("reader: whatever came before, a well-formed packet is read", () => {
  fc.assert(
    fc.property(messyStream, gdbPacket.filter((p) => !p.includes(0x23) && !p.includes(0x24)), fc.array(fc.nat(), { maxLength: 10 }), (noise, p, cuts) => {
      const events = readAll(Buffer.concat([noise, frame(p)]), cuts);
      const last = events.at(-1);
      assert.ok(last?.type === "packet" && last.data.equals(p), `after ${JSON.stringify(noise.toString("latin1"))}: ${show(events).slice(-3)}`);
    }),
    opts(2000),
  );
});

test("reader: an endless packet keeps at most MAX_PACKET bytes, is reported once, and the next packet is read", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 70000 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 255 }), (sizes, fill) => {
      const r = new PacketReader();
      const held = () => (r as unknown as { parts: Uint8Array[] }).parts.reduce((n, p) => n + p.byteLength, 0);
      const byte = fill === 0x23 || fill === 0x24 ? 0x2d : fill;
      const events: ReaderEvent[] = [...r.feed(Buffer.from("$"))];
      let total = 0;
      for (const n of sizes) {
        events.push(...r.feed(Buffer.alloc(n, byte)));
        total += n;
        assert.ok(held() <= MAX_PACKET, `holding ${held()} bytes after ${total}`);
      }
      events.push(...r.feed(frame("qC")));
      assert.deepEqual(show(events), [...(total > MAX_PACKET ? ["too-long"] : []), "packet:qC"]);
      assert.equal(held(), 0);
    }),
    opts(200),
  );
});

// ---- codecs

test("codecs: escaping round-trips and leaves no $ # * or dangling }", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
      const esc = escapeBinary(raw);
      assert.ok(!esc.includes(0x23) && !esc.includes(0x24) && !esc.includes(0x2a));
      for (let i = 0; i < esc.length; i++) if (esc[i] === 0x7d) assert.ok(++i < esc.length, "a } at the end");
      assert.deepEqual(unescapeBinary(esc), Buffer.from(raw));
    }),
    opts(3000),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (junk) => {
      const out = unescapeBinary(junk);
      assert.ok(out.length <= junk.length);
      if (!junk.includes(0x7d)) assert.deepEqual(out, Buffer.from(junk));
    }),
    opts(2000),
  );
});

test("codecs: run-length encoding round-trips runs of any length without # or $", () => {
  const runsOfText = fc
    .array(fc.tuple(fc.constantFrom(..."0123456789abcdefxOK;:,.!~ "), fc.integer({ min: 1, max: 300 })), { maxLength: 20 })
    .map((rs) => rs.map(([c, n]) => c.repeat(n)).join(""));
  fc.assert(
    fc.property(runsOfText, (text) => {
      const enc = encodeRle(text);
      assert.ok(!/[#$]/.test(enc), enc);
      assert.ok(enc.length <= text.length);
      assert.equal(decodeRle(Buffer.from(enc, "latin1"))?.toString("latin1"), text);
    }),
    opts(2000),
  );
  fc.assert(
    fc.property(protocolBytes(200), (junk) => {
      const out = decodeRle(junk);
      const stars = junk.filter((b) => b === 0x2a).length;
      if (!stars) assert.equal(out, junk);
      if (!out) return;
      assert.ok(!out.includes(0x2a), "a repeat marker left in the output");
      // Each run swaps two bytes ('*' and its count) for 3 to 97 copies.
      assert.ok(out.length >= junk.length + stars && out.length <= junk.length + 95 * stars, `${junk.length} bytes, ${stars} runs, ${out.length} out`);
    }),
    opts(2000),
  );
});

test("codecs: hex round-trips; anything that is not an even run of hex digits is refused", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (raw) => {
      assert.deepEqual(fromHex(toHex(raw)), Buffer.from(raw));
      assert.deepEqual(fromHex(toHex(raw).toUpperCase()), Buffer.from(raw));
    }),
    opts(2000),
  );
  fc.assert(
    fc.property(fc.array(fc.constantFrom(..."0123456789abcdefABCDEFgxz -\u0100"), { maxLength: 20 }).map((a) => a.join("")), (text) => {
      const out = fromHex(text);
      const valid = text.length % 2 === 0 && /^[0-9a-fA-F]*$/.test(text);
      assert.equal(out !== undefined, valid);
      if (out) assert.equal(toHex(out), text.toLowerCase());
    }),
    opts(2000),
  );
});

test("codecs: frame() is read back as the same packet", () => {
  fc.assert(
    fc.property(bodyBytes(500), (body) => {
      const f = frame(body);
      assert.equal(f.subarray(-2).toString("latin1"), hex2(checksum(body)));
      assert.deepEqual(new PacketReader().feed(f), [{ type: "packet", data: body }]);
    }),
    opts(2000),
  );
});

// ---- the command parser

test("parser: any packet, real or mangled, is a well-formed command or a ParseError", () => {
  fc.assert(
    fc.property(anyPacketBody, (body) => {
      let cmd;
      try {
        cmd = parseCommand(body);
      } catch (e) {
        if (e instanceof ParseError) return;
        throw new Error(`${JSON.stringify(body.toString("latin1"))} threw ${(e as Error).stack}`);
      }
      checkCommand(cmd);
    }),
    opts(50000),
  );
});

test("parser: well-formed packets mean exactly what they say", () => {
  const u64 = fc.bigUintN(64);
  const len = fc.integer({ min: 0, max: 0x10000 });
  const hex = (n: number | bigint, upper: boolean) => (upper ? n.toString(16).toUpperCase() : n.toString(16));
  fc.assert(
    fc.property(u64, len, fc.boolean(), (addr, length, upper) => {
      assert.deepEqual(parseCommand(Buffer.from(`m${hex(addr, upper)},${hex(length, upper)}`)), { kind: "readMemory", addr, length });
    }),
    opts(2000),
  );
  fc.assert(
    fc.property(u64, fc.uint8Array({ maxLength: 300 }), (addr, data) => {
      const d = Buffer.from(data);
      assert.deepEqual(parseCommand(Buffer.from(`M${hex(addr, false)},${d.length.toString(16)}:${d.toString("hex")}`)), { kind: "writeMemory", addr, data: d });
      const x = Buffer.concat([Buffer.from(`X${hex(addr, false)},${d.length.toString(16)}:`), escapeBinary(d)]);
      assert.deepEqual(parseCommand(x), { kind: "writeMemory", addr, data: d });
      // RLE-expanded first, as the session does: escaped X data never contains '*'.
      assert.deepEqual(parseCommand(decodeRle(x)!), { kind: "writeMemory", addr, data: d });
    }),
    opts(2000),
  );
  fc.assert(
    fc.property(fc.constantFrom("Z", "z"), fc.integer({ min: 0, max: 4 }), u64, fc.integer({ min: 0, max: 0x10000 }), (z, type, addr, kind) => {
      assert.deepEqual(parseCommand(Buffer.from(`${z}${type},${hex(addr, false)},${kind.toString(16)}`)), { kind: "breakpoint", insert: z === "Z", type, addr, length: kind });
    }),
    opts(1000),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ minLength: 1, maxLength: 64 }), (reg, data) => {
      assert.deepEqual(parseCommand(Buffer.from(`p${reg.toString(16)}`)), { kind: "readRegister", reg });
      assert.deepEqual(parseCommand(Buffer.from(`P${reg.toString(16)}=${Buffer.from(data).toString("hex")}`)), { kind: "writeRegister", reg, data: Buffer.from(data) });
    }),
    opts(1000),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 0, max: 0x10000 }), fc.integer({ min: 0, max: 0x7fffffff }), (fd, count, offset) => {
      assert.deepEqual(parseCommand(Buffer.from(`vFile:pread:${fd.toString(16)},${count.toString(16)},${offset.toString(16)}`)), { kind: "vFilePread", fd, count, offset });
      assert.deepEqual(parseCommand(Buffer.from(`qXfer:auxv:read::${offset.toString(16)},${count.toString(16)}`)), { kind: "xfer", object: "auxv", annex: "", offset, length: count });
    }),
    opts(1000),
  );
  fc.assert(
    fc.property(u64, u64, fc.integer({ min: 0, max: 255 }), (start, end, sig) => {
      const s = sig.toString(16).padStart(2, "0");
      assert.deepEqual(parseCommand(Buffer.from(`vCont;r${hex(start, false)},${hex(end, false)}:1;C${s};s:2`)), {
        kind: "resume",
        actions: [
          { action: "r", start, end, thread: "1" },
          { action: "C", signal: sig, thread: undefined },
          { action: "s", thread: "2" },
        ],
      });
    }),
    opts(1000),
  );
});

// ---- a whole session against a fake target

const PID = 0x2a;
const REGIONS: Array<[bigint, bigint]> = [
  [0x400000n, 0x420000n],
  [0x420000n, 0x440000n], // adjacent: reads run across
  [0x4a0000n, 0x4ad000n],
  [TWO64 - 0x1000n, TWO64], // the very top
];

/** What the fake's memory holds at first: no two neighbouring bytes alike. */
const PATTERN = Buffer.from(Array.from({ length: 0x40010 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));

/**
 * A program that is memory and registers only. It complains (records a
 * violation) about any call the stub should never make: memory outside
 * what it has mapped, absurd lengths, registers while running.
 */
class FakeTarget implements DebugTarget {
  readonly pid = PID;
  readonly execFile = "/prog/we$ird#na*me}";
  readonly name = 'fake<&>"*$#}';
  readonly memory = REGIONS.map(([s, e], k) => ({ start: s, end: e, bytes: Buffer.from(PATTERN.subarray(k, k + Number(e - s))) }));
  regs = Buffer.alloc(REGS_SIZE);
  running = false;
  last: StopEvent = { kind: "stopped", signal: 5 };
  listeners: Array<(e: StopEvent) => void> = [];
  breakpoints = new Set<string>();
  watchpoints = new Set<string>();
  caught: "all" | number[] = [];
  violations: string[] = [];
  calls: string[] = [];
  openFiles: number[] = [];

  constructor(private readonly file: string) {}

  private region(addr: bigint) {
    return this.memory.find((r) => addr >= r.start && addr < r.end);
  }
  /** How many bytes from addr are mapped, up to len. */
  extent(addr: bigint, len: number): number {
    let n = 0;
    while (n < len) {
      const r = this.region(addr + BigInt(n));
      if (!r) break;
      n += Math.min(len - n, Number(r.end - (addr + BigInt(n))));
    }
    return n;
  }
  /** Bytes of mapped memory (which the caller has checked). */
  peek(addr: bigint, len: number): Buffer {
    const pieces: Buffer[] = [];
    for (let n = 0; n < len; ) {
      const r = this.region(addr + BigInt(n))!;
      const from = Number(addr + BigInt(n) - r.start);
      const piece = r.bytes.subarray(from, from + len - n);
      pieces.push(Buffer.from(piece));
      n += piece.length;
    }
    return Buffer.concat(pieces, len);
  }
  private checkRange(what: string, addr: bigint, len: number): boolean {
    if (typeof addr !== "bigint" || addr < 0n || addr >= TWO64) this.violations.push(`${what}: address ${addr}`);
    else if (!Number.isInteger(len) || len < 1 || len > 0x10000) this.violations.push(`${what}: length ${len}`);
    else return true;
    return false;
  }
  private stoppedOrThrow(what: string): void {
    if (this.running || this.last.kind !== "stopped") throw new Error(`${what}: the program is not stopped`);
  }
  private emit(e: StopEvent): void {
    this.last = e;
    this.running = false;
    for (const l of this.listeners) l(e);
  }

  lastStop(): StopEvent {
    return this.last;
  }
  onStop(listener: (event: StopEvent) => void): void {
    this.listeners.push(listener);
  }
  isRunning(): boolean {
    return this.running;
  }
  readRegisters(): Buffer {
    this.stoppedOrThrow("readRegisters");
    return Buffer.from(this.regs);
  }
  writeRegisters(regs: Buffer): boolean {
    this.stoppedOrThrow("writeRegisters");
    if (regs.length !== REGS_SIZE) this.violations.push(`writeRegisters: ${regs.length} bytes`);
    this.regs = Buffer.from(regs);
    return true;
  }
  readMemory(addr: bigint, length: number): Buffer | undefined {
    this.calls.push(`read ${addr.toString(16)},${length}`);
    if (this.running) this.violations.push("readMemory while running");
    if (!this.checkRange("readMemory", addr, length)) return undefined;
    const n = this.extent(addr, length);
    return n ? this.peek(addr, n) : undefined;
  }
  writeMemory(addr: bigint, data: Buffer): boolean {
    this.calls.push(`write ${addr.toString(16)},${data.toString("hex")}`);
    if (this.running) this.violations.push("writeMemory while running");
    if (!this.checkRange("writeMemory", addr, data.length)) return false;
    if (this.extent(addr, data.length) !== data.length) return false;
    for (let n = 0; n < data.length; ) {
      const r = this.region(addr + BigInt(n))!;
      n += data.copy(r.bytes, Number(addr + BigInt(n) - r.start), n);
    }
    return true;
  }
  threads(): Array<{ tid: number; name: string }> {
    return this.running || this.last.kind !== "stopped" ? [] : [{ tid: this.pid, name: this.name }];
  }
  resume(order: { step: boolean; signal: number; range?: { start: bigint; end: bigint } }): void {
    const { step, signal, range } = order;
    this.calls.push(`resume ${step} ${signal} ${range?.start ?? ""}`);
    if (this.running || this.last.kind !== "stopped") this.violations.push("resume while not stopped");
    this.running = true;
    if (signal === 9) this.emit({ kind: "killed", signal: 9 });
    else if (signal) this.emit({ kind: "exited", status: signal });
    else if (step) this.emit({ kind: "stopped", signal: 5 }); // at once, as the VM does for a step
    // else: runs until interrupted
  }
  interrupt(): void {
    if (this.running) this.emit({ kind: "stopped", signal: 2 });
  }
  kill(): void {
    this.calls.push("kill");
    this.last = { kind: "killed", signal: 9 };
    this.running = false;
  }
  detach(): void {
    this.calls.push("detach");
    this.running = true;
  }
  insertBreakpoint(kind: BreakpointKind, addr: bigint): boolean {
    this.calls.push(`Z ${kind} ${addr.toString(16)}`);
    if (this.running) this.violations.push("insertBreakpoint while running");
    if (!this.checkRange("insertBreakpoint", addr, 1) || !this.extent(addr, 1)) return false;
    this.breakpoints.add(`${kind}:${addr}`);
    return true;
  }
  removeBreakpoint(kind: BreakpointKind, addr: bigint): boolean {
    this.calls.push(`z ${kind} ${addr.toString(16)}`);
    return this.breakpoints.delete(`${kind}:${addr}`);
  }
  insertWatchpoint(kind: WatchKind, addr: bigint, length: number): boolean {
    this.calls.push(`Z ${kind} ${addr.toString(16)},${length}`);
    if (this.running) this.violations.push("insertWatchpoint while running");
    if (!this.checkRange("insertWatchpoint", addr, length) || this.extent(addr, length) !== length) return false;
    this.watchpoints.add(`${kind}:${addr}:${length}`);
    return true;
  }
  removeWatchpoint(kind: WatchKind, addr: bigint, length: number): boolean {
    this.calls.push(`z ${kind} ${addr.toString(16)},${length}`);
    return this.watchpoints.delete(`${kind}:${addr}:${length}`);
  }
  catchSyscalls(which: "all" | number[]): void {
    this.caught = which;
  }
  auxv(): Buffer {
    return Buffer.from([6, 0, 0, 0, 0, 0, 0, 0, 0x23, 0x24, 0x2a, 0x7d, 0, 0, 0, 0]);
  }
  openFile(path: string): number {
    if (path !== "/prog") return -2;
    const fd = openSync(this.file, "r");
    this.openFiles.push(fd);
    return fd;
  }
  monitor(command: string): string {
    if (command === "memory") return "x".repeat(0x2345); // more than one O packet
    return `you said "${command}" — ça va`;
  }
}

/** One step of a client: a packet (cut into pieces), a Ctrl-C, a nack, or noise. */
type Step = { kind: "packet"; body: Buffer; cuts: number[] } | { kind: "interrupt" } | { kind: "nack" } | { kind: "noise"; bytes: Buffer };
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: fc.tuple(anyPacketBody, fc.array(fc.nat(), { maxLength: 3 })).map(([body, cuts]): Step => ({ kind: "packet", body: body.subarray(0, MAX_PACKET), cuts })) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: "interrupt" }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: "nack" }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b): Step => ({ kind: "noise", bytes: Buffer.from(b.filter((x) => ![0x24, 0x2b, 0x2d, 0x03].includes(x))) })) },
);

test("session: any packets, any order: one well-formed reply each, memory touched only as asked", () => {
  const file = __filename;
  // What the run went through: it must have reached every kind of outcome.
  const seen: Record<string, number> = {};
  const saw = (what: string) => (seen[what] = (seen[what] ?? 0) + 1);
  fc.assert(
    fc.property(fc.array(step, { minLength: 1, maxLength: 40, size: "max" }), (steps) => {
      const target = new FakeTarget(file);
      let out: Buffer[] = [];
      let ended = false;
      const session = new Session(target, { write: (d) => out.push(Buffer.from(d)), end: () => (ended = true) });
      target.onStop((e) => session.onStop(e));
      let noAck = false;
      let pendingStop = false;
      let lastFrame: Buffer | undefined;
      const ctx = (s: Step, i: number) => `step ${i}: ${s.kind === "packet" ? JSON.stringify(s.body.toString("latin1")) : s.kind}`;

      steps.forEach((s, i) => {
        const where = ctx(s, i);
        const wasEnded = ended;
        const wasRunning = target.running;
        out = [];
        target.calls = [];
        let body: Buffer | undefined;
        switch (s.kind) {
          case "packet": {
            body = sendable(s.body);
            const f = frame(body);
            const points = [...new Set(s.cuts.map((c) => c % f.length))].sort((a, b) => a - b);
            let at = 0;
            for (const p of [...points, f.length]) {
              session.onData(Buffer.from(f.subarray(at, p)));
              at = p;
            }
            break;
          }
          case "interrupt":
            session.onData(Buffer.from([3]));
            break;
          case "nack":
            session.onData(Buffer.from("-"));
            break;
          case "noise":
            session.onData(s.bytes);
            break;
        }
        const all = Buffer.concat(out);
        assert.deepEqual(target.violations, [], where);
        if (wasEnded) {
          assert.equal(all.length, 0, `${where}: output after the session ended`);
          return;
        }
        const { acks, nacks, packets, junk } = splitReplies(all);
        assert.deepEqual(junk, [], where);
        assert.equal(nacks, 0, where);
        const replies = packets.filter((p, k) => !(s.kind === "packet" && k < packets.length - 1 && /^O([0-9a-f]{2})+$/.test(p.toString("latin1"))));
        for (const p of packets) assert.ok(!/[$#]/.test(p.toString("latin1")), `${where}: raw $ or # in ${p.toString("latin1")}`);

        if (s.kind === "noise") {
          assert.equal(all.length, 0, where);
        } else if (s.kind === "nack") {
          // Sent again, unless acknowledgements are off.
          if (noAck || !lastFrame) assert.equal(all.length, 0, where);
          else {
            assert.deepEqual(all, lastFrame, where);
            saw("sent again");
          }
        } else if (s.kind === "interrupt") {
          if (pendingStop) {
            assert.equal(replies.length, 1, where);
            assert.match(replies[0].toString("latin1"), /^T02thread:(p2a\.)?2a;/, where);
            pendingStop = false;
            saw("stopped by Ctrl-C");
          } else {
            assert.equal(all.length, 0, where);
          }
        } else {
          const request = body!;
          assert.equal(acks, noAck ? 0 : 1, `${where}: acks`);
          const cmd = wasRunning ? undefined : commandOf(request);
          const now = target.running && !wasRunning;
          // k has no reply; a resume that leaves the program running is
          // answered when it stops.
          let expected = 1;
          if (cmd?.kind === "kill" && !cmd.reply) expected = 0;
          else if (now && cmd?.kind === "resume") expected = 0;
          assert.equal(replies.length, expected, `${where}: replies ${replies.map((r) => r.toString("latin1"))}`);
          if (now && cmd?.kind === "resume") pendingStop = true;
          if (packets.length > replies.length) saw("O packets");
          for (const r of replies) {
            saw(wasRunning ? "refused while running" : `${cmd?.kind ?? "malformed"} ${r.toString("latin1").match(/^(E..|OK|T..|W..|X..|F-1|F|[ml]|$)/)?.[0] ?? "data"}`);
            const why = replyProblem(request, r, wasRunning);
            const ctrlC = wasRunning && request.toString("latin1") === "vCtrlC" && r.length === 0;
            assert.ok(!why || ctrlC, `${where}: reply ${JSON.stringify(r.toString("latin1").slice(0, 80))}: ${why}`);
          }
          if (cmd?.kind === "startNoAck" && replies[0]?.toString() === "OK") noAck = true;
          if (ended) assert.ok(cmd?.kind === "kill" || cmd?.kind === "detach", `${where}: the session ended`);

          // Memory: read and written only where and as asked.
          const reply = replies[0]?.toString("latin1");
          if (cmd?.kind === "readMemory") {
            assert.deepEqual(target.calls, cmd.length ? [`read ${cmd.addr.toString(16)},${cmd.length}`] : [], where);
            if (reply && /^([0-9a-f]{2})+$/.test(reply)) {
              const n = reply.length / 2;
              assert.equal(target.extent(cmd.addr, n), n, `${where}: read unmapped memory`);
              assert.equal(reply, target.peek(cmd.addr, n).toString("hex"), where);
              assert.equal(n, target.extent(cmd.addr, cmd.length), `${where}: a short read`);
            } else if (cmd.length) {
              assert.equal(target.extent(cmd.addr, 1), 0, `${where}: ${reply} for mapped memory`);
            }
          } else if (cmd?.kind === "writeMemory") {
            assert.deepEqual(target.calls, cmd.data.length ? [`write ${cmd.addr.toString(16)},${cmd.data.toString("hex")}`] : [], where);
            if (reply === "OK" && cmd.data.length) {
              assert.deepEqual(target.peek(cmd.addr, cmd.data.length), cmd.data, where);
            } else if (cmd.data.length) {
              assert.notEqual(target.extent(cmd.addr, cmd.data.length), cmd.data.length, `${where}: ${reply} for mapped memory`);
            }
          } else {
            // The fake's memory changes only through writeMemory: nothing else may call it.
            assert.ok(!target.calls.some((c) => /^(read|write) /.test(c)), `${where}: memory touched: ${target.calls}`);
          }
        }
        if (!wasEnded && packets.length) lastFrame = frame(packets[packets.length - 1]);
      });
      // The client goes away: files it opened are closed, and what it left
      // in the program is removed once the program is stopped (the server
      // interrupts a program left running).
      const live = !ended && target.last.kind === "stopped";
      if (live) saw(target.breakpoints.size + target.watchpoints.size ? "left breakpoints behind" : "left nothing behind");
      session.onClose();
      if (target.running) target.interrupt();
      for (const fd of target.openFiles) assert.throws(() => fstatSync(fd), /EBADF/);
      if (live) {
        assert.deepEqual([...target.breakpoints, ...target.watchpoints], [], "breakpoints left behind");
        assert.deepEqual(target.caught, [], "syscalls still caught");
      }
    }),
    opts(3000),
  );
  const wanted = ["readMemory data", "readMemory E0e", "writeMemory OK", "writeMemory E0e", "malformed E01", "refused while running", "stopped by Ctrl-C", "sent again", "O packets",
    "resume T05", "resume W..", "resume X..", "resume E01", "resume OK", "haltReason T..", "breakpoint OK", "breakpoint E0e", "breakpoint E16", "readRegister data", "readRegister E45",
    "writeRegister OK", "writeRegisters OK", "writeRegisters E16", "readRegisters data", "left breakpoints behind", "xfer m", "xfer l", "vFileOpen F", "vFileOpen F-1", "vFilePread F", "vFileFstat F", "vFileClose F", "unsupported ", "kill OK", "detach OK", "startNoAck OK", "catchSyscalls OK"];
  const missing = wanted.filter((w) => !Object.keys(seen).some((k) => new RegExp(`^${w}$`).test(k)));
  assert.deepEqual(missing, [], `outcomes never reached: ${JSON.stringify(seen)}`);
});

test("session: arbitrary bytes never make it throw, and it writes only acks, nacks and framed packets", () => {
  fc.assert(
    fc.property(fc.array(messyStream, { minLength: 1, maxLength: 5 }), (chunks) => {
      const target = new FakeTarget(__filename);
      const out: Buffer[] = [];
      const session = new Session(target, { write: (d) => out.push(Buffer.from(d)), end: () => {} });
      target.onStop((e) => session.onStop(e));
      for (const c of chunks) session.onData(c);
      session.onClose();
      assert.deepEqual(target.violations, []);
      assert.deepEqual(splitReplies(Buffer.concat(out)).junk, []);
    }),
    opts(1500),
  );
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCommand, ParseError, type Command } from "../../src/gdbstub/protocol/commands.js";
import { Session } from "../../src/gdbstub/session.js";
import type { DebugTarget, StopEvent } from "../../src/gdbstub/target.js";
import { checksum, decodeRle, encodeRle, escapeBinary, frame, fromHex, MAX_PACKET, PacketReader, unescapeBinary } from "../../src/gdbstub/protocol/packet.js";
import { gdbSignal, linuxSignal } from "../../src/gdbstub/signals.js";
import { fromGPacket, G_SIZE, REGISTERS, REGNUM, TARGET_XML, toGPacket } from "../../src/gdbstub/x86_64.js";
import { FXSAVE_OFFSET, REGS_SIZE, setReg } from "../../src/vmm/regs.js";

const parse = (s: string) => parseCommand(Buffer.from(s, "latin1"));

test("framing: checksum and $...#xx", () => {
  assert.equal(checksum(Buffer.from("OK")), 0x9a);
  assert.equal(frame("OK").toString(), "$OK#9a");
  assert.equal(frame("").toString(), "$#00");
  assert.equal(frame("qSupported").toString(), "$qSupported#37");
});

test("binary escaping round-trips the four special bytes", () => {
  const raw = Buffer.from([0x23, 0x24, 0x7d, 0x2a, 0x00, 0x41]);
  const esc = escapeBinary(raw);
  assert.deepEqual([...esc], [0x7d, 0x03, 0x7d, 0x04, 0x7d, 0x5d, 0x7d, 0x0a, 0x00, 0x41]);
  assert.deepEqual([...unescapeBinary(esc)], [...raw]);
});

test("run-length encoding: decode what GDB documents, encode without # or $", () => {
  assert.equal(decodeRle(Buffer.from("0* "))?.toString(), "0000");
  assert.equal(decodeRle(Buffer.from("a*\"b"))?.toString(), "aaaaaab"); // '"' is 34: five more
  assert.equal(decodeRle(Buffer.from("*x")), undefined);
  assert.equal(decodeRle(Buffer.from("a*")), undefined);
  for (let n = 1; n < 120; n++) {
    const text = `x${"0".repeat(n)}y`;
    const enc = encodeRle(text);
    assert.ok(!enc.includes("#") && !enc.includes("$"), `run of ${n}`);
    assert.equal(decodeRle(Buffer.from(enc))?.toString(), text, `run of ${n}`);
  }
});

test("the reader: acks, interrupts, noise, packets split anywhere", () => {
  const r = new PacketReader();
  const stream = Buffer.from(`+-\x03noise${frame("m10,4")}+$OK#9a`);
  const events = [];
  for (const b of stream) events.push(...r.feed(Uint8Array.of(b)));
  assert.deepEqual(
    events.map((e) => (e.type === "packet" ? `packet:${e.data}` : e.type)),
    ["ack", "nack", "interrupt", "packet:m10,4", "ack", "packet:OK"],
  );
});

test("the reader: packets split anywhere across chunks, and never aliasing them", () => {
  const payloads = ["vCont;s:1;c", "m7fffffffe540,40", "X401000,4:}\x03\x04}]", "a".repeat(3000)];
  const stream = Buffer.concat(payloads.map((p) => frame(Buffer.from(p, "latin1"))));
  for (const size of [1, 2, 3, 7, 64, 1000, stream.length]) {
    const r = new PacketReader();
    const got: string[] = [];
    for (let at = 0; at < stream.length; at += size) {
      const chunk = Buffer.from(stream.subarray(at, at + size));
      for (const e of r.feed(chunk)) if (e.type === "packet") got.push(e.data.toString("latin1"));
      chunk.fill(0x21); // the caller reuses its buffer: packets must not change
    }
    assert.deepEqual(got, payloads, `chunks of ${size} bytes`);
  }
});

test("the reader: bad checksums, bad digits, endless packets, resync on $", () => {
  const r = new PacketReader();
  assert.deepEqual(r.feed(Buffer.from("$OK#00")), [{ type: "bad-checksum", expected: 0, actual: 0x9a }]);
  assert.equal(r.feed(Buffer.from("$OK#zz"))[0].type, "bad-checksum");
  const long = r.feed(Buffer.from(`$${"a".repeat(MAX_PACKET + 10)}`));
  assert.deepEqual(long, [{ type: "too-long" }]);
  assert.deepEqual(r.feed(Buffer.from("$qC#b4")), [{ type: "packet", data: Buffer.from("qC") }]);
  // A '$' in the middle of a packet starts a new one.
  assert.deepEqual(r.feed(Buffer.from("$m0,$qC#b4")), [{ type: "packet", data: Buffer.from("qC") }]);
});

test("the reader: the rest of an endless packet is skipped, never read as acks, nacks or Ctrl-C", () => {
  // Before: after the cut, each '-' made the stub send its last reply again
  // and each 0x03 interrupted the program.
  const r = new PacketReader();
  const body = Buffer.alloc(MAX_PACKET + 300);
  for (let i = 0; i < body.length; i++) body[i] = [0x2d, 0x2b, 0x03][i % 3];
  const events = [...r.feed(Buffer.from("$")), ...r.feed(body.subarray(0, MAX_PACKET + 100)), ...r.feed(body.subarray(MAX_PACKET + 100)), ...r.feed(Buffer.from("#00+$qC#b4"))];
  assert.deepEqual(events, [{ type: "too-long" }, { type: "ack" }, { type: "packet", data: Buffer.from("qC") }]);
});

test("the reader: a '$' where a checksum digit should be starts the next packet", () => {
  // Before: the '$' was eaten as a bad checksum digit and the packet after it lost.
  for (const cut of ["$m0,1#", "$m0,1#6"]) {
    const r = new PacketReader();
    const events = r.feed(Buffer.from(`${cut}$qC#b4`));
    assert.deepEqual(events.map((e) => e.type), ["bad-checksum", "packet"], cut);
    assert.deepEqual(events[1], { type: "packet", data: Buffer.from("qC") });
  }
});

/** A target that only keeps track of breakpoints, watchpoints and syscall catching. */
function bookkeepingTarget() {
  const listeners: Array<(e: StopEvent) => void> = [];
  const t = {
    running: false,
    set: new Set<string>(),
    caught: [] as "all" | number[],
    pid: 1,
    execFile: "/prog",
    name: "prog",
    lastStop: (): StopEvent => ({ kind: "stopped", signal: 5 }),
    onStop: (l: (e: StopEvent) => void) => listeners.push(l),
    isRunning: () => t.running,
    readRegisters: () => Buffer.alloc(REGS_SIZE),
    resume: () => (t.running = true),
    interrupt: () => {
      t.running = false;
      for (const l of listeners) l({ kind: "stopped", signal: 2 });
    },
    insertBreakpoint: (k: string, a: bigint) => (t.set.add(`${k}@${a}`), true),
    removeBreakpoint: (k: string, a: bigint) => t.set.delete(`${k}@${a}`),
    insertWatchpoint: (k: string, a: bigint, n: number) => (t.set.add(`${k}@${a}/${n}`), true),
    removeWatchpoint: (k: string, a: bigint, n: number) => t.set.delete(`${k}@${a}/${n}`),
    catchSyscalls: (which: "all" | number[]) => (t.caught = which),
  };
  return t;
}

test("a client that goes away leaves no breakpoints, watchpoints or syscall catching behind", () => {
  // Before: the next debugger, knowing nothing of them, stopped on them
  // (GDB took the stray int3 for a breakpoint of its own already removed
  // and resumed onto it again, forever).
  for (const runningAtClose of [false, true]) {
    const t = bookkeepingTarget();
    const session = new Session(t as unknown as DebugTarget, { write: () => {}, end: () => {} });
    t.onStop((e) => session.onStop(e));
    for (const p of ["Z0,401000,1", "Z1,401010,1", "Z0,401020,1", "z0,401020,1", "Z2,4a0000,4", "Z4,4a0010,8", "QCatchSyscalls:1"]) session.onData(frame(p));
    assert.deepEqual([...t.set], ["sw@4198400", "hw@4198416", "w@4849664/4", "a@4849680/8"]);
    assert.equal(t.caught, "all");
    if (runningAtClose) session.onData(frame("c"));
    session.onClose();
    if (runningAtClose) {
      assert.equal(t.set.size, 4, "nothing is removed while the program runs");
      t.interrupt(); // the server stops the program when its client leaves
    }
    assert.deepEqual([...t.set], [], runningAtClose ? "removed at the stop" : "removed at once");
    assert.deepEqual(t.caught, []);
  }
});

test("hex", () => {
  assert.deepEqual([...fromHex("00ff10")!], [0, 255, 16]);
  assert.equal(fromHex("0"), undefined);
  assert.equal(fromHex("zz"), undefined);
});

const cases: Array<[string, Command]> = [
  ["?", { kind: "haltReason" }],
  ["g", { kind: "readRegisters" }],
  ["G0011", { kind: "writeRegisters", data: Buffer.from([0, 0x11]) }],
  ["p10", { kind: "readRegister", reg: 16 }],
  ["P10=0102", { kind: "writeRegister", reg: 16, data: Buffer.from([1, 2]) }],
  ["m401000,40", { kind: "readMemory", addr: 0x401000n, length: 0x40 }],
  ["M4000,2:abcd", { kind: "writeMemory", addr: 0x4000n, data: Buffer.from([0xab, 0xcd]) }],
  ["Z0,401530,1", { kind: "breakpoint", insert: true, type: 0, addr: 0x401530n, length: 1 }],
  ["z1,401530,1", { kind: "breakpoint", insert: false, type: 1, addr: 0x401530n, length: 1 }],
  ["Z2,4ad000,4", { kind: "breakpoint", insert: true, type: 2, addr: 0x4ad000n, length: 4 }],
  ["Z0,401530,1;X2,abcd", { kind: "breakpoint", insert: true, type: 0, addr: 0x401530n, length: 1 }],
  ["vCont?", { kind: "vContQuery" }],
  ["vCont;s:1;c", { kind: "resume", actions: [{ action: "s", thread: "1" }, { action: "c", thread: undefined }] }],
  ["vCont;C0b:p1.1", { kind: "resume", actions: [{ action: "C", signal: 11, thread: "p1.1" }] }],
  ["vCont;t", { kind: "resume", actions: [{ action: "t", thread: undefined }] }],
  ["vCont;r401000,40100a:p1.1;c", { kind: "resume", actions: [{ action: "r", start: 0x401000n, end: 0x40100an, thread: "p1.1" }, { action: "c", thread: undefined }] }],
  ["c", { kind: "resume", actions: [{ action: "c" }] }],
  ["s", { kind: "resume", actions: [{ action: "s" }] }],
  ["C05", { kind: "resume", actions: [{ action: "C", signal: 5 }] }],
  ["S0b", { kind: "resume", actions: [{ action: "S", signal: 11 }] }],
  ["D", { kind: "detach" }],
  ["k", { kind: "kill", reply: false }],
  ["vKill;1", { kind: "kill", reply: true }],
  ["Hg0", { kind: "setThread", op: "g", thread: "0" }],
  ["Hc-1", { kind: "setThread", op: "c", thread: "-1" }],
  ["T1", { kind: "threadAlive", thread: "1" }],
  ["qC", { kind: "currentThread" }],
  ["qfThreadInfo", { kind: "threadInfo", first: true }],
  ["qsThreadInfo", { kind: "threadInfo", first: false }],
  ["qAttached:1", { kind: "attached" }],
  ["qSupported:multiprocess+;swbreak+;xmlRegisters=i386", { kind: "qSupported", features: ["multiprocess+", "swbreak+", "xmlRegisters=i386"] }],
  ["QStartNoAckMode", { kind: "startNoAck" }],
  ["qXfer:features:read:target.xml:0,1000", { kind: "xfer", object: "features", annex: "target.xml", offset: 0, length: 0x1000 }],
  ["qXfer:exec-file:read:2a:0,fff", { kind: "xfer", object: "exec-file", annex: "2a", offset: 0, length: 0xfff }],
  ["qXfer:auxv:read::0,1000", { kind: "xfer", object: "auxv", annex: "", offset: 0, length: 0x1000 }],
  ["vFile:open:2f746d70,0,1c0", { kind: "vFileOpen", path: "/tmp", flags: 0, mode: 0x1c0 }],
  ["vFile:pread:3,47ff,b9a98", { kind: "vFilePread", fd: 3, count: 0x47ff, offset: 0xb9a98 }],
  ["vFile:close:3", { kind: "vFileClose", fd: 3 }],
  ["vFile:fstat:3", { kind: "vFileFstat", fd: 3 }],
  ["vFile:setfs:0", { kind: "vFileSetfs", pid: 0 }],
  ["vFile:readlink:2f", { kind: "vFileReadlink", path: "/" }],
  ["QCatchSyscalls:1;1;e7", { kind: "catchSyscalls", enable: true, numbers: [1, 231] }],
  ["QCatchSyscalls:1", { kind: "catchSyscalls", enable: true, numbers: [] }],
  ["QCatchSyscalls:0", { kind: "catchSyscalls", enable: false, numbers: [] }],
  ["QPassSignals:e;10;14", { kind: "signals", which: "pass", signals: [14, 16, 20] }],
  ["qRcmd,68656c70", { kind: "monitor", command: "help" }],
  ["qSymbol::", { kind: "symbol" }],
  ["QNonStop:0", { kind: "ok", name: "QNonStop" }],
  ["QNonStop:1", { kind: "unsupported", name: "QNonStop" }],
  ["qTStatus", { kind: "unsupported", name: "qTStatus" }],
  ["vMustReplyEmpty", { kind: "unsupported", name: "vMustReplyEmpty" }],
  ["Z7,0,1", { kind: "unsupported", name: "Z7" }],
  ["!", { kind: "unsupported", name: "!" }],
];

for (const [body, expected] of cases) {
  test(`parse ${JSON.stringify(body)}`, () => assert.deepEqual(parse(body), expected));
}

test("X carries binary data, escaped", () => {
  const payload = Buffer.concat([Buffer.from("X4000,3:"), Buffer.from([0x7d, 0x03, 0x00, 0xff])]);
  assert.deepEqual(parseCommand(payload), { kind: "writeMemory", addr: 0x4000n, data: Buffer.from([0x23, 0x00, 0xff]) });
});

const malformed = ["m", "m10", "m10,", "mzz,4", "m10,4,5", "m1,ffffffff", "M10,2:abc", "M10,2:ab", "X10,4:ab", "X10", "p", "pxyz", "P10", "P10=zz", "Z0,zz,1", "vCont;x", "vCont;Czz", "vCont;r401000", "vCont;rzz,1", "vCont;r1,2,3", "qXfer:features:read:target.xml:zz", "vFile:pread:3", "vFile:open:zz,0,0", "QCatchSyscalls:2", "qRcmd,zzz", "G0"];
for (const body of malformed) {
  test(`malformed ${JSON.stringify(body)} is a ParseError`, () => assert.throws(() => parse(body), ParseError));
}

test("the register description: contiguous regnums, a g packet of the listed size", () => {
  REGISTERS.forEach((r, i) => assert.equal(r.regnum, i));
  assert.equal(G_SIZE, REGISTERS.reduce((n, r) => n + r.bits / 8, 0));
  assert.equal(REGNUM.rip, 16);
  assert.equal(REGNUM.eflags, 17);
  for (const name of ["rax", "rip", "eflags", "cs", "st0", "fop", "xmm15", "mxcsr", "orig_rax", "fs_base", "gs_base", "ymm15h"])
    assert.ok(TARGET_XML.includes(`name="${name}"`), name);
  assert.match(TARGET_XML, /<architecture>i386:x86-64<\/architecture>/);
  for (const f of ["core", "sse", "linux", "segments", "avx"]) assert.ok(TARGET_XML.includes(`org.gnu.gdb.i386.${f}`), f);
});

test("the g packet codec round-trips, and the x87 tag word converts both ways", () => {
  const regs = Buffer.alloc(REGS_SIZE);
  setReg(regs, "rax", 0x1122334455667788n);
  setReg(regs, "rip", 0x401000n);
  setReg(regs, "eflags", 0x246n);
  setReg(regs, "orig_rax", -1n);
  const fx = FXSAVE_OFFSET;
  regs.writeUInt16LE(0x37f, fx); // fcw
  regs.writeUInt32LE(0x1f80, fx + 24); // mxcsr
  regs[fx + 4] = 0b00000001; // physical register 0 in use
  regs.writeUInt16LE(0 << 11, fx + 2); // TOP = 0: st0 is physical 0
  regs.writeBigUInt64LE(0x8000000000000000n, fx + 32); // st0 = 1.0
  regs.writeUInt16LE(0x3fff, fx + 40);
  regs.fill(0x5a, fx + 160, fx + 176); // xmm0
  const g = toGPacket(regs);
  assert.equal(g.length, G_SIZE);
  const at = (name: string) => REGISTERS[REGNUM[name]].offset;
  assert.equal(g.readBigUInt64LE(at("rax")), 0x1122334455667788n);
  assert.equal(g.readUInt32LE(at("eflags")), 0x246);
  assert.equal(g.readUInt32LE(at("fctrl")), 0x37f);
  assert.equal(g.readUInt32LE(at("mxcsr")), 0x1f80);
  assert.equal(g.readUInt32LE(at("ftag")), 0xfffc, "st0 valid (00), the seven others empty (11)");
  assert.equal(g[at("xmm0")], 0x5a);
  assert.deepEqual(fromGPacket(regs, g), regs);
  // GDB marks st1 zero: FXSAVE's abridged tag gets that register's bit.
  const g2 = Buffer.from(g);
  g2.writeUInt32LE(0xfff4, at("ftag"));
  assert.equal(fromGPacket(regs, g2)[fx + 4], 0b00000011);
});

test("signals: GDB's numbers are not Linux's", () => {
  assert.equal(gdbSignal(11), 11); // SIGSEGV
  assert.equal(gdbSignal(7), 10); // SIGBUS
  assert.equal(gdbSignal(31), 12); // SIGSYS
  assert.equal(gdbSignal(10), 30); // SIGUSR1
  assert.equal(gdbSignal(17), 20); // SIGCHLD
  assert.equal(linuxSignal(12), 31);
  for (let s = 1; s <= 31; s++) if (s !== 16) assert.equal(linuxSignal(gdbSignal(s)), s, `signal ${s}`);
});

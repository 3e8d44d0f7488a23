// A live stub under a fast-check–generated stream of packets: real kinds
// with random and absurd fields, mangled ones, noise, bad checksums,
// endless packets, memory reads and writes anywhere in the 64-bit space,
// breakpoints and watchpoints left behind. Afterwards the stub is alive,
// every well-framed packet got exactly one well-formed reply, no byte
// outside the program's memory map was read or written, and a normal GDB
// session still runs the program to its normal end.
import assert from "node:assert/strict";
import type { Socket } from "node:net";
import { test } from "node:test";
import fc from "fast-check";
import { escapeBinary, frame, MAX_PACKET } from "../../src/gdbstub/protocol/packet.js";
import { REGISTERS } from "../../src/gdbstub/x86_64.js";
import { anyPacketBody, commandOf, replyProblem, runs, SEED, sendable } from "../rsp-fuzz.js";
import { scaled } from "../helpers.js";
import { debugManifest, gdbBatch, hasGdb, rawClient, startDebug } from "./debugger.js";

const skip = !hasGdb() && "gdb is not installed";
const TWO64 = 1n << 64n;
const STEPS = runs(500);

/** A raw connection that reads the stub's output as acks, nacks and packets, in order. */
class Client {
  private data = Buffer.alloc(0);
  private at = 0;
  private waiting: (() => void) | undefined;
  acks = 0;
  nacks = 0;
  /** Every packet the stub sent. */
  readonly replies: Buffer[] = [];

  constructor(readonly socket: Socket) {
    socket.on("data", (d: Buffer) => {
      this.data = Buffer.concat([this.data, d]);
      this.waiting?.();
    });
  }

  send(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === "string" ? Buffer.from(bytes, "latin1") : bytes);
  }

  /** The next packet from the stub (acks and nacks before it counted); undefined if none comes in time. */
  async next(timeoutMs = scaled(3000)): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.parse();
      if (p) return p;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiting = undefined;
    }
  }

  /** Whatever arrives within ms, not yet read. */
  async rest(ms: number): Promise<Buffer> {
    await new Promise((r) => setTimeout(r, ms));
    return this.data.subarray(this.at);
  }

  private parse(): Buffer | undefined {
    while (this.at < this.data.length) {
      const b = this.data[this.at];
      if (b === 0x2b) this.acks++;
      else if (b === 0x2d) this.nacks++;
      else if (b === 0x24) {
        const end = this.data.indexOf(0x23, this.at);
        if (end < 0 || end + 3 > this.data.length) return undefined;
        const body = Buffer.from(this.data.subarray(this.at + 1, end));
        let sum = 0;
        for (const c of body) sum = (sum + c) & 0xff;
        assert.equal(this.data.subarray(end + 1, end + 3).toString("latin1"), sum.toString(16).padStart(2, "0"), `checksum of ${body.toString("latin1").slice(0, 60)}`);
        this.at = end + 3;
        this.replies.push(body);
        return body;
      } else {
        assert.fail(`stray byte ${b} from the stub`);
      }
      this.at++;
    }
    return undefined;
  }
}

// ---- the steps, drawn before the stub's memory map is known: addresses
// are anchored to its regions and resolved once it is.

type Anchor =
  | { kind: "anywhere"; addr: bigint }
  | { kind: "edge"; region: number; end: boolean; delta: number }
  | { kind: "inside"; region: number; fraction: number }
  | { kind: "fixed"; addr: bigint };

const anchor: fc.Arbitrary<Anchor> = fc.oneof(
  fc.bigUintN(64).map((addr): Anchor => ({ kind: "anywhere", addr })),
  fc.record({ kind: fc.constant("edge" as const), region: fc.nat(), end: fc.boolean(), delta: fc.integer({ min: -40, max: 40 }) }),
  fc.record({ kind: fc.constant("inside" as const), region: fc.nat(), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  // Page 0, the runtime, the hypercall page, the top of the address space, the canonical hole.
  fc.constantFrom(0n, 8n, 0x1000n, 0x2ff8n, 0x3000n, 0xfffn, TWO64 - 1n, TWO64 - 0x10n, 0x7fffffffffffn, 0x800000000000n, 0xffff800000000000n).map((addr): Anchor => ({ kind: "fixed", addr })),
);

type Step =
  | { t: "read"; at: Anchor; len: number }
  | { t: "write"; at: Anchor; len: number; binary: boolean; data: Uint8Array }
  | { t: "registers"; reg: number; short: boolean }
  | { t: "breakpoint"; type: number; at: Anchor; len: number; keep: boolean }
  | { t: "catch"; numbers: number[] }
  | { t: "packet"; body: Buffer }
  | { t: "noise"; bytes: Buffer }
  | { t: "bad-checksum"; body: Buffer; delta: number }
  | { t: "cut-short"; body: Buffer }
  | { t: "endless"; length: number }
  | { t: "nack" }
  | { t: "no-ack" };

/** Packets that neither resume, end nor change the program: the rest is done deliberately below. */
function harmless(body: Buffer): boolean {
  const cmd = commandOf(body);
  if (!cmd) return true; // refused as malformed
  switch (cmd.kind) {
    case "writeMemory":
    case "writeRegisters":
    case "writeRegister":
    case "breakpoint":
    case "resume":
    case "kill":
    case "detach":
    case "startNoAck":
    case "catchSyscalls":
      return false;
    case "monitor":
      return !cmd.command.startsWith("trace");
    default:
      return true;
  }
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ t: fc.constant("read" as const), at: anchor, len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0x10000 })) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant("write" as const), at: anchor, len: fc.integer({ min: 1, max: 64 }), binary: fc.boolean(), data: fc.uint8Array({ minLength: 64, maxLength: 64 }) }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("registers" as const), reg: fc.integer({ min: 0, max: REGISTERS.length + 3 }), short: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant("breakpoint" as const), type: fc.constantFrom(0, 1), at: anchor, len: fc.constantFrom(1, 1, 1, 1, 2, 0), keep: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant("breakpoint" as const), type: fc.constantFrom(2, 3, 4), at: anchor, len: fc.constantFrom(1, 2, 4, 8, 3, 0, 0x1000), keep: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant("catch" as const), numbers: fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 3 }) }) },
  { weight: 16, arbitrary: anyPacketBody.map((b) => sendable(b.subarray(0, 2000))).filter(harmless).map((body): Step => ({ t: "packet", body })) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b): Step => ({ t: "noise", bytes: Buffer.from(b.filter((x) => x !== 0x24 && x !== 0x2d)) })) },
  { weight: 2, arbitrary: fc.tuple(anyPacketBody, fc.integer({ min: 1, max: 255 })).map(([b, delta]): Step => ({ t: "bad-checksum", body: sendable(b.subarray(0, 200)), delta })) },
  { weight: 1, arbitrary: anyPacketBody.map((b): Step => ({ t: "cut-short", body: sendable(b.subarray(0, 200)) })) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_PACKET + 1, max: 3 * MAX_PACKET }).map((length): Step => ({ t: "endless", length })) },
  { weight: 1, arbitrary: fc.constant<Step>({ t: "nack" }) },
);

type Region = { start: bigint; end: bigint; prot: string };

function resolve(a: Anchor, map: Region[]): bigint {
  switch (a.kind) {
    case "anywhere":
    case "fixed":
      return a.addr;
    case "edge": {
      const r = map[a.region % map.length];
      return BigInt.asUintN(64, (a.end ? r.end : r.start) + BigInt(a.delta));
    }
    case "inside": {
      const r = map[a.region % map.length];
      const size = Number(r.end - r.start);
      return r.start + BigInt(Math.min(size - 1, Math.floor(a.fraction * size)));
    }
  }
}

/** How many bytes from addr the map covers, up to len. */
function extent(map: Region[], addr: bigint, len: number): number {
  let cur = addr;
  const end = addr + BigInt(len);
  for (;;) {
    const r = map.find((m) => cur >= m.start && cur < m.end);
    if (!r || cur >= end) break;
    cur = r.end;
  }
  return Number((cur < end ? cur : end) - addr);
}

const hex = (n: number | bigint) => n.toString(16);

test("a fast-check stream of packets against a live stub, then a normal session", { skip, timeout: scaled(60_000) }, async () => {
  const d = await startDebug(debugManifest("debugme"));
  let exited = false;
  d.proc.on("exit", () => (exited = true));
  try {
    const c = new Client((await rawClient(d.port)).socket);
    const sent: Array<{ body: Buffer; reply: Buffer }> = [];
    let noAck = false;
    let acksDue = 0;

    /** Sends a well-framed packet and waits for its one reply. */
    async function request(body: Buffer | string): Promise<Buffer> {
      const b = typeof body === "string" ? Buffer.from(body, "latin1") : body;
      c.send(frame(b));
      if (!noAck) acksDue++;
      let reply = await c.next();
      // monitor output comes first, in O packets.
      while (reply && commandOf(b)?.kind === "monitor" && /^O([0-9a-f]{2})+$/.test(reply.toString("latin1"))) reply = await c.next();
      assert.ok(reply, `no reply to ${JSON.stringify(b.toString("latin1").slice(0, 100))}`);
      sent.push({ body: b, reply });
      const why = replyProblem(b, reply);
      assert.equal(why, undefined, `reply ${JSON.stringify(reply.toString("latin1").slice(0, 100))} to ${JSON.stringify(b.toString("latin1").slice(0, 100))}`);
      return reply;
    }

    // The program's memory map, as `monitor memory` shows it.
    assert.match((await request("qSupported:swbreak+;hwbreak+")).toString(), /PacketSize=/);
    c.send(frame(`qRcmd,${Buffer.from("memory").toString("hex")}`));
    acksDue++;
    let text = "";
    for (;;) {
      const p = (await c.next())!.toString("latin1");
      if (p === "OK") break;
      assert.match(p, /^O([0-9a-f]{2})+$/);
      text += Buffer.from(p.slice(1), "hex").toString();
    }
    const map: Region[] = [...text.matchAll(/^([0-9a-f]+)-([0-9a-f]+) (\S+)/gm)].map((m) => ({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), prot: m[3] }));
    assert.ok(map.length >= 3, text);
    const code = map.find((r) => r.prot.includes("x"))!;

    const steps = fc.sample(stepArb, { seed: SEED, numRuns: STEPS });
    // Acknowledgements off two thirds of the way through, as GDB does it at the start.
    steps.splice(Math.floor((STEPS * 2) / 3), 0, { t: "no-ack" });
    const kept: string[] = [];
    let lastReply: Buffer | undefined;
    let open = false;

    const read = async (addr: bigint, len: number): Promise<Buffer | undefined> => {
      const r = (await request(`m${hex(addr)},${hex(len)}`)).toString("latin1");
      const n = extent(map, addr, len);
      if (len === 0) return Buffer.alloc(0);
      // Exactly the mapped bytes from addr, or an error where there are none.
      if (n === 0) assert.match(r, /^E[0-9a-f]{2}$/, `m${hex(addr)},${hex(len)} outside the map`);
      else assert.equal(r.length, 2 * n, `m${hex(addr)},${hex(len)}: ${n} bytes mapped`);
      return n ? Buffer.from(r, "hex") : undefined;
    };

    for (const s of steps) {
      const where = JSON.stringify(s, (_, v) => (typeof v === "bigint" ? hex(v) : v instanceof Uint8Array ? `${v.length} bytes` : v)).slice(0, 200);
      switch (s.t) {
        case "read":
          await read(resolve(s.at, map), s.len);
          break;
        case "write": {
          // Where every byte is mapped, write back what is there (the program
          // must run on); elsewhere write junk, which must be refused whole.
          const addr = resolve(s.at, map);
          const n = extent(map, addr, s.len);
          const before = n ? await read(addr, n) : undefined;
          const data = n === s.len && before ? before : Buffer.from(s.data.subarray(0, s.len));
          const head = `${s.binary ? "X" : "M"}${hex(addr)},${hex(data.length)}:`;
          const body = s.binary ? Buffer.concat([Buffer.from(head), escapeBinary(data)]) : Buffer.from(`${head}${data.toString("hex")}`);
          assert.equal((await request(body)).toString(), n === s.len ? "OK" : "E0e", where);
          if (before) assert.deepEqual(await read(addr, n), before, `${where}: memory changed`);
          break;
        }
        case "registers": {
          const g = (await request("g")).toString("latin1");
          assert.match(g, /^([0-9a-f]{2})+$/);
          assert.equal(await request(`G${g}`).then(String), "OK");
          if (s.short) assert.equal((await request(`G${g.slice(0, 2 * 8)}`)).toString(), "E16");
          const p = (await request(`p${hex(s.reg)}`)).toString("latin1");
          if (s.reg < REGISTERS.length) {
            assert.equal(p.length, REGISTERS[s.reg].bits / 4);
            assert.equal((await request(`P${hex(s.reg)}=${p}`)).toString(), "OK");
            assert.equal((await request(`P${hex(s.reg)}=${p}00`)).toString(), "E45");
          } else {
            assert.equal(p, "E45");
          }
          assert.equal((await request("g")).toString("latin1"), g, "registers changed");
          break;
        }
        case "breakpoint": {
          // Software and hardware breakpoints mostly go into code; watchpoints anywhere.
          const at = s.type < 2 && (s.at.kind === "inside" || s.at.kind === "edge") ? { ...s.at, region: map.indexOf(code) } : s.at;
          const addr = resolve(at, map);
          const r = (await request(`Z${s.type},${hex(addr)},${hex(s.len)}`)).toString();
          if (r === "OK" && s.keep) kept.push(`${s.type}@${hex(addr)}`);
          if (r === "OK" && !s.keep) assert.equal((await request(`z${s.type},${hex(addr)},${hex(s.len)}`)).toString(), "OK", where);
          break;
        }
        case "catch":
          assert.equal((await request(`QCatchSyscalls:1${s.numbers.map((n) => `;${hex(n)}`).join("")}`)).toString(), "OK");
          kept.push("catch syscalls");
          break;
        case "packet":
          await request(s.body);
          break;
        case "noise":
          // Inside a packet left open, a '#' would end it (a bad checksum, a nack).
          c.send(open ? Buffer.from(s.bytes.filter((x) => x !== 0x23)) : s.bytes);
          break;
        case "bad-checksum": {
          const f = frame(s.body);
          const sum = (parseInt(f.subarray(-2).toString("latin1"), 16) + s.delta) & 0xff;
          f.write(sum.toString(16).padStart(2, "0"), f.length - 2, "latin1");
          const nacks = c.nacks;
          c.send(f);
          if (!noAck) {
            // Asked again: a nack and nothing else.
            await request("qC");
            assert.equal(c.nacks, nacks + 1, `${where}: a bad checksum is asked again`);
          }
          break;
        }
        case "cut-short":
          c.send(Buffer.concat([Buffer.from("$"), s.body])); // the next '$' starts afresh
          break;
        case "endless": {
          // Full of bytes that mean something outside a packet: none may be
          // taken for an ack, a nack (which would send the last reply again)
          // or Ctrl-C.
          const body = Buffer.alloc(s.length);
          for (let i = 0; i < body.length; i++) body[i] = [0x2d, 0x2b, 0x03, 0x61][i % 4];
          const nacks = c.nacks;
          c.send(Buffer.concat([Buffer.from("$"), body, Buffer.from("#00")]));
          assert.match((await request("qC")).toString(), /^QC(p[0-9a-f]+\.)?[0-9a-f]+$/, `${where}: the next packet is answered, and only it`);
          if (!noAck) assert.equal(c.nacks, nacks + 1, `${where}: one nack for an endless packet`);
          break;
        }
        case "nack": {
          const count = c.replies.length;
          c.send("-");
          if (!noAck && lastReply && !open) {
            assert.deepEqual(await c.next(), lastReply, "a nack sends the last reply again");
          } else {
            assert.equal((await c.rest(20)).length, 0, "a nack without acknowledgements is ignored");
          }
          assert.ok(c.replies.length <= count + 1);
          break;
        }
        case "no-ack":
          assert.equal((await request("QStartNoAckMode")).toString(), "OK");
          noAck = true;
          break;
      }
      lastReply = c.replies.at(-1);
      // Until the next '$', what the stub reads belongs to a packet cut short.
      if (s.t === "cut-short") open = true;
      else if (s.t !== "noise" && s.t !== "nack") open = false;
    }

    // Deliberately left behind: a breakpoint where the program goes on from,
    // which the next debugger knows nothing of.
    const pc = Buffer.from((await request(`p${hex(16)}`)).toString("latin1"), "hex").readBigUInt64LE();
    assert.equal((await request(`Z0,${hex(pc)},1`)).toString(), "OK");
    kept.push(`0@${hex(pc)}`);

    // Nothing more than one reply per packet, and an ack for each until no-ack mode.
    assert.equal((await c.rest(300)).length, 0, "replies nobody asked for");
    assert.equal(c.acks, acksDue, "one ack per packet");
    assert.ok(sent.filter((x) => /^E/.test(x.reply.toString())).length > 20, "some packets refused");
    assert.ok(sent.filter((x) => !/^E|^$/.test(x.reply.toString())).length > 100, "some packets answered with data");
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));

    // (a) alive; (c) what a client left behind does not disturb the next one.
    assert.equal(exited, false, "the stub is alive");
    const r = gdbBatch(d.port, ["break area", "continue", "bt 1", "continue"]);
    assert.match(r.output, /Breakpoint 1, area/, `left behind: ${kept.join(", ")}\n${r.output}`);
    assert.match(r.output, /exited with code 01/, `left behind: ${kept.join(", ")}\n${r.output}`);
    const end = await d.done;
    assert.equal(end.status, 1, end.stderr);
  } finally {
    if (!exited) d.proc.kill("SIGKILL"); // a failure leaves no stub behind
  }
});

// Parsers for the packets torov answers: raw payload in, a tagged command
// out. Malformed payloads are a ParseError (the session answers E..);
// packets torov does not know are `unsupported` (answered with an empty
// packet, as the protocol asks).

import { fromHex, unescapeBinary } from "./packet.js";

export type VContAction = { action: "c" | "s" | "t" | "C" | "S" | "r"; signal?: number; thread?: string; start?: bigint; end?: bigint };
export type BreakpointType = 0 | 1 | 2 | 3 | 4; // sw, hw, write, read, access

export type Command =
  | { kind: "qSupported"; features: string[] }
  | { kind: "startNoAck" }
  | { kind: "haltReason" }
  | { kind: "readRegisters" }
  | { kind: "writeRegisters"; data: Buffer }
  | { kind: "readRegister"; reg: number }
  | { kind: "writeRegister"; reg: number; data: Buffer }
  | { kind: "readMemory"; addr: bigint; length: number }
  | { kind: "writeMemory"; addr: bigint; data: Buffer }
  | { kind: "breakpoint"; insert: boolean; type: BreakpointType; addr: bigint; length: number }
  | { kind: "vContQuery" }
  | { kind: "resume"; actions: VContAction[] }
  | { kind: "detach" }
  | { kind: "kill"; reply: boolean }
  | { kind: "setThread"; op: string; thread: string }
  | { kind: "threadAlive"; thread: string }
  | { kind: "currentThread" }
  | { kind: "threadInfo"; first: boolean }
  | { kind: "attached" }
  | { kind: "xfer"; object: string; annex: string; offset: number; length: number }
  | { kind: "vFileOpen"; path: string; flags: number; mode: number }
  | { kind: "vFileClose"; fd: number }
  | { kind: "vFilePread"; fd: number; count: number; offset: number }
  | { kind: "vFileFstat"; fd: number }
  | { kind: "vFileSetfs"; pid: number }
  | { kind: "vFileReadlink"; path: string }
  | { kind: "catchSyscalls"; enable: boolean; numbers: number[] }
  | { kind: "signals"; which: "pass" | "program"; signals: number[] }
  | { kind: "monitor"; command: string }
  | { kind: "symbol" }
  | { kind: "ok"; name: string }
  | { kind: "unsupported"; name: string };

export class ParseError extends Error {
  constructor(readonly packet: string, why: string) {
    super(`${packet}: ${why}`);
    this.name = "ParseError";
  }
}

const MAX_TRANSFER = 0x10000;

function hexU64(text: string, packet: string, what: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new ParseError(packet, `bad ${what} "${text}"`);
  return BigInt(`0x${text}`);
}

function hexInt(text: string, packet: string, what: string, max = 0x7fffffff): number {
  if (!/^[0-9a-fA-F]{1,8}$/.test(text)) throw new ParseError(packet, `bad ${what} "${text}"`);
  const n = parseInt(text, 16);
  if (n > max) throw new ParseError(packet, `${what} ${n} is too large`);
  return n;
}

/** "addr,length" */
function addrLength(text: string, packet: string): { addr: bigint; length: number } {
  const [a, l, ...rest] = text.split(",");
  if (rest.length || a === undefined || l === undefined) throw new ParseError(packet, "expected address,length");
  return { addr: hexU64(a, packet, "address"), length: hexInt(l, packet, "length", MAX_TRANSFER) };
}

function hexString(text: string, packet: string): string {
  const bytes = fromHex(text);
  if (!bytes) throw new ParseError(packet, "expected hex-encoded text");
  return bytes.toString("latin1");
}

function parseVCont(body: string): Command {
  if (body === "vCont?") return { kind: "vContQuery" };
  const actions: VContAction[] = [];
  for (const part of body.slice("vCont;".length).split(";")) {
    const [act, thread] = part.split(":");
    const letter = act[0];
    if (letter === "c" || letter === "s" || letter === "t") {
      if (act.length !== 1) throw new ParseError("vCont", `bad action "${part}"`);
      actions.push({ action: letter, thread });
    } else if (letter === "C" || letter === "S") {
      actions.push({ action: letter, signal: hexInt(act.slice(1), "vCont", "signal", 255), thread });
    } else if (letter === "r") {
      // Range stepping: step while the pc stays in [start, end).
      const [start, end, ...rest] = act.slice(1).split(",");
      if (rest.length || start === undefined || end === undefined) throw new ParseError("vCont", `bad range "${part}"`);
      actions.push({ action: "r", start: hexU64(start, "vCont", "range start"), end: hexU64(end, "vCont", "range end"), thread });
    } else {
      throw new ParseError("vCont", `unsupported action "${part}"`);
    }
  }
  if (!actions.length) throw new ParseError("vCont", "no action");
  return { kind: "resume", actions };
}

function parseVFile(body: string): Command {
  const colon = body.indexOf(":", 6);
  const op = body.slice(6, colon < 0 ? undefined : colon);
  const args = colon < 0 ? [] : body.slice(colon + 1).split(",");
  const packet = `vFile:${op}`;
  switch (op) {
    case "open":
      if (args.length !== 3) throw new ParseError(packet, "expected filename,flags,mode");
      return { kind: "vFileOpen", path: hexString(args[0], packet), flags: hexInt(args[1], packet, "flags"), mode: hexInt(args[2], packet, "mode") };
    case "close":
      return { kind: "vFileClose", fd: hexInt(args[0] ?? "", packet, "fd") };
    case "pread":
      if (args.length !== 3) throw new ParseError(packet, "expected fd,count,offset");
      return { kind: "vFilePread", fd: hexInt(args[0], packet, "fd"), count: hexInt(args[1], packet, "count", MAX_TRANSFER), offset: hexInt(args[2], packet, "offset") };
    case "fstat":
      return { kind: "vFileFstat", fd: hexInt(args[0] ?? "", packet, "fd") };
    case "setfs":
      return { kind: "vFileSetfs", pid: hexInt(args[0] ?? "", packet, "pid") };
    case "readlink":
      return { kind: "vFileReadlink", path: hexString(args[0] ?? "", packet) };
    default:
      return { kind: "unsupported", name: packet };
  }
}

function parseQuery(body: string): Command {
  const name = body.split(/[:,;]/, 1)[0];
  switch (name) {
    case "qSupported":
      return { kind: "qSupported", features: body.length > 11 ? body.slice(11).split(";") : [] };
    case "qAttached":
      return { kind: "attached" };
    case "qC":
      return { kind: "currentThread" };
    case "qfThreadInfo":
      return { kind: "threadInfo", first: true };
    case "qsThreadInfo":
      return { kind: "threadInfo", first: false };
    case "qSymbol":
      return { kind: "symbol" };
    case "qRcmd": {
      const text = body.slice("qRcmd,".length);
      return { kind: "monitor", command: hexString(text, "qRcmd").trim() };
    }
    case "qXfer": {
      // qXfer:object:read:annex:offset,length
      const m = /^qXfer:([\w-]+):read:([^:]*):([0-9a-fA-F]+),([0-9a-fA-F]+)$/.exec(body);
      if (!m) {
        if (/^qXfer:[\w-]+:read:/.test(body)) throw new ParseError("qXfer", "expected object:read:annex:offset,length");
        return { kind: "unsupported", name: body.split(":").slice(0, 3).join(":") };
      }
      return { kind: "xfer", object: m[1], annex: m[2], offset: hexInt(m[3], "qXfer", "offset"), length: hexInt(m[4], "qXfer", "length", MAX_TRANSFER) };
    }
    default:
      return { kind: "unsupported", name };
  }
}

function parseSet(body: string): Command {
  const name = body.split(/[:,;]/, 1)[0];
  switch (name) {
    case "QStartNoAckMode":
      return { kind: "startNoAck" };
    case "QCatchSyscalls": {
      const parts = body.slice("QCatchSyscalls:".length).split(";");
      if (parts[0] === "0") return { kind: "catchSyscalls", enable: false, numbers: [] };
      if (parts[0] !== "1") throw new ParseError("QCatchSyscalls", "expected 0 or 1");
      return { kind: "catchSyscalls", enable: true, numbers: parts.slice(1).filter(Boolean).map((n) => hexInt(n, "QCatchSyscalls", "syscall number", 1023)) };
    }
    case "QPassSignals":
    case "QProgramSignals": {
      const list = body.slice(name.length + 1).split(";").filter(Boolean);
      return { kind: "signals", which: name === "QPassSignals" ? "pass" : "program", signals: list.map((s) => hexInt(s, name, "signal", 255)) };
    }
    case "QNonStop":
      if (body === "QNonStop:0") return { kind: "ok", name };
      return { kind: "unsupported", name };
    case "QDisableRandomization":
    case "QListThreadsInStopReply":
    case "QThreadEvents":
      return { kind: "ok", name };
    default:
      return { kind: "unsupported", name };
  }
}

/** Parses one packet payload (already checksum-verified and RLE-expanded). */
export function parseCommand(payload: Buffer): Command {
  if (payload.length === 0) return { kind: "unsupported", name: "" };
  const first = String.fromCharCode(payload[0]);
  // X carries binary data: parse its header from the bytes, not as text.
  if (first === "X") {
    const colon = payload.indexOf(0x3a);
    if (colon < 0) throw new ParseError("X", "expected address,length:data");
    const { addr, length } = addrLength(payload.subarray(1, colon).toString("latin1"), "X");
    const data = unescapeBinary(payload.subarray(colon + 1));
    if (data.length !== length) throw new ParseError("X", `length ${length} but ${data.length} bytes of data`);
    return { kind: "writeMemory", addr, data };
  }
  const body = payload.toString("latin1");
  switch (first) {
    case "?":
      return { kind: "haltReason" };
    case "g":
      return body === "g" ? { kind: "readRegisters" } : { kind: "unsupported", name: body };
    case "G": {
      const data = fromHex(body.slice(1));
      if (!data) throw new ParseError("G", "expected hex register data");
      return { kind: "writeRegisters", data };
    }
    case "p":
      return { kind: "readRegister", reg: hexInt(body.slice(1), "p", "register", 0xffff) };
    case "P": {
      const [reg, value] = body.slice(1).split("=");
      const data = value === undefined ? undefined : fromHex(value);
      if (!data) throw new ParseError("P", "expected register=hex value");
      return { kind: "writeRegister", reg: hexInt(reg, "P", "register", 0xffff), data };
    }
    case "m":
      return { kind: "readMemory", ...addrLength(body.slice(1), "m") };
    case "M": {
      const [where, hex] = body.slice(1).split(":");
      const { addr, length } = addrLength(where, "M");
      const data = hex === undefined ? undefined : fromHex(hex);
      if (!data || data.length !== length) throw new ParseError("M", "data does not match the length");
      return { kind: "writeMemory", addr, data };
    }
    case "Z":
    case "z": {
      const [type, addr, kind, ...cond] = body.slice(1).split(/[,;]/);
      void cond; // target-side conditions are not supported; gdb evaluates them
      const t = hexInt(type ?? "", first, "type", 15);
      if (t > 4) return { kind: "unsupported", name: `${first}${t}` };
      return { kind: "breakpoint", insert: first === "Z", type: t as BreakpointType, addr: hexU64(addr ?? "", first, "address"), length: hexInt(kind ?? "", first, "kind", 0x10000) };
    }
    case "c":
    case "s": {
      if (body.length > 1) hexU64(body.slice(1), first, "address"); // resuming elsewhere: gdb sets pc itself nowadays
      return { kind: "resume", actions: [{ action: first }] };
    }
    case "C":
    case "S": {
      const [sig] = body.slice(1).split(";");
      return { kind: "resume", actions: [{ action: first, signal: hexInt(sig, first, "signal", 255) }] };
    }
    case "D":
      return { kind: "detach" };
    case "k":
      return { kind: "kill", reply: false };
    case "H":
      return { kind: "setThread", op: body.slice(1, 2), thread: body.slice(2) };
    case "T":
      return { kind: "threadAlive", thread: body.slice(1) };
    case "q":
      return parseQuery(body);
    case "Q":
      return parseSet(body);
    case "v":
      if (body.startsWith("vCont")) return parseVCont(body);
      if (body.startsWith("vFile:")) return parseVFile(body);
      if (body.startsWith("vKill")) return { kind: "kill", reply: true };
      return { kind: "unsupported", name: body.split(/[;:]/, 1)[0] };
    default:
      return { kind: "unsupported", name: first };
  }
}

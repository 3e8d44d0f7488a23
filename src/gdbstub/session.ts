// One GDB connection: acknowledgements, packet dispatch, stop replies when
// the target stops, and Ctrl-C. Whatever a client sends, the session
// answers or drops it; it never throws into the server.

import { closeSync } from "node:fs";
import { breakpoints, removeAll } from "./commands/breakpoints.js";
import type { Context, Reply, SessionState } from "./commands/context.js";
import { general } from "./commands/general.js";
import { memory } from "./commands/memory.js";
import { monitor } from "./commands/monitor.js";
import { registers } from "./commands/registers.js";
import { resume, stopReply } from "./commands/resume.js";
import { syscalls } from "./commands/syscalls.js";
import { vfile } from "./commands/vfile.js";
import { xfer } from "./commands/xfer.js";
import { parseCommand, ParseError, type Command } from "./protocol/commands.js";
import { decodeRle, frame, PacketReader } from "./protocol/packet.js";
import type { DebugTarget, StopEvent } from "./target.js";

type Handler = (cmd: Command, ctx: Context) => Reply;

const HANDLERS: Partial<Record<Command["kind"], Handler>> = {};
const family = (h: Handler, kinds: Array<Command["kind"]>) => kinds.forEach((k) => (HANDLERS[k] = h));
family(general, ["qSupported", "startNoAck", "haltReason", "setThread", "threadAlive", "currentThread", "threadInfo", "attached", "symbol", "ok", "unsupported"]);
family(registers, ["readRegisters", "writeRegisters", "readRegister", "writeRegister"]);
family(memory, ["readMemory", "writeMemory"]);
family(breakpoints, ["breakpoint"]);
family(resume, ["vContQuery", "resume", "detach", "kill"]);
family(xfer, ["xfer"]);
family(vfile, ["vFileOpen", "vFileClose", "vFilePread", "vFileFstat", "vFileSetfs", "vFileReadlink"]);
family(syscalls, ["catchSyscalls", "signals"]);
family(monitor, ["monitor"]);

export interface SessionEvents {
  /** Bytes for the client. */
  write(data: Buffer): void;
  /** The session is over (detached, killed, or the program ended and GDB was told). */
  end(): void;
  /** Something worth a line in the log (a bad packet, a protocol error). */
  log?(message: string): void;
}

export class Session {
  private readonly reader = new PacketReader();
  private readonly state: SessionState = { noAck: false, gdbFeatures: new Set(), waiting: false, ending: false, files: new Map(), nextFile: 3, inserted: [], catching: false };
  private readonly ctx: Context;
  private lastPacket: Buffer | undefined;
  private closed = false;
  /** The client went away while the program ran: clean up at the next stop. */
  private cleanUpOnStop = false;
  /** A valid packet has arrived (a silent client can be dropped). */
  spoken = false;

  constructor(
    private readonly target: DebugTarget,
    private readonly events: SessionEvents,
  ) {
    this.ctx = {
      target,
      state: this.state,
      send: (payload) => this.send(payload),
      stopReply: (event) => stopReply(event, this.ctx),
    };
  }

  /** The target stopped or ended: answer the resume that is waiting. */
  onStop(event: StopEvent): void {
    if (this.closed) {
      if (this.cleanUpOnStop && event.kind === "stopped") this.cleanUp();
      this.cleanUpOnStop = false;
      return;
    }
    // After a stop, registers and resumes are the stop's thread's again
    // until GDB says otherwise (Hg, Hc).
    this.state.generalThread = undefined;
    this.state.continueThread = undefined;
    if (!this.state.waiting) return;
    this.state.waiting = false;
    this.send(stopReply(event, this.ctx));
  }

  onData(chunk: Buffer): void {
    for (const ev of this.reader.feed(chunk)) {
      if (this.closed) return;
      switch (ev.type) {
        case "ack":
          break;
        case "nack":
          if (!this.state.noAck && this.lastPacket) this.events.write(this.lastPacket);
          break;
        case "interrupt":
          if (this.target.isRunning()) this.target.interrupt();
          break;
        case "bad-checksum":
          this.events.log?.(`a packet with a bad checksum (expected ${ev.expected.toString(16)}, got ${ev.actual.toString(16)}): asked again`);
          if (!this.state.noAck) this.events.write(Buffer.from("-"));
          break;
        case "too-long":
          this.events.log?.("a packet longer than the stub accepts: dropped");
          if (!this.state.noAck) this.events.write(Buffer.from("-"));
          break;
        case "packet":
          if (!this.state.noAck) this.events.write(Buffer.from("+"));
          this.spoken = true;
          this.handle(ev.data);
          break;
      }
    }
  }

  /**
   * The client went away. Breakpoints, watchpoints and syscall catching it
   * left behind are removed (now, or when the program next stops): the
   * next debugger knows nothing of them.
   */
  onClose(): void {
    this.closed = true;
    for (const host of this.state.files.values()) {
      if (typeof host !== "number") continue;
      try {
        closeSync(host);
      } catch {
        // already gone
      }
    }
    this.state.files.clear();
    if (this.state.ending) return; // detached or killed: nothing stays behind
    if (this.target.isRunning()) this.cleanUpOnStop = true;
    else if (this.target.lastStop().kind === "stopped") this.cleanUp();
  }

  private cleanUp(): void {
    try {
      removeAll(this.ctx);
      if (this.state.catching) this.target.catchSyscalls([]);
      this.state.catching = false;
    } catch (e) {
      this.events.log?.(`removing what the debugger left behind: ${(e as Error).message}`);
    }
  }

  private handle(raw: Buffer): void {
    const payload = decodeRle(raw);
    let reply: Reply;
    let cmd: Command | undefined;
    if (!payload) {
      reply = "E01";
    } else if (this.target.isRunning() && payload.toString("latin1") !== "vCtrlC") {
      reply = "E01"; // all-stop: nothing but Ctrl-C while the program runs
    } else {
      try {
        cmd = parseCommand(payload);
        reply = (HANDLERS[cmd.kind] ?? general)(cmd, this.ctx);
      } catch (e) {
        if (e instanceof ParseError) {
          this.events.log?.(`malformed packet ${e.message}`);
          reply = "E01";
        } else {
          this.events.log?.(`error answering ${payload.toString("latin1").slice(0, 40)}: ${(e as Error).message}`);
          reply = "E01";
        }
      }
    }
    if (reply !== undefined) this.send(reply);
    if (cmd?.kind === "startNoAck") this.state.noAck = true;
    if (this.state.ending) {
      this.closed = true;
      this.events.end();
    }
  }

  private send(payload: string | Buffer): void {
    const packet = frame(payload);
    this.lastPacket = packet;
    this.events.write(packet);
  }
}

// Resuming and ending: vCont, c/s/C/S, D, k/vKill; and the stop replies.

import { gdbSignal, linuxSignal } from "../signals.js";
import type { Command } from "../protocol/commands.js";
import type { StopEvent } from "../target.js";
import { registerHex, REGISTERS } from "../x86_64.js";
import type { Context, Reply } from "./context.js";
import { isOurThread, multiprocess, threadId } from "./general.js";

// rax..eflags: enough for GDB to step and unwind without asking for 'g'.
const EXPEDITED = REGISTERS.slice(0, 18);

export function stopReply(event: StopEvent, ctx: Context): string {
  const process = multiprocess(ctx) ? `;process:${ctx.target.pid.toString(16)}` : "";
  if (event.kind === "exited") return `W${(event.status & 0xff).toString(16).padStart(2, "0")}${process}`;
  if (event.kind === "killed") return `X${gdbSignal(event.signal).toString(16).padStart(2, "0")}${process}`;
  let reply = `T${gdbSignal(event.signal).toString(16).padStart(2, "0")}thread:${threadId(ctx)};`;
  const r = event.reason;
  if (r) {
    if (r.type === "swbreak" || r.type === "hwbreak") {
      if (ctx.state.gdbFeatures.has(r.type)) reply += `${r.type}:;`;
    } else if ("nr" in r) {
      reply += `${r.type}:${r.nr.toString(16)};`;
    } else if ("addr" in r) {
      reply += `${r.type}:${r.addr.toString(16)};`;
    }
  }
  const regs = ctx.target.readRegisters();
  for (const reg of EXPEDITED) reply += `${reg.regnum.toString(16)}:${registerHex(regs, reg)};`;
  return reply;
}

export function resume(cmd: Command, ctx: Context): Reply {
  const t = ctx.target;
  switch (cmd.kind) {
    case "vContQuery":
      return "vCont;c;C;s;S;t;r";
    case "resume": {
      // One thread: the first action for it (or for all threads) decides.
      const action = cmd.actions.find((a) => !a.thread || isOurThread(ctx, a.thread));
      if (!action || action.action === "t") return "OK";
      if (t.lastStop().kind !== "stopped") return "E01";
      const step = action.action === "s" || action.action === "S" || action.action === "r";
      const signal = action.signal ? linuxSignal(action.signal) : 0;
      const range = action.action === "r" && action.start !== undefined && action.end !== undefined ? { start: action.start, end: action.end } : undefined;
      ctx.state.waiting = true;
      t.resume(step, signal, range);
      return undefined;
    }
    case "detach":
      ctx.state.ending = true;
      t.detach();
      return "OK";
    case "kill":
      ctx.state.ending = true;
      t.kill();
      return cmd.reply ? "OK" : undefined;
    default:
      return "";
  }
}

// Resuming and ending: vCont, c/s/C/S, D, k/vKill; and the stop replies.

import { gdbSignal, linuxSignal } from "../signals.js";
import type { Command } from "../protocol/commands.js";
import type { ResumeOrder, StopEvent } from "../target.js";
import type { VContAction } from "../protocol/commands.js";
import { registerHex, REGISTERS } from "../x86_64.js";
import type { Context, Reply } from "./context.js";
import { multiprocess, parseThread, threadIdOf } from "./general.js";

// rax..eflags: enough for GDB to step and unwind without asking for 'g'.
const EXPEDITED = REGISTERS.slice(0, 18);

export function stopReply(event: StopEvent, ctx: Context): string {
  const process = multiprocess(ctx) ? `;process:${ctx.target.pid.toString(16)}` : "";
  if (event.kind === "exited") return `W${(event.status & 0xff).toString(16).padStart(2, "0")}${process}`;
  if (event.kind === "killed") return `X${gdbSignal(event.signal).toString(16).padStart(2, "0")}${process}`;
  const tid = event.thread ?? ctx.target.pid;
  let reply = `T${gdbSignal(event.signal).toString(16).padStart(2, "0")}thread:${threadIdOf(ctx, tid)};`;
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
  const regs = ctx.target.readRegisters(tid);
  for (const reg of EXPEDITED) reply += `${reg.regnum.toString(16)}:${registerHex(regs, reg)};`;
  return reply;
}

/**
 * The order a vCont (or c/s) gives, as gdbserver reads it in all-stop mode:
 * the first action that names a thread of ours applies to it, and the
 * action with no thread to all the others. A step or a continue of one
 * thread with no action for the others (GDB's scheduler locking) leaves
 * them stopped.
 */
function orderOf(actions: VContAction[], ctx: Context): { order: ResumeOrder; others: boolean } | undefined {
  let named: { action: VContAction; tid: number } | undefined;
  let rest: VContAction | undefined;
  for (const a of actions) {
    if (!a.thread) {
      rest ??= a;
      continue;
    }
    const t = parseThread(ctx, a.thread);
    if (t === "all" || t === "any") rest ??= a;
    else if (typeof t === "number" && !named) named = { action: a, tid: t };
  }
  const chosen = named?.action ?? rest;
  if (!chosen || chosen.action === "t") return undefined;
  const step = chosen.action === "s" || chosen.action === "S" || chosen.action === "r";
  const signal = chosen.signal ? linuxSignal(chosen.signal) : 0;
  const range = chosen.action === "r" && chosen.start !== undefined && chosen.end !== undefined ? { start: chosen.start, end: chosen.end } : undefined;
  // One action for every thread: c runs them all; s steps the thread Hc
  // names (or the stop's) alone.
  const tid = named?.tid ?? ctx.state.continueThread;
  const others = named ? rest !== undefined && (rest.action === "c" || rest.action === "C") : !step;
  return { order: { tid, step, signal, range }, others };
}

export function resume(cmd: Command, ctx: Context): Reply {
  const t = ctx.target;
  switch (cmd.kind) {
    case "vContQuery":
      return "vCont;c;C;s;S;t;r";
    case "resume": {
      const o = orderOf(cmd.actions, ctx);
      if (!o) return "OK";
      if (t.lastStop().kind !== "stopped") return "E01";
      ctx.state.waiting = true;
      t.resume(o.order, o.others);
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

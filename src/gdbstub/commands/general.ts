// Connection set-up, threads and the halt reason.

import { MAX_PACKET } from "../protocol/packet.js";
import type { Command } from "../protocol/commands.js";
import type { Context, Reply } from "./context.js";

/** What torov implements; GDB uses only what is listed here. */
export const SUPPORTED = [
  `PacketSize=${MAX_PACKET.toString(16)}`,
  "QStartNoAckMode+",
  "qXfer:features:read+",
  "qXfer:exec-file:read+",
  "qXfer:auxv:read+",
  "qXfer:libraries-svr4:read+",
  "qXfer:threads:read+",
  "swbreak+",
  "hwbreak+",
  "vContSupported+",
  "QCatchSyscalls+",
  "QPassSignals+",
  "QProgramSignals+",
  "multiprocess+",
];

/** GDB offered the multiprocess extensions: thread ids are pPID.TID, and GDB knows the pid. */
export function multiprocess(ctx: Context): boolean {
  return ctx.state.gdbFeatures.has("multiprocess");
}

/** A thread's id as this client writes them: pPID.TID with the multiprocess extensions, else TID (hex). */
export function threadIdOf(ctx: Context, tid: number): string {
  const id = tid.toString(16);
  return multiprocess(ctx) ? `p${ctx.target.pid.toString(16)}.${id}` : id;
}

/** The thread a stop is of (the main thread when it does not say). */
export function stopThread(ctx: Context): number {
  const last = ctx.target.lastStop();
  return last.kind === "stopped" && last.thread !== undefined ? last.thread : ctx.target.pid;
}

/** The id of the thread registers are read from: Hg's, else the stop's. */
export function threadId(ctx: Context): string {
  return threadIdOf(ctx, ctx.state.generalThread ?? stopThread(ctx));
}

/**
 * What a thread id GDB sent (TID, pPID, pPID.TID) names: one of our live
 * threads, "any" (0), "all" (-1), or undefined when it is not ours.
 */
export function parseThread(ctx: Context, thread: string): number | "any" | "all" | undefined {
  const pid = ctx.target.pid;
  let tidPart = thread;
  if (thread.startsWith("p")) {
    const [p, t, ...rest] = thread.slice(1).split(".");
    if (rest.length || p === "") return undefined;
    if (p !== "-1" && p !== "0" && parseInt(p, 16) !== pid) return undefined;
    if (t === undefined) return p === "-1" ? "all" : "any";
    tidPart = t;
  }
  if (tidPart === "" || tidPart === "0") return "any";
  if (tidPart === "-1") return "all";
  if (!/^[0-9a-fA-F]+$/.test(tidPart)) return undefined;
  const tid = parseInt(tidPart, 16);
  return liveThreads(ctx).includes(tid) ? tid : undefined;
}

/** The live threads' ids (only the main one while the program runs, or once it ended). */
function liveThreads(ctx: Context): number[] {
  const list = ctx.target.threads().map((t) => t.tid);
  return list.length ? list : [ctx.target.pid];
}

/** Whether a thread id GDB sent names one of ours (or any, or all). */
export function isOurThread(ctx: Context, thread: string): boolean {
  return parseThread(ctx, thread) !== undefined;
}

export function general(cmd: Command, ctx: Context): Reply {
  switch (cmd.kind) {
    case "qSupported":
      for (const f of cmd.features) if (f.endsWith("+")) ctx.state.gdbFeatures.add(f.slice(0, -1));
      return SUPPORTED.join(";");
    case "startNoAck":
      return "OK"; // the session switches after sending this reply
    case "haltReason":
      return ctx.stopReply(ctx.target.lastStop());
    case "setThread": {
      // Hg: the thread whose registers g/G/p/P read and write; Hc: the one
      // c/s resume. 0 and -1 mean the stop's thread again.
      const t = parseThread(ctx, cmd.thread);
      if (t === undefined) return "E01";
      const tid = typeof t === "number" ? t : undefined;
      if (cmd.op === "g") ctx.state.generalThread = tid;
      else if (cmd.op === "c") ctx.state.continueThread = tid;
      else return "E01";
      return "OK";
    }
    case "threadAlive": {
      const t = parseThread(ctx, cmd.thread);
      return typeof t === "number" && ctx.target.lastStop().kind === "stopped" ? "OK" : "E01";
    }
    case "currentThread":
      return `QC${threadIdOf(ctx, stopThread(ctx))}`;
    case "threadInfo":
      return cmd.first ? `m${liveThreads(ctx).map((tid) => threadIdOf(ctx, tid)).join(",")}` : "l";
    case "attached":
      return "0"; // torov started the program: quitting GDB kills it, as with gdbserver
    case "symbol":
    case "ok":
      return "OK";
    default:
      return "";
  }
}

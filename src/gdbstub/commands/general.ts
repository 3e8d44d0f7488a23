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

/** The one thread's id, as this client writes them. */
export function threadId(ctx: Context): string {
  const id = ctx.target.pid.toString(16);
  return multiprocess(ctx) ? `p${id}.${id}` : id;
}

/** Whether a thread id GDB sent (TID, pPID, pPID.TID; 0 any, -1 all) names ours. */
export function isOurThread(ctx: Context, thread: string): boolean {
  const ours = (part: string | undefined) => part === undefined || part === "" || part === "0" || part === "-1" || parseInt(part, 16) === ctx.target.pid;
  if (!thread.startsWith("p")) return ours(thread);
  const [pid, tid, ...rest] = thread.slice(1).split(".");
  return rest.length === 0 && pid !== "" && ours(pid) && ours(tid);
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
    case "setThread":
      return isOurThread(ctx, cmd.thread) ? "OK" : "E01";
    case "threadAlive":
      return isOurThread(ctx, cmd.thread) && ctx.target.lastStop().kind === "stopped" ? "OK" : "E01";
    case "currentThread":
      return `QC${threadId(ctx)}`;
    case "threadInfo":
      return cmd.first ? `m${threadId(ctx)}` : "l";
    case "attached":
      return "0"; // torov started the program: quitting GDB kills it, as with gdbserver
    case "symbol":
    case "ok":
      return "OK";
    default:
      return "";
  }
}

// Z and z: software and hardware breakpoints, write/read/access watchpoints.

import type { Command } from "../protocol/commands.js";
import type { WatchKind } from "../target.js";
import { ERR_INVALID, type Context, type Reply } from "./context.js";

const WATCH: Record<number, WatchKind> = { 2: "w", 3: "r", 4: "a" };

export function breakpoints(cmd: Command, ctx: Context): Reply {
  if (cmd.kind !== "breakpoint") return "";
  const t = ctx.target;
  let done: boolean;
  if (cmd.type === 0 || cmd.type === 1) {
    if (cmd.length !== 1) return ERR_INVALID; // x86: the kind is the int3's length
    const kind = cmd.type === 0 ? "sw" : "hw";
    done = cmd.insert ? t.insertBreakpoint(kind, cmd.addr) : t.removeBreakpoint(kind, cmd.addr);
  } else {
    if (cmd.length === 0) return ERR_INVALID;
    const kind = WATCH[cmd.type];
    done = cmd.insert ? t.insertWatchpoint(kind, cmd.addr, cmd.length) : t.removeWatchpoint(kind, cmd.addr, cmd.length);
  }
  if (!done) return "E0e";
  const { inserted } = ctx.state;
  if (cmd.insert) {
    inserted.push({ type: cmd.type, addr: cmd.addr, length: cmd.length });
  } else {
    const at = inserted.findIndex((b) => b.type === cmd.type && b.addr === cmd.addr && b.length === cmd.length);
    if (at >= 0) inserted.splice(at, 1);
  }
  return "OK";
}

/** Removes every breakpoint and watchpoint the client inserted (the program is stopped). */
export function removeAll(ctx: Context): void {
  const t = ctx.target;
  for (const b of ctx.state.inserted.splice(0)) {
    if (b.type === 0 || b.type === 1) t.removeBreakpoint(b.type === 0 ? "sw" : "hw", b.addr);
    else t.removeWatchpoint(WATCH[b.type], b.addr, b.length);
  }
}

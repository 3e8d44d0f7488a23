// Z and z: software and hardware breakpoints, write/read/access watchpoints.

import type { Command } from "../protocol/commands.js";
import type { WatchKind } from "../target.js";
import { ERR_INVALID, type Context, type Reply } from "./context.js";

const WATCH: Record<number, WatchKind> = { 2: "w", 3: "r", 4: "a" };

export function breakpoints(cmd: Command, ctx: Context): Reply {
  if (cmd.kind !== "breakpoint") return "";
  const t = ctx.target;
  if (cmd.type === 0 || cmd.type === 1) {
    if (cmd.length !== 1) return ERR_INVALID; // x86: the kind is the int3's length
    const kind = cmd.type === 0 ? "sw" : "hw";
    const done = cmd.insert ? t.insertBreakpoint(kind, cmd.addr) : t.removeBreakpoint(kind, cmd.addr);
    return done ? "OK" : "E0e";
  }
  if (cmd.length === 0) return ERR_INVALID;
  const kind = WATCH[cmd.type];
  const done = cmd.insert ? t.insertWatchpoint(kind, cmd.addr, cmd.length) : t.removeWatchpoint(kind, cmd.addr, cmd.length);
  return done ? "OK" : "E0e";
}

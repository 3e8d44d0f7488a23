// QCatchSyscalls (catch syscall), QPassSignals and QProgramSignals.

import type { Command } from "../protocol/commands.js";
import type { Context, Reply } from "./context.js";

export function syscalls(cmd: Command, ctx: Context): Reply {
  switch (cmd.kind) {
    case "catchSyscalls":
      ctx.target.catchSyscalls(!cmd.enable ? [] : cmd.numbers.length ? cmd.numbers : "all");
      ctx.state.catching = cmd.enable;
      return "OK";
    case "signals":
      // No signal is ever delivered to a handler: which ones GDB would pass
      // silently makes no difference yet.
      return "OK";
    default:
      return "";
  }
}

// QCatchSyscalls (catch syscall), QPassSignals and QProgramSignals.

import type { Command } from "../protocol/commands.js";
import { linuxSignal } from "../signals.js";
import type { Context, Reply } from "./context.js";

export function syscalls(cmd: Command, ctx: Context): Reply {
  switch (cmd.kind) {
    case "catchSyscalls":
      ctx.target.catchSyscalls(!cmd.enable ? [] : cmd.numbers.length ? cmd.numbers : "all");
      ctx.state.catching = cmd.enable;
      return "OK";
    case "signals":
      // QPassSignals: delivered without a stop first. QProgramSignals (which
      // ones GDB lets a resume deliver) needs nothing: a resume says.
      if (cmd.which === "pass") ctx.target.passSignals?.(cmd.signals.map(linuxSignal).filter((s) => s > 0));
      return "OK";
    default:
      return "";
  }
}

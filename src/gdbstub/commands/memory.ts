// m, M, X: guest memory, bounded to what the application has mapped.

import type { Command } from "../protocol/commands.js";
import { ERR_FAULT, type Context, type Reply } from "./context.js";

export function memory(cmd: Command, ctx: Context): Reply {
  switch (cmd.kind) {
    case "readMemory": {
      if (cmd.length === 0) return "";
      const bytes = ctx.target.readMemory(cmd.addr, cmd.length);
      return bytes && bytes.length ? bytes.toString("hex") : ERR_FAULT;
    }
    case "writeMemory":
      if (cmd.data.length === 0) return "OK";
      return ctx.target.writeMemory(cmd.addr, cmd.data) ? "OK" : ERR_FAULT;
    default:
      return "";
  }
}

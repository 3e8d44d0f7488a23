// qRcmd: GDB's `monitor` command. The output goes back as O packets.

import type { Command } from "../protocol/commands.js";
import type { Context, Reply } from "./context.js";

export function monitor(cmd: Command, ctx: Context): Reply {
  if (cmd.kind !== "monitor") return "";
  let text = ctx.target.monitor(cmd.command);
  if (text && !text.endsWith("\n")) text += "\n";
  for (let i = 0; i < text.length; i += 0x1000) ctx.send(`O${Buffer.from(text.slice(i, i + 0x1000)).toString("hex")}`);
  return "OK";
}

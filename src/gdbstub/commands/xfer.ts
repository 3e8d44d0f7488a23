// qXfer: the target description, the program's path, the auxiliary vector,
// the thread list and the loaded libraries, each read in pieces.

import type { Command } from "../protocol/commands.js";
import { escapeBinary } from "../protocol/packet.js";
import { TARGET_XML } from "../x86_64.js";
import type { Context, Reply } from "./context.js";
import { threadIdOf } from "./general.js";
import { librariesSvr4 } from "./libraries.js";

function slice(data: Buffer, offset: number, length: number): Buffer {
  const part = data.subarray(offset, offset + length);
  const more = offset + length < data.length;
  return Buffer.concat([Buffer.from(more ? "m" : "l"), escapeBinary(part)]);
}

const TARGET_XML_BYTES = Buffer.from(TARGET_XML);

export function xfer(cmd: Command, ctx: Context): Reply {
  if (cmd.kind !== "xfer") return "";
  const t = ctx.target;
  switch (cmd.object) {
    case "features":
      if (cmd.annex !== "target.xml") return "E00";
      return slice(TARGET_XML_BYTES, cmd.offset, cmd.length);
    case "exec-file":
      return slice(Buffer.from(t.execFile), cmd.offset, cmd.length);
    case "auxv":
      return slice(t.auxv(), cmd.offset, cmd.length);
    case "libraries-svr4":
      // Made again for each read from the start, kept for the reads after.
      if (cmd.offset === 0 || !ctx.state.librariesXml) ctx.state.librariesXml = Buffer.from(librariesSvr4(t));
      return slice(ctx.state.librariesXml, cmd.offset, cmd.length);
    case "threads": {
      const list = t.threads().length ? t.threads() : [{ tid: t.pid, name: t.name }];
      const escape = (name: string) => name.replace(/[<>&"]/g, "_");
      const lines = list.map((th) => `<thread id="${threadIdOf(ctx, th.tid)}" name="${escape(th.name)}"/>`);
      const xml = `<?xml version="1.0"?>\n<threads>\n${lines.join("\n")}\n</threads>\n`;
      return slice(Buffer.from(xml), cmd.offset, cmd.length);
    }
    default:
      return "";
  }
}

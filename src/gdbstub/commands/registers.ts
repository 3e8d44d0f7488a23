// g, G, p, P: registers in the layout target.xml describes.

import { fromGPacket, G_SIZE, registerHex, REGISTERS, toGPacket, writeRegister } from "../x86_64.js";
import type { Command } from "../protocol/commands.js";
import { ERR_INVALID, type Context, type Reply } from "./context.js";

export function registers(cmd: Command, ctx: Context): Reply {
  const t = ctx.target;
  switch (cmd.kind) {
    case "readRegisters":
      return toGPacket(t.readRegisters()).toString("hex");
    case "writeRegisters":
      if (cmd.data.length !== G_SIZE) return ERR_INVALID; // all registers, as target.xml lists them
      return t.writeRegisters(fromGPacket(t.readRegisters(), cmd.data)) ? "OK" : "E01";
    case "readRegister": {
      const r = REGISTERS[cmd.reg];
      return r ? registerHex(t.readRegisters(), r) : "E45"; // unknown register
    }
    case "writeRegister": {
      const r = REGISTERS[cmd.reg];
      if (!r || cmd.data.length !== r.bits / 8) return "E45";
      const regs = t.readRegisters();
      writeRegister(regs, r, cmd.data);
      return t.writeRegisters(regs) ? "OK" : "E01";
    }
    default:
      return "";
  }
}

// g, G, p, P: registers in the layout target.xml describes.

import { fromGPacket, G_SIZE, registerHex, REGISTERS, toGPacket, writeRegister } from "../x86_64.js";
import type { Command } from "../protocol/commands.js";
import { ERR_INVALID, type Context, type Reply } from "./context.js";

export function registers(cmd: Command, ctx: Context): Reply {
  const t = ctx.target;
  // Hg's thread, else the one the stop is of.
  const tid = ctx.state.generalThread;
  switch (cmd.kind) {
    case "readRegisters":
      return toGPacket(t.readRegisters(tid)).toString("hex");
    case "writeRegisters":
      if (cmd.data.length !== G_SIZE) return ERR_INVALID; // all registers, as target.xml lists them
      return t.writeRegisters(fromGPacket(t.readRegisters(tid), cmd.data), tid) ? "OK" : "E01";
    case "readRegister": {
      const r = REGISTERS[cmd.reg];
      return r ? registerHex(t.readRegisters(tid), r) : "E45"; // unknown register
    }
    case "writeRegister": {
      const r = REGISTERS[cmd.reg];
      if (!r || cmd.data.length !== r.bits / 8) return "E45";
      const regs = t.readRegisters(tid);
      writeRegister(regs, r, cmd.data);
      return t.writeRegisters(regs, tid) ? "OK" : "E01";
    }
    default:
      return "";
  }
}

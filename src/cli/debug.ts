// torov debug app.json [--port N] [--host H] [--stdio] [--gdb] [-- args]:
// the program stops before its first instruction and waits for GDB.

import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { TorovError } from "../vmm/errors.js";
import { GdbServer } from "../gdbstub/server.js";
import { loadManifest, type Manifest } from "../vmm/manifest.js";
import { Machine } from "../vmm/machine.js";
import { VmDebugTarget } from "../vmm/debug.js";
import * as ui from "./ui.js";

export interface DebugOptions {
  port?: string;
  host?: string;
  stdio?: boolean;
  gdb?: boolean;
  stopOnDenied?: boolean;
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 0 || n > 65535) throw new TorovError(`--port: "${text}" is not a TCP port (0 to 65535)`, "EUSAGE");
  return n;
}

export async function run(manifestPath: string, args: string[], options: DebugOptions): Promise<void> {
  if (options.stdio && options.gdb) throw new TorovError("--stdio and --gdb: choose one (--stdio is for a GDB that starts torov, --gdb starts GDB here)", "EUSAGE");
  if (options.stdio && options.port !== undefined) throw new TorovError("--stdio speaks on stdin and stdout: --port does not apply", "EUSAGE");
  await debug(loadManifest(manifestPath), args, options);
}

/** Runs `manifest` under the GDB stub until the program ends. */
export async function debug(manifest: Manifest, args: string[], options: DebugOptions): Promise<void> {
  // With --stdio the protocol owns stdin and stdout: the program reads
  // nothing and writes to stderr, as under gdbserver.
  const stdio: [number, number, number] | undefined = options.stdio ? [openSync("/dev/null", "r"), 2, 2] : undefined;
  // Bad options are refused before a VM exists (one would keep the process alive).
  const port = options.port !== undefined ? parsePort(options.port) : manifest.debug.port;
  const machine = new Machine(manifest, { args, stdio });
  const target = new VmDebugTarget(machine);
  if (options.stopOnDenied) target.stopOnDenied(true);
  await target.ready();
  const log = (message: string) => ui.warn(`gdb stub: ${message}`);

  let server: GdbServer;
  if (options.stdio) {
    server = GdbServer.stdio(target, process.stdin, process.stdout, { log });
  } else {
    const host = options.host ?? "127.0.0.1";
    try {
      server = await GdbServer.listen(target, { host, port, log });
    } catch (e) {
      machine.kill();
      const err = e as NodeJS.ErrnoException;
      const why = err.code === "EADDRINUSE" ? "the port is in use (try --port)" : err.code === "EACCES" ? "permission denied" : err.message;
      throw new TorovError(`cannot listen for GDB on ${host}:${port}: ${why}`, "EDEBUG");
    }
    const where = `${host.includes(":") ? `[${host}]` : host}:${server.port}`;
    ui.info(`${machine.image.name} is stopped at its entry point; GDB can attach on ${where}`);
    if (options.gdb) {
      startGdb(machine, where);
    } else {
      ui.info(`attach with: gdb -ex 'target remote ${where}'`);
    }
  }

  const outcome = await target.outcome;
  server.close();
  if (outcome.report.length) ui.report(outcome.report);
  process.exitCode = outcome.status;
}

/** --gdb: GDB in this terminal, attached, with the program's symbols. */
function startGdb(machine: Machine, where: string): void {
  // The terminal's Ctrl-C goes to GDB (which interrupts the program), not to us.
  process.on("SIGINT", () => {});
  const gdb = spawn("gdb", ["-q", "-ex", `target remote ${where}`, machine.manifest.binary], { stdio: "inherit" });
  gdb.on("error", (e) => {
    ui.error(`cannot start gdb: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "gdb is not installed" : e.message}`);
    machine.kill();
  });
  // GDB gone: nothing else will debug the program.
  gdb.on("exit", () => machine.kill());
}

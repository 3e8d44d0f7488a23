// npm run bench:debug: how fast GDB steps and hits breakpoints through
// torov debug, against gdbserver and local GDB (ptrace) on the same static
// program, in one run.
//
// GDB itself times each phase (its Python `time.perf_counter` around the
// command), so start-up — connecting, reading symbols, booting the VM — is
// not counted. Two phases per operation: the first 1000 after the session
// starts ("cold": torov's JavaScript is still being compiled by V8 then),
// and the next 3000 ("warm").
//
// Usage: npm run bench:debug [-- --rounds N]

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, build, machineDescription, median, runWhereKvmIs, TOROV } from "./bench-common.js";
import { native } from "../src/vmm/native.js";
import { debugMechanismsName } from "../src/vmm/flavour.js";

const rounds = Number(arg("--rounds", "3"));
const COLD = 1000;
const WARM = 3000;

type Backend = "local" | "gdbserver" | "torov";
type Op = "step" | "hit";
interface Phases {
  cold: number;
  warm: number;
}

/** Starts a server for `program` and returns its port and a stopper. */
async function server(backend: Exclude<Backend, "local">, program: string, manifest: string): Promise<{ port: number; stop: () => void }> {
  const proc =
    backend === "gdbserver"
      ? spawn("gdbserver", ["--once", "127.0.0.1:0", program], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(process.execPath, [TOROV, "debug", manifest, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  // The server's stderr is read for its port, then drained for good: a
  // gdbserver that warns on every step would block on a full pipe otherwise.
  let text: string | undefined = "";
  const port = await new Promise<number>((resolvePort, reject) => {
    proc.stderr!.on("data", (d) => {
      if (text === undefined) return;
      text += d;
      const m = /Listening on port (\d+)|GDB can attach on 127\.0\.0\.1:(\d+)/.exec(text);
      if (m) {
        text = undefined;
        resolvePort(Number(m[1] ?? m[2]));
      }
    });
    proc.on("exit", () => reject(new Error(`${backend} exited before it listened: ${lastLine(text ?? "")}`)));
  });
  return { port, stop: () => proc.kill("SIGKILL") };
}

/** Runs gdb without blocking the event loop (the servers' pipes drain meanwhile). */
function gdb(args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun) => {
    const proc = spawn("gdb", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
    proc.on("close", (status) => {
      clearTimeout(timer);
      resolveRun({ status, stdout, stderr });
    });
  });
}

const lastLine = (text: string) => text.trim().split("\n").pop() ?? "";

/** GDB commands, timed by GDB, that print "PHASE name seconds". */
function timed(name: string, command: string): string[] {
  return ["-ex", `python import time; _t = time.perf_counter(); gdb.execute(${JSON.stringify(command)}, to_string=True); print("PHASE ${name} %.6f" % (time.perf_counter() - _t))`];
}

/** Per-operation microseconds, cold and warm, of one GDB session. */
async function session(backend: Backend, program: string, manifest: string, op: Op): Promise<Phases> {
  const setup = ["-ex", "set confirm off", "-ex", "set pagination off", "-ex", "break main"];
  const work =
    op === "step"
      ? [...timed("cold", `stepi ${COLD}`), ...timed("warm", `stepi ${WARM}`)]
      : ["-ex", "break hit", "-ex", `ignore 2 ${COLD - 1}`, ...timed("cold", "continue"), "-ex", `ignore 2 ${WARM - 1}`, ...timed("warm", "continue")];
  let args: string[];
  let stop = () => {};
  if (backend === "local") {
    args = ["-q", "-nx", "-batch", ...setup, "-ex", "run", ...work, "-ex", "kill", program];
  } else {
    const s = await server(backend, program, manifest);
    stop = s.stop;
    args = ["-q", "-nx", "-batch", "-ex", "set sysroot /", ...setup, "-ex", `target remote 127.0.0.1:${s.port}`, "-ex", "continue", ...work, "-ex", "kill", program];
  }
  const r = await gdb(args, 300_000);
  stop();
  const phase = (name: string) => Number(new RegExp(`PHASE ${name} ([\\d.]+)`).exec(r.stdout)?.[1]);
  const cold = phase("cold");
  const warm = phase("warm");
  if (r.status !== 0 || !(cold > 0 && warm > 0)) {
    const why = r.status === null ? "gdb did not finish in 300 s" : `gdb ended with status ${r.status}`;
    throw new Error(`torov bench:debug: the ${backend} ${op} session failed (${why}): ${lastLine(r.stderr || r.stdout)}`);
  }
  return { cold: (cold * 1e6) / COLD, warm: (warm * 1e6) / WARM };
}

async function measure(backend: Backend, program: string, manifest: string, op: Op): Promise<Phases> {
  const samples: Phases[] = [];
  for (let i = 0; i < rounds; i++) samples.push(await session(backend, program, manifest, op));
  return { cold: median(samples.map((s) => s.cold)), warm: median(samples.map((s) => s.warm)) };
}

async function main(): Promise<void> {
  await runWhereKvmIs();
  const program = build("loop.c", "loop", ["-O1", "-g", "-static"]);
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-debug-"));
  mkdirSync(join(dir, "root"));
  const manifest = join(dir, "loop.json");
  writeFileSync(manifest, JSON.stringify({ Binary: program, MountPoint: "root" }));
  const hasGdbserver = spawnSync("gdbserver", ["--version"]).status === 0;
  const backends: Backend[] = hasGdbserver ? ["local", "gdbserver", "torov"] : ["local", "torov"];
  const results = {} as Record<Backend, Record<Op, Phases>>;
  try {
    for (const b of backends) results[b] = { step: await measure(b, program, manifest, "step"), hit: await measure(b, program, manifest, "hit") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (us: number) => `${us.toFixed(0)} µs`;
  const date = new Date().toISOString().slice(0, 10);
  const gdbVersion = /[\d.]+$/.exec(execFileSync("gdb", ["--version"], { encoding: "utf8" }).split("\n")[0])?.[0];
  console.log(`torov debugger benchmark, ${date}: ${machineDescription()}, gdb ${gdbVersion}, debugger ${debugMechanismsName(native().probeDebug().mechanisms)}; medians of ${rounds} sessions; cold = the first ${COLD} operations of a session, warm = the next ${WARM}\n`);
  console.log(`| operation | local gdb (ptrace) | ${hasGdbserver ? "gdbserver | " : ""}torov debug | torov vs gdbserver (rate) | torov vs local gdb (rate) |`);
  console.log(`|---|---|${hasGdbserver ? "---|" : ""}---|---|---|`);
  for (const [label, op] of [["`stepi`", "step"], ["breakpoint hit + continue", "hit"]] as const) {
    for (const phase of ["cold", "warm"] as const) {
      const t = results.torov[op][phase];
      const g = results.gdbserver?.[op][phase];
      const l = results.local[op][phase];
      console.log(`| ${label}, ${phase} | ${f(l)} | ${g ? `${f(g)} | ` : ""}${f(t)} | ${g ? `${(g / t).toFixed(2)}×` : "n/a"} | ${(l / t).toFixed(2)}× |`);
    }
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});

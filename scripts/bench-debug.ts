// npm run bench:debug: how fast GDB steps and hits breakpoints through
// torov debug, against gdbserver and local GDB (ptrace) on the same static
// program, in one run. Each figure is the difference between a long and a
// short session divided by the difference in steps (or hits), so start-up
// (connecting, reading symbols, booting the VM) cancels out.
//
// Usage: npm run bench:debug [-- --rounds N]

import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(__dirname, "../..");
const OUT = join(ROOT, "build", "bench");
const rounds = Number(process.argv[process.argv.indexOf("--rounds") + 1]) || 3;

type Backend = "local" | "gdbserver" | "torov";

function build(): string {
  mkdirSync(OUT, { recursive: true });
  const src = join(ROOT, "scripts", "bench", "loop.c");
  const out = join(OUT, "loop");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) execFileSync("gcc", ["-O1", "-g", "-static", "-o", out, src]);
  return out;
}

/** Starts a server for `program` and returns its port and a stopper. */
async function server(backend: Exclude<Backend, "local">, program: string, manifest: string): Promise<{ port: number; stop: () => void }> {
  const proc =
    backend === "gdbserver"
      ? spawn("gdbserver", ["--once", "127.0.0.1:0", program], { stdio: ["ignore", "ignore", "pipe"] })
      : spawn(process.execPath, [join(ROOT, "bin", "torov.js"), "debug", manifest, "--port", "0"], { stdio: ["ignore", "ignore", "pipe"] });
  let text = "";
  const port = await new Promise<number>((resolvePort, reject) => {
    proc.stderr!.on("data", (d) => {
      text += d;
      const m = /Listening on port (\d+)|GDB can attach on 127\.0\.0\.1:(\d+)/.exec(text);
      if (m) resolvePort(Number(m[1] ?? m[2]));
    });
    proc.on("exit", () => reject(new Error(`${backend} exited: ${text}`)));
  });
  return { port, stop: () => proc.kill("SIGKILL") };
}

/** Wall time (ms) of one GDB session doing `work` after stopping in main. */
async function session(backend: Backend, program: string, manifest: string, work: string[]): Promise<number> {
  const setup = ["set confirm off", "set pagination off", "break main"];
  let args: string[];
  let stop = () => {};
  if (backend === "local") {
    args = ["-q", "-nx", "-batch", ...setup.flatMap((c) => ["-ex", c]), "-ex", "run", ...work.flatMap((c) => ["-ex", c]), "-ex", "kill", program];
  } else {
    const s = await server(backend, program, manifest);
    stop = s.stop;
    args = ["-q", "-nx", "-batch", "-ex", "set sysroot /", ...setup.flatMap((c) => ["-ex", c]), "-ex", `target remote 127.0.0.1:${s.port}`, "-ex", "continue", ...work.flatMap((c) => ["-ex", c]), "-ex", "kill", program];
  }
  const t0 = performance.now();
  const r = spawnSync("gdb", args, { encoding: "utf8", timeout: 300_000 });
  const t1 = performance.now();
  stop();
  if (r.status !== 0 || /Cannot|Error|error:/.test(r.stderr)) throw new Error(`${backend}: ${r.stderr}`);
  return t1 - t0;
}

async function perOp(backend: Backend, program: string, manifest: string, make: (n: number) => string[], small: number, large: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const a = await session(backend, program, manifest, make(small));
    const b = await session(backend, program, manifest, make(large));
    samples.push(((b - a) * 1000) / (large - small));
  }
  samples.sort((x, y) => x - y);
  return samples[Math.floor(samples.length / 2)];
}

async function main(): Promise<void> {
  const program = build();
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-debug-"));
  mkdirSync(join(dir, "root"));
  const manifest = join(dir, "loop.json");
  writeFileSync(manifest, JSON.stringify({ Binary: program, MountPoint: "root" }));
  const hasGdbserver = spawnSync("gdbserver", ["--version"]).status === 0;
  const backends: Backend[] = hasGdbserver ? ["local", "gdbserver", "torov"] : ["local", "torov"];
  const steps = (n: number) => [`stepi ${n}`];
  const hits = (n: number) => ["break hit", `ignore 2 ${n}`, "continue"];
  const results: Record<string, { step: number; hit: number }> = {};
  try {
    for (const b of backends) {
      results[b] = {
        step: await perOp(b, program, manifest, steps, 100, 1100),
        hit: await perOp(b, program, manifest, hits, 100, 1100),
      };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const f = (us: number) => `${us.toFixed(0)} µs (${Math.round(1e6 / us)}/s)`;
  const date = new Date().toISOString().slice(0, 10);
  console.log(`torov debugger benchmark, ${date}: gdb ${/[\d.]+$/.exec(execFileSync("gdb", ["--version"], { encoding: "utf8" }).split("\n")[0])?.[0]}; medians of ${rounds} rounds, each 1000 operations\n`);
  console.log(`| operation | local gdb (ptrace) | ${hasGdbserver ? "gdbserver | " : ""}torov debug | torov vs gdbserver |`);
  console.log(`|---|---|${hasGdbserver ? "---|" : ""}---|---|`);
  for (const [label, key] of [["`stepi`", "step"], ["breakpoint hit + continue", "hit"]] as const) {
    const t = results.torov[key];
    const g = results.gdbserver?.[key];
    console.log(`| ${label} | ${f(results.local[key])} | ${g ? `${f(g)} | ` : ""}${f(t)} | ${g ? `${(g / t).toFixed(2)}x the rate` : "n/a"} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// npm run bench: the figures in README's table, all measured in one run
// against baselines measured in the same run (absolute times on shared
// machines are noisy; ratios much less so).
//
//   (a) raw KVM exit: a CPL-3 guest looping on `out`, nothing done per exit
//   (b) torov's write(2) hypercall latency, measured inside the guest
//   (c) (b) / (a)
//   (d) whole-process `torov run hello` against `node -e 0`: median wall
//       time and peak RSS
//   (e) in-process: VM creation to guest exit, for hello
//
// Usage: npm run bench [-- --runs N] [--json FILE]

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, build, inProcess, machineDescription, median, ROOT, runWhereKvmIs, wholeProcess } from "./bench-common.js";
import { native } from "../src/vmm/native.js";

const RUNS = Number(arg("--runs", "30"));

/** (b): hypercall latency inside the guest, ns per call. */
function guestLatency(program: string, iterations: number): { write: number; getppid: number } {
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-"));
  try {
    mkdirSync(join(dir, "root"));
    const manifest = join(dir, "bench.json");
    writeFileSync(
      manifest,
      JSON.stringify({ Binary: program, MountPoint: "root", Hypercalls: [{ Name: "@basic-io" }, { Name: "@file" }, { Name: "@time" }] }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, "bin", "torov.js"), "run", manifest, String(iterations)], { encoding: "utf8" });
    const write = Number(/write ([\d.]+)/.exec(r.stdout)?.[1]);
    const getppid = Number(/getppid ([\d.]+)/.exec(r.stdout)?.[1]);
    if (r.status !== 0 || !write || !getppid) throw new Error(`hypercall-loop under torov: ${r.stdout}${r.stderr}`);
    return { write, getppid };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Native write(2) latency of the same program, for reference. */
function nativeLatency(program: string, iterations: number): { write: number; getppid: number } {
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-"));
  try {
    const out = execFileSync(program, [String(iterations)], { cwd: dir, encoding: "utf8" });
    return { write: Number(/write ([\d.]+)/.exec(out)![1]), getppid: Number(/getppid ([\d.]+)/.exec(out)![1]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  await runWhereKvmIs();
  const loop = build("hypercall-loop.c", "hypercall-loop", ["-static"]);
  const rusage = build("rusage.c", "rusage", []);
  const hello = join(ROOT, "examples", "hello", "hello.json");
  const iterations = 20000;

  const rawExitUs = median([0, 1, 2].map(() => native().rawExitBenchmark(iterations)));
  const guest = guestLatency(loop, iterations);
  const host = nativeLatency(loop, iterations);
  const whole = wholeProcess(rusage, RUNS, {
    torov: [process.execPath, join(ROOT, "bin", "torov.js"), "run", hello],
    node: [process.execPath, "-e", "0"],
  });
  const vmMs = await inProcess(hello, RUNS);

  const writeUs = guest.write / 1000;
  const ratio = writeUs / rawExitUs;
  const wallRatio = whole.torov.ms / whole.node.ms;
  const rssMiB = (whole.torov.rssKiB - whole.node.rssKiB) / 1024;
  const f = (n: number, d = 2) => n.toFixed(d);
  const ok = (good: boolean) => (good ? "yes" : "**no**");
  const rows = [
    ["(a) raw KVM exit: CPL-3 guest looping on `out`", `${f(rawExitUs)} µs`, "baseline", ""],
    ["(b) `write(2)` hypercall, measured in the guest", `${f(writeUs)} µs`, "", ""],
    ["(c) (b) / (a)", f(ratio, 3), "≤ 1.3 (aim 1.1)", ok(ratio <= 1.3)],
    ["    `getppid(2)` (emulated) in the guest", `${f(guest.getppid / 1000)} µs`, "", ""],
    ["    native `write(2)` / `getppid(2)` on the host", `${f(host.write / 1000, 3)} / ${f(host.getppid / 1000, 3)} µs`, "", ""],
    ["(d) `torov run hello`, median wall time", `${f(whole.torov.ms, 1)} ms`, "", ""],
    ["    `node -e 0`, median wall time", `${f(whole.node.ms, 1)} ms`, "", ""],
    ["    ratio", f(wallRatio), "≤ 1.5", ok(wallRatio <= 1.5)],
    ["    peak RSS, torov run hello / node -e 0", `${f(whole.torov.rssKiB / 1024, 1)} / ${f(whole.node.rssKiB / 1024, 1)} MiB (+${f(rssMiB, 1)})`, "≤ +12 MiB", ok(rssMiB <= 12)],
    ["(e) in-process, VM creation to guest exit (hello)", `${f(vmMs)} ms`, "≤ 2 ms", ok(vmMs <= 2)],
  ];
  const date = new Date().toISOString().slice(0, 10);
  console.log(`torov benchmark, ${date}: ${machineDescription()}; medians of ${RUNS} runs\n`);
  console.log("| measure | result | target | met |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  const json = arg("--json", "");
  if (json)
    writeFileSync(json, JSON.stringify({ date, machine: machineDescription(), runs: RUNS, rawExitUs, guest, host, whole, vmMs }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

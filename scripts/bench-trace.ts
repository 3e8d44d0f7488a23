// npm run bench:trace: what tracing costs per hypercall. The same write(2)
// loop (one byte to /dev/null, timed inside the program) runs as a VM
// untraced, traced to a file, and traced with -c, and natively with and
// without strace, interleaved, in one run; medians per configuration.
//
// Usage: npm run bench:trace [-- --rounds N] [--iterations N]

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, build, machineDescription, median, runWhereKvmIs, TOROV } from "./bench-common.js";

const rounds = Number(arg("--rounds", "5"));
const iterations = Number(arg("--iterations", "20000"));

/** µs per write(2), as the loop program reports it. */
function measure(command: string[], cwd: string): number {
  const r = spawnSync(command[0], command.slice(1), { cwd, encoding: "utf8" });
  const ns = Number(/write ([\d.]+)/.exec(r.stdout)?.[1]);
  if (r.status !== 0 || !ns) throw new Error(`${command.join(" ")}: ${r.stdout}${r.stderr}`);
  return ns / 1000;
}

async function main(): Promise<void> {
  await runWhereKvmIs();
  const loop = build("hypercall-loop.c", "hypercall-loop", ["-static"]);
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-trace-"));
  const root = join(dir, "root");
  mkdirSync(root);
  const manifest = join(dir, "loop.json");
  writeFileSync(manifest, JSON.stringify({ Binary: loop, MountPoint: "root", Hypercalls: [{ Name: "@basic-io" }, { Name: "@file" }, { Name: "@time" }] }));
  const n = String(iterations);
  const hasStrace = spawnSync("strace", ["-V"]).status === 0;
  const configs: Array<[string, string[]]> = [
    ["torov run (untraced)", [process.execPath, TOROV, "run", manifest, n]],
    ["torov trace -o FILE", [process.execPath, TOROV, "trace", "-o", join(dir, "trace.txt"), manifest, "--", n]],
    ["torov trace -c", [process.execPath, TOROV, "trace", "-c", "-o", join(dir, "summary.txt"), manifest, "--", n]],
    ["torov trace --json -o FILE", [process.execPath, TOROV, "trace", "--json", "-o", join(dir, "trace.json"), manifest, "--", n]],
    ["native (no tracer)", [loop, n]],
    ...(hasStrace
      ? ([
          ["strace -o FILE, native", ["strace", "-o", join(dir, "strace.txt"), loop, n]],
          ["strace -c, native", ["strace", "-c", "-o", join(dir, "strace-c.txt"), loop, n]],
        ] as Array<[string, string[]]>)
      : []),
  ];
  const samples = new Map<string, number[]>(configs.map(([name]) => [name, []]));
  try {
    for (let i = 0; i < rounds; i++) for (const [name, command] of configs) samples.get(name)!.push(measure(command, root));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const us = (name: string) => median(samples.get(name)!);
  const vm = us("torov run (untraced)");
  const host = us("native (no tracer)");
  const date = new Date().toISOString().slice(0, 10);
  console.log(`torov trace benchmark, ${date}: ${machineDescription()}; write(2) of 1 byte to /dev/null, ${iterations} per run, medians of ${rounds} runs\n`);
  console.log("| configuration | µs per call | added by the tracer | target |\n|---|---|---|---|");
  for (const [name] of configs) {
    const t = us(name);
    const torov = name.startsWith("torov");
    const added = name.includes("untraced") || name.startsWith("native") ? "" : `${(t - (torov ? vm : host)).toFixed(2)} µs`;
    const target = torov && added ? (t - vm <= 1 ? "≤ 1 µs: yes" : "≤ 1 µs: **no**") : "";
    console.log(`| ${name} | ${t.toFixed(2)} | ${added} | ${target} |`);
  }
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});

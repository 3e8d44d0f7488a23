// npm run bench:processes: what a guest process costs (issue 19), against
// baselines measured in the same run, rounds interleaved:
//
//   (a) raw KVM exit: a CPL-3 guest looping on `out` (as in npm run bench)
//   (p) fork + _exit + waitpid (test/guests/forkbench.c) with 1 MiB and
//       with 256 MiB of heap touched, under torov and natively: each fork
//       makes a VM whose memory is a copy of the pages its parent has
//   (v) vfork + _exit + waitpid, the same way
//
// Medians, with the spread (min–max) across rounds.
//
// Usage: npm run bench:processes [-- --rounds N] [--forks N] [--json FILE]

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, machineDescription, median, ROOT, runWhereKvmIs, TOROV } from "./bench-common.js";
import { native } from "../src/vmm/native.js";

const ROUNDS = Number(arg("--rounds", "5"));
const FORKS = Number(arg("--forks", "50"));
const SIZES = [1, 256];

/** Runs `command` (in `cwd`) and returns its "name value" lines as numbers. */
function figures(command: string[], cwd: string): Record<string, number> {
  const r = spawnSync(command[0], command.slice(1), { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${command.join(" ")} exited ${r.status ?? r.signal}: ${r.stdout}${r.stderr}`);
  const out: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/^([\w-]+) ([\d.]+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

interface Stat {
  median: number;
  min: number;
  max: number;
}
const stat = (xs: number[]): Stat => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

async function main(): Promise<void> {
  await runWhereKvmIs();
  execFileSync("make", ["-s", "-C", join(ROOT, "test", "guests"), "out/forkbench"], { stdio: "inherit" });
  const binary = join(ROOT, "test", "guests", "out", "forkbench");
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-processes-"));
  const root = join(dir, "root");
  mkdirSync(root);
  const manifest = join(dir, "forkbench.json");
  // Room for 256 MiB of heap and the copy's own.
  writeFileSync(manifest, JSON.stringify({ Binary: binary, MountPoint: "root", Memory: 512, Hypercalls: [{ Name: "@process" }, { Name: "@memory" }, { Name: "@time" }] }));

  const samples = new Map<string, number[]>();
  const add = (name: string, x: number) => (samples.get(name) ?? samples.set(name, []).get(name)!).push(x);
  try {
    for (let i = 0; i < ROUNDS; i++) {
      add("rawExitUs", native().rawExitBenchmark(20000));
      for (const mib of SIZES)
        for (const [where, command] of [
          ["torov", [process.execPath, TOROV, "run", manifest, String(mib), String(FORKS)]],
          ["native", [binary, String(mib), String(FORKS)]],
        ] as Array<[string, string[]]>) {
          const f = figures(command, root);
          add(`${where} fork ${mib}`, f.fork);
          add(`${where} vfork ${mib}`, f.vfork);
        }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const x = (name: string, i: number) => samples.get(name)![i];
  const per = (fn: (i: number) => number) => stat(Array.from({ length: ROUNDS }, (_, i) => fn(i)));
  const fmt = (v: Stat, d: number, unit = "") => `${v.median.toFixed(d)}${unit} (${v.min.toFixed(d)}–${v.max.toFixed(d)})`;
  const rows: string[][] = [["(a) raw KVM exit: CPL-3 guest looping on `out`", fmt(stat(samples.get("rawExitUs")!), 2, " µs"), "", "baseline"]];
  for (const [kind, label] of [
    ["fork", "(p) fork + _exit + waitpid"],
    ["vfork", "(v) vfork + _exit + waitpid"],
  ])
    for (const mib of SIZES) {
      const k = `${kind} ${mib}`;
      rows.push([`${label}, ${mib} MiB touched`, fmt(per((i) => x(`torov ${k}`, i)), 0, " µs"), fmt(per((i) => x(`native ${k}`, i)), 0, " µs"), ""]);
      rows.push(["    torov ÷ native / in raw exits", fmt(per((i) => x(`torov ${k}`, i) / x(`native ${k}`, i)), 1, "×"), fmt(per((i) => x(`torov ${k}`, i) / x("rawExitUs", i)), 0), ""]);
    }

  const date = new Date().toISOString().slice(0, 10);
  console.log(`torov processes benchmark, ${date}: ${machineDescription()}; ${FORKS} forks per run; medians (min–max) of ${ROUNDS} rounds\n`);
  console.log("| measure | torov | native | note |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  const json = arg("--json", "");
  if (json) writeFileSync(json, JSON.stringify({ date, machine: machineDescription(), rounds: ROUNDS, forks: FORKS, samples: Object.fromEntries(samples) }, null, 2));
}

main().catch((e) => {
  console.error(`torov bench: ${(e as Error).message}`);
  process.exit(1);
});

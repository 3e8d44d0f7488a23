// npm run bench:threads: what guest threads cost (issue 11), against
// baselines measured in the same run, rounds interleaved:
//
//   (a) raw KVM exit: a CPL-3 guest looping on `out` (as in npm run bench)
//   (f) futex ping-pong (test/guests/futex-pingpong.c): two threads bounce
//       a token with raw FUTEX_WAKE/FUTEX_WAIT; ns per round trip under
//       torov and natively, and in raw exits. Two loops: as written (a
//       thread waits only if the token is not back yet) and "handoff" (one
//       futex call that wakes no one before each pass, so that every pass
//       wakes a sleeper); from the second, what the two wake-ups of a round
//       trip cost beyond those two calls
//   (g) parallel speed-up (test/guests/spin.c): a fixed amount of integer
//       work, no system calls in the loop, over 1, 2 (and 4 when the host
//       has 4 CPUs) threads; time(1) / time(T) under torov and natively,
//       and torov's time against native's for each T
//
// Medians, with the spread (min–max) across rounds: thread timings on a
// shared machine move a lot more than single-threaded ones.
//
// Usage: npm run bench:threads [-- --rounds N] [--iterations N] [--work MILLIONS] [--json FILE]

import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { arg, machineDescription, median, ROOT, runWhereKvmIs, TOROV } from "./bench-common.js";
import { native } from "../src/vmm/native.js";

const ROUNDS = Number(arg("--rounds", "7"));
const ITERATIONS = Number(arg("--iterations", "2000"));
const WORK = Number(arg("--work", "256"));
const THREADS = [1, 2, ...(availableParallelism() >= 4 ? [4] : [])];

/** The guests, built by test/guests/Makefile (glibc, -static). */
function guests(): { pingpong: string; spin: string } {
  execFileSync("make", ["-s", "-C", join(ROOT, "test", "guests"), "out/futex-pingpong", "out/spin"], { stdio: "inherit" });
  const out = join(ROOT, "test", "guests", "out");
  return { pingpong: join(out, "futex-pingpong"), spin: join(out, "spin") };
}

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
  const { pingpong, spin } = guests();
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-threads-"));
  const root = join(dir, "root");
  mkdirSync(root);
  const manifest = (binary: string, name: string) => {
    const path = join(dir, `${name}.json`);
    const hypercalls = ["@basic-io", "@time", "@process", "@memory", "@signal"].map((Name) => ({ Name }));
    writeFileSync(path, JSON.stringify({ Binary: binary, MountPoint: "root", Hypercalls: hypercalls }));
    return path;
  };
  const vmPingpong = manifest(pingpong, "futex-pingpong");
  const vmSpin = manifest(spin, "spin");
  const n = String(ITERATIONS);

  const samples = new Map<string, number[]>();
  const add = (name: string, x: number) => (samples.get(name) ?? samples.set(name, []).get(name)!).push(x);
  const checksums = new Set<string>();
  try {
    for (let i = 0; i < ROUNDS; i++) {
      add("rawExitUs", native().rawExitBenchmark(20000));
      for (const [where, command] of [
        ["torov", [process.execPath, TOROV, "run", vmPingpong, n]],
        ["native", [pingpong, n]],
      ] as Array<[string, string[]]>) {
        const f = figures(command, root);
        for (const k of ["roundtrip", "waits", "handoff", "handoff-eagain", "wake-alone"]) add(`${where} ${k}`, f[k]);
        checksums.add(`pingpong ${f.checksum}`);
      }
      for (const t of THREADS)
        for (const [where, command] of [
          ["torov", [process.execPath, TOROV, "run", vmSpin, String(t), String(WORK)]],
          ["native", [spin, String(t), String(WORK)]],
        ] as Array<[string, string[]]>) {
          const f = figures(command, root);
          add(`${where} spin ${t}`, f.ms);
          checksums.add(`spin ${f.checksum}`);
        }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The same program prints the same checksum everywhere, whatever T.
  if (checksums.size !== 2) throw new Error(`the runs disagree: ${[...checksums].join(", ")}`);

  const s = (name: string) => stat(samples.get(name)!);
  /** A derived figure per round (the rounds' own baselines), then its median and spread. */
  const per = (fn: (i: number) => number) => stat(Array.from({ length: ROUNDS }, (_, i) => fn(i)));
  const x = (name: string, i: number) => samples.get(name)![i];
  const raw = s("rawExitUs");
  const us = (where: string, k: string, i: number) => x(`${where} ${k}`, i) / 1000;

  const fmt = (v: Stat, d: number, unit = "") => `${v.median.toFixed(d)}${unit} (${v.min.toFixed(d)}–${v.max.toFixed(d)})`;
  const rows: string[][] = [["(a) raw KVM exit: CPL-3 guest looping on `out`", fmt(raw, 2, " µs"), "", "baseline"]];
  for (const [k, label] of [
    ["roundtrip", "(f) futex ping-pong, round trip"],
    ["handoff", "    handoff (every pass wakes a sleeper), round trip"],
    ["wake-alone", "    FUTEX_WAKE with no waiter"],
  ]) {
    rows.push([label, fmt(per((i) => us("torov", k, i)), 2, " µs"), fmt(per((i) => us("native", k, i)), 2, " µs"), ""]);
    rows.push([
      "    torov in raw exits / torov ÷ native",
      fmt(per((i) => us("torov", k, i) / x("rawExitUs", i)), 2),
      fmt(per((i) => us("torov", k, i) / us("native", k, i)), 1, "×"),
      "",
    ]);
  }
  rows.push(["    FUTEX_WAITs per round trip, as written / handoff", `${fmt(s("torov waits"), 2)} / ${fmt(s("torov handoff-eagain"), 3)} EAGAIN`, `${fmt(s("native waits"), 2)} / ${fmt(s("native handoff-eagain"), 3)} EAGAIN`, ""]);
  rows.push([
    "    handoff − 2 wake-alones: two wake-ups, in raw exits",
    fmt(per((i) => (us("torov", "handoff", i) - 2 * us("torov", "wake-alone", i)) / x("rawExitUs", i)), 2),
    fmt(per((i) => us("native", "handoff", i) - 2 * us("native", "wake-alone", i)), 2, " µs"),
    "ideal ~2 exits + 2 host wake-ups",
  ]);
  for (const t of THREADS) {
    rows.push([
      `(g) CPU-bound work (${WORK}M mixes), ${t} thread${t > 1 ? "s" : ""}`,
      fmt(per((i) => x(`torov spin ${t}`, i)), 1, " ms"),
      fmt(per((i) => x(`native spin ${t}`, i)), 1, " ms"),
      "",
    ]);
    rows.push(["    torov ÷ native", fmt(per((i) => x(`torov spin ${t}`, i) / x(`native spin ${t}`, i)), 3), "", "~1"]);
    if (t > 1)
      rows.push([
        `    speed-up, time(1) / time(${t})`,
        fmt(per((i) => x("torov spin 1", i) / x(`torov spin ${t}`, i)), 2, "×"),
        fmt(per((i) => x("native spin 1", i) / x(`native spin ${t}`, i)), 2, "×"),
        `~${t}×`,
      ]);
  }

  const date = new Date().toISOString().slice(0, 10);
  console.log(
    `torov threads benchmark, ${date}: ${machineDescription()}; ping-pong ${ITERATIONS} round trips per run; medians (min–max) of ${ROUNDS} rounds\n`,
  );
  console.log("| measure | torov | native | note |\n|---|---|---|---|");
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  const json = arg("--json", "");
  if (json)
    writeFileSync(
      json,
      JSON.stringify({ date, machine: machineDescription(), rounds: ROUNDS, iterations: ITERATIONS, work: WORK, samples: Object.fromEntries(samples) }, null, 2),
    );
}

main().catch((e) => {
  console.error((e as Error).message);
  process.exit(1);
});

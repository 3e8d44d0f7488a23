// Helpers the benchmarks share: building their programs from
// scripts/bench/, medians, and describing the machine.

import { execFileSync, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { flavourName, hostHypervisor } from "../src/vmm/flavour.js";
import { kvmDevice } from "../src/vmm/kvm-device.js";
import { Machine } from "../src/vmm/machine.js";
import { loadManifest } from "../src/vmm/manifest.js";
import { native } from "../src/vmm/native.js";

export const ROOT = resolve(__dirname, "../..");
export const OUT = join(ROOT, "build", "bench");
export const TOROV = join(ROOT, "bin", "torov.js");

/** The value after a command-line flag, or `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Builds a program from scripts/bench/ unless it is up to date. */
export function build(source: string, output: string, flags: string[]): string {
  mkdirSync(OUT, { recursive: true });
  const src = join(ROOT, "scripts", "bench", source);
  const out = join(OUT, output);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) execFileSync("gcc", ["-O2", ...flags, "-o", out, src], { stdio: "inherit" });
  return out;
}

export function machineDescription(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const kernel = readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  const info = native().kvmInfo();
  const emulated = hostHypervisor(info)?.emulator ? " (emulated: absolute times mean little, ratios something)" : "";
  return `${cpu}, ${cpus().length} vCPUs, Linux ${kernel}, KVM: ${flavourName(info)}${emulated}, Node ${process.version}`;
}

/**
 * Benchmarks run where KVM is, as the VM tests do: here when /dev/kvm is
 * usable, else inside test/harness's guest (AMD-V under QEMU's software
 * CPU). In the second case this reruns the same command there, passes its
 * output on and exits with its status; it returns only to run here.
 * TOROV_TEST_VM=nested|here chooses.
 */
export async function runWhereKvmIs(): Promise<void> {
  const forced = process.env.TOROV_TEST_VM;
  if (process.env.TOROV_NESTED || forced === "here") return;
  if (forced !== "nested") {
    if (kvmDevice().usable) return;
  }
  const harness = join(ROOT, "test", "harness", "run-in-kvm.mjs");
  const { runInKvm, HarnessError } = await import(harness);
  console.log("torov bench: running in test/harness's guest, where there is KVM (emulated AMD-V)");
  try {
    process.exit(await runInKvm([process.execPath, ...process.argv.slice(1)], { cwd: ROOT }));
  } catch (e) {
    if (!(e instanceof HarnessError)) throw e;
    console.error(`torov bench: torov nested: ${(e as Error).message}`);
    process.exit((e as { status?: number }).status ?? 125);
  }
}

/** Whole-process wall time (ms) and peak RSS (KiB) of each command under scripts/bench/rusage, medians, runs interleaved. */
export function wholeProcess(rusage: string, runs: number, commands: Record<string, string[]>): Record<string, { ms: number; rssKiB: number }> {
  const samples: Record<string, { ms: number[]; rss: number[] }> = {};
  for (const name of Object.keys(commands)) samples[name] = { ms: [], rss: [] };
  for (let i = 0; i < runs + 3; i++) {
    for (const [name, cmd] of Object.entries(commands)) {
      const r = spawnSync(rusage, cmd, { encoding: "utf8", cwd: ROOT });
      const [ns, rss, status] = r.stderr.trim().split("\n").pop()!.split(" ").map(Number);
      if (status !== 0) throw new Error(`${cmd.join(" ")} exited ${status}: ${r.stderr}`);
      if (i < 3) continue; // warm-up
      samples[name].ms.push(ns / 1e6);
      samples[name].rss.push(rss);
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([n, s]) => [n, { ms: median(s.ms), rssKiB: median(s.rss) }]));
}

/** In-process time from VM creation to guest exit, ms (median). */
export async function inProcess(manifestPath: string, runs: number): Promise<number> {
  const manifest = loadManifest(manifestPath);
  const devnull = openSync("/dev/null", "w");
  const times: number[] = [];
  try {
    for (let i = 0; i < runs + 3; i++) {
      const t0 = performance.now();
      const r = await new Machine(manifest, { stdio: [-1, devnull, devnull] }).start();
      const t1 = performance.now();
      if (r.status !== 0) throw new Error(`${manifestPath} exited ${r.status}`);
      if (i >= 3) times.push(t1 - t0);
    }
  } finally {
    closeSync(devnull);
  }
  return median(times);
}

// Helpers the benchmarks share: building their programs from
// scripts/bench/, medians, and describing the machine.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
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
  return `${cpu}, ${cpus().length} vCPUs, Linux ${kernel}, KVM ${native().kvmInfo().flavour}, Node ${process.version}`;
}

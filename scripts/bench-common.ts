// Helpers the benchmarks share: building their programs from
// scripts/bench/, medians, and describing the machine.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { flavourName, hostHypervisor } from "../src/vmm/flavour.js";
import { kvmDevice } from "../src/vmm/kvm-device.js";
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

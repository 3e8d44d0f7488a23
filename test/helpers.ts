// Shared set-up for the tests: where things are, temporary folders, and
// running torov (or a program natively) as a user would.

import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { constants, tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(__dirname, "../..");
export const BIN = join(ROOT, "bin", "torov.js");
export const GUESTS = join(ROOT, "test", "guests", "out");
export const EXAMPLES = join(ROOT, "examples");

export const guest = (name: string) => join(GUESTS, name);

/**
 * How many times slower than a host with KVM this machine runs the tests: 1,
 * or more inside test/harness's emulated guest (which sets TOROV_NESTED).
 * Only the time limits that tell a hang from a slow run, and the pauses that
 * wait for a program to get somewhere, are multiplied by it: no test measures
 * speed. TOROV_TEST_TIME_SCALE overrides it.
 */
export const TIME_SCALE = Number(process.env.TOROV_TEST_TIME_SCALE) || (process.env.TOROV_NESTED ? 8 : 1);
/** `ms` milliseconds on a host with KVM, as long as this machine needs. */
export const scaled = (ms: number) => ms * TIME_SCALE;
export const hasMusl = () => existsSync(guest("args.musl"));

/** The build variants of a test guest that exist (glibc, static-pie, musl). */
export function variants(name: string): string[] {
  return [name, `${name}.pie`, `${name}.musl`].filter((v) => existsSync(guest(v)));
}

const temps: string[] = [];
export function tempDir(prefix = "torov-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}
process.on("exit", () => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

export interface ManifestSpec {
  binary: string;
  mountPoint?: string | null;
  hypercalls?: Array<{ Name: string; Allowed?: boolean | string }>;
  args?: string[];
  env?: Record<string, string>;
  extra?: Record<string, unknown>;
}

/** Writes a manifest into `dir` (a fresh MountPoint folder "root" unless given) and returns its path. */
export function writeManifest(dir: string, spec: ManifestSpec, name = "app.json"): string {
  const m: Record<string, unknown> = { Binary: spec.binary };
  if (spec.mountPoint !== null) m.MountPoint = spec.mountPoint ?? "root";
  m.Hypercalls = spec.hypercalls ?? [{ Name: "*", Allowed: true }];
  if (spec.args) m.Args = spec.args;
  if (spec.env) m.Env = spec.env;
  Object.assign(m, spec.extra ?? {});
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(m, null, 2));
  return path;
}

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

/** The status a shell reports: the exit code, or 128 + the killing signal. */
function ran(r: SpawnSyncReturns<string>): Ran {
  if (r.error) throw r.error;
  const status = r.status ?? 128 + (r.signal ? constants.signals[r.signal] : 0);
  return { status, stdout: r.stdout, stderr: r.stderr };
}

/** `torov ARGS...`, as a user runs it. */
export function torov(args: string[], opts: { input?: string; cwd?: string; timeout?: number; env?: Record<string, string> } = {}): Ran {
  return ran(
    spawnSync(process.execPath, [BIN, ...args], {
      encoding: "utf8",
      input: opts.input ?? "",
      cwd: opts.cwd ?? ROOT,
      timeout: scaled(opts.timeout ?? 60_000),
      env: { ...process.env, FORCE_COLOR: "0", ...opts.env },
    }),
  );
}

/** A program run natively with exactly `env`, for comparison. */
export function native(binary: string, args: string[], opts: { cwd: string; env?: Record<string, string>; input?: string }): Ran {
  const r = spawnSync(binary, args, {
    encoding: "utf8",
    input: opts.input ?? "",
    cwd: opts.cwd,
    env: opts.env ?? {},
    timeout: scaled(60_000),
    argv0: binary.split("/").pop(),
  });
  return ran(r);
}

/** Starts `torov ARGS...` in the background. */
export function torovSpawn(args: string[]) {
  return spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0" } });
}

/**
 * Starts `torov run MANIFEST` and waits until its stdout has a line
 * matching `line` (or it ends): for tests that look at the monitor while
 * the guest waits. `output` keeps growing; `exited` is the exit's
 * [code, signal]; a run that never ends is killed after a minute.
 */
export async function runUntil(manifest: string, line: RegExp) {
  const child = torovSpawn(["run", manifest]);
  const output = { stdout: "", stderr: "" };
  child.stderr.on("data", (d) => (output.stderr += d));
  let reached!: () => void;
  const reachedLine = new Promise<void>((r) => (reached = r));
  child.stdout.on("data", (d) => {
    output.stdout += d;
    if (line.test(output.stdout)) reached();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), scaled(60_000));
  const exited = once(child, "exit").then((r) => (clearTimeout(timer), r as [number | null, NodeJS.Signals | null]));
  await Promise.race([reachedLine, exited]);
  return { child, output, exited };
}

/** The lines "what: result" of a guest's report (test/guests/report.h), by what. */
export function reportLines(stdout: string): Map<string, string> {
  const lines = new Map<string, string>();
  for (const l of stdout.split("\n")) {
    const i = l.lastIndexOf(": ");
    if (i > 0) lines.set(l.slice(0, i), l.slice(i + 2));
  }
  return lines;
}

/** A FIFO opened both ways: a read end that blocks until written, like a pipe. */
export function blockingPipe(): { readFd: number; writeFd: number } {
  const path = join(tempDir(), "fifo");
  const r = spawnSync("mkfifo", [path]);
  if (r.status !== 0) throw new Error("mkfifo failed");
  const readFd = openSync(path, "r+");
  const writeFd = openSync(path, "w");
  return { readFd, writeFd };
}

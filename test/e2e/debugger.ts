// Helpers for the debugger tests: torov debug on a free port, real GDB in
// batch mode or over MI (gdb-js, as VS Code drives it), and a raw client.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { BIN, ROOT, guest, scaled, tempDir, writeManifest, type ManifestSpec } from "../helpers.js";

export interface Debuggee {
  proc: ChildProcess;
  port: number;
  /** Everything torov debug wrote, once it has exited, and its status. */
  done: Promise<{ status: number; stdout: string; stderr: string }>;
}

/** A manifest for a test guest in a fresh folder with an empty MountPoint. */
export function debugManifest(name: string, spec: Partial<ManifestSpec> = {}): string {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  return writeManifest(dir, { binary: guest(name), ...spec });
}

/** Starts `torov debug MANIFEST --port 0 OPTIONS -- ARGS` and waits until it listens. */
export async function startDebug(manifest: string, options: string[] = [], args: string[] = [], input?: string): Promise<Debuggee> {
  const proc = spawn(process.execPath, [BIN, "debug", manifest, "--port", "0", ...options, ...(args.length ? ["--", ...args] : [])], {
    cwd: ROOT,
    env: { ...process.env, FORCE_COLOR: "0" },
  });
  let stdout = "";
  let stderr = "";
  proc.stdout!.on("data", (d) => (stdout += d));
  const done = new Promise<{ status: number; stdout: string; stderr: string }>((resolve) =>
    proc.on("exit", (code, signal) => resolve({ status: code ?? 128, stdout, stderr: stderr + (signal ? `[killed by ${signal}]` : "") })),
  );
  if (input !== undefined) proc.stdin!.end(input);
  const port = await new Promise<number>((resolve, reject) => {
    proc.stderr!.on("data", (d) => {
      stderr += d;
      const m = /GDB can attach on 127\.0\.0\.1:(\d+)/.exec(stderr);
      if (m) resolve(Number(m[1]));
    });
    proc.on("exit", () => reject(new Error(`torov debug exited before listening:\n${stderr}`)));
  });
  return { proc, port, done };
}

/** gdb -batch with these commands against the stub (no local file: all from the target). */
export function gdbBatch(port: number, commands: string[], before: string[] = []): { status: number; output: string } {
  const args = ["-q", "-nx", "-batch", ...before.flatMap((c) => ["-ex", c]), "-ex", "set confirm off", "-ex", REMOTE_TIMEOUT, "-ex", `target remote 127.0.0.1:${port}`, ...commands.flatMap((c) => ["-ex", c])];
  const r = spawnSync("gdb", args, { encoding: "utf8", timeout: scaled(60_000) });
  return { status: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** GDB waits 2 s for each reply by default: longer where everything is slower (TIME_SCALE). */
export const REMOTE_TIMEOUT = `set remotetimeout ${Math.round(scaled(2000) / 1000)}`;

/** Starts `gdbserver --once` on a free port for `binary args` run natively; resolves with the port. */
export function startGdbserver(binary: string, args: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const server = spawn("gdbserver", ["--once", "127.0.0.1:0", binary, ...args], { stdio: ["ignore", "pipe", "pipe"], env });
  let banner = "";
  return new Promise<number>((resolve, reject) => {
    server.stderr!.on("data", (d) => {
      banner += d;
      const m = /Listening on port (\d+)/.exec(banner);
      if (m) resolve(Number(m[1]));
    });
    server.on("exit", () => reject(new Error(banner)));
  });
}

export const hasGdb = () => spawnSync("gdb", ["--version"]).status === 0;
export const hasLldb = () => spawnSync("lldb", ["--version"]).status === 0;

// ---- GDB/MI through gdb-js, with the two shims it needs on modern Node.

export interface MiEvent {
  reason?: string;
  [key: string]: unknown;
}

export class Mi {
  readonly child: ChildProcess;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly gdb: any;
  private stops: MiEvent[] = [];
  private waiters: Array<(e: MiEvent) => void> = [];

  constructor(extra: string[] = []) {
    require("regenerator-runtime/runtime");
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { GDB } = require("gdb-js");
    this.child = spawn("gdb", ["-q", "-nx", "-i=mi", "-ex", REMOTE_TIMEOUT, ...extra]);
    const child = this.child;
    // gdb-js passes { binary: true } to write(), which Node rejects.
    const proc = { stdin: { write: (s: string) => child.stdin!.write(s) }, stdout: child.stdout, stderr: child.stderr, on: child.on.bind(child), kill: () => child.kill() };
    this.gdb = new GDB(proc);
    // The raw *stopped record (gdb-js's own "stopped" event drops fields
    // such as signal-name).
    this.gdb.on("exec", (rec: { state: string; data: MiEvent }) => {
      if (rec.state !== "stopped") return;
      const w = this.waiters.shift();
      if (w) w(rec.data);
      else this.stops.push(rec.data);
    });
  }

  /** An MI command's result record (throws on ^error, and when GDB does not answer in time). */
  cmd(command: string, timeoutMs = scaled(30_000)): Promise<Record<string, unknown>> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`gdb did not answer ${command}`)), timeoutMs);
    });
    return Promise.race([this.gdb.execMI(command) as Promise<Record<string, unknown>>, late]).finally(() => clearTimeout(timer));
  }

  /** The next *stopped event. */
  stopped(timeoutMs = scaled(20_000)): Promise<MiEvent> {
    const queued = this.stops.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("no *stopped event")), timeoutMs);
      this.waiters.push((e) => {
        clearTimeout(t);
        resolve(e);
      });
    });
  }

  close(): void {
    this.child.kill("SIGKILL");
  }
}

/** A raw protocol client, for what GDB never sends. */
export function rawClient(port: number): Promise<{ socket: Socket; received: () => string; send: (s: string | Buffer) => void }> {
  return new Promise((resolve, reject) => {
    let data = "";
    const socket = connect(port, "127.0.0.1", () => resolve({ socket, received: () => data, send: (s) => socket.write(s) }));
    socket.on("data", (d) => (data += d.toString("latin1")));
    socket.on("error", reject);
  });
}

/** $payload#checksum */
export function packet(payload: string): string {
  let sum = 0;
  for (const c of Buffer.from(payload, "latin1")) sum = (sum + c) & 0xff;
  return `$${payload}#${sum.toString(16).padStart(2, "0")}`;
}

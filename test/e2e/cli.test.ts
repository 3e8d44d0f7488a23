// Bad input: one clear line on stderr naming the file and the problem,
// exit status 2, no JavaScript stack, nothing left running.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { createServer } from "node:net";
import { once } from "node:events";
import { BIN, EXAMPLES, guest, scaled, tempDir, torov, torovSpawn, writeManifest } from "../helpers.js";

function expectError(args: string[], message: RegExp) {
  const r = torov(args);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/);
  assert.match(r.stderr.trimEnd(), message);
}

function withBinary(bytes: Buffer | string, name = "prog", extra: Record<string, unknown> = {}): string {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  writeFileSync(join(dir, name), bytes);
  return writeManifest(dir, { binary: name, extra });
}

test("invalid JSON", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "bad.json"), "{ \"Binary\": ");
  expectError(["run", join(dir, "bad.json")], /^torov: .*bad\.json: invalid JSON: .*\(line 1, column \d+\)$/);
});

test("unknown key, unknown hypercall with a suggestion", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  expectError(["run", writeManifest(dir, { binary: guest("args"), extra: { MountPiont: "root" } })], /app\.json: MountPiont: unknown key \(did you mean "MountPoint"\?\)$/);
  expectError(["run", writeManifest(dir, { binary: guest("args"), hypercalls: [{ Name: "Wrte" }] })], /Hypercalls\[0\]\.Name: unknown hypercall "Wrte" \(did you mean "write"\?\)$/);
});

test("missing binary, missing manifest, missing MountPoint", () => {
  const dir = tempDir();
  expectError(["run", writeManifest(dir, { binary: "nothere", mountPoint: null })], /Binary: .*nothere does not exist$/);
  expectError(["run", join(dir, "none.json")], /none\.json: no such file$/);
  expectError(["run", writeManifest(dir, { binary: guest("args"), mountPoint: "absent" })], /MountPoint: .*absent does not exist/);
});

test("files that are not x86-64 static programs", () => {
  expectError(["run", withBinary("#!/bin/sh\necho hi\n")], /prog: not an ELF executable/);
  const elf = readFileSync(guest("args"));
  expectError(["run", withBinary(elf.subarray(0, 100))], /prog: truncated: its program headers run past the end of the file \(100 bytes\)$/);
  expectError(["run", withBinary(elf.subarray(0, 5000))], /prog: truncated: segment \d needs bytes/);
  const c32 = Buffer.from(elf);
  c32[4] = 1;
  expectError(["run", withBinary(c32)], /prog: is a 32-bit ELF program; torov runs x86-64 \(64-bit\) programs$/);
  const arm = Buffer.from(elf);
  arm.writeUInt16LE(183, 0x12);
  expectError(["run", withBinary(arm)], /is an ELF program for 64-bit ARM \(AArch64\)/);
  // A dynamic one whose loader torov may not lend (LendLoader false).
  expectError(["run", withBinary(readFileSync("/bin/true"), "prog", { LendLoader: false })], /prog: its interpreter \/lib64\/ld-linux-x86-64\.so\.2 is not in what the guest sees: it is missing in its MountPoint \(.*\); copy it there with the libraries it loads, or build the program with -static$/);
});

test("a program that does not fit in Memory", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  copyFileSync(guest("args"), join(dir, "prog"));
  // Link addresses far beyond 16 MiB.
  const elf = readFileSync(join(dir, "prog"));
  const phoff = Number(elf.readBigUInt64LE(0x20));
  for (let i = 0; i < elf.readUInt16LE(0x38); i++) {
    const o = phoff + i * 56;
    if (elf.readUInt32LE(o) === 1) elf.writeBigUInt64LE(elf.readBigUInt64LE(o + 16) + 0x4000000n, o + 16);
  }
  writeFileSync(join(dir, "prog"), elf);
  expectError(["run", writeManifest(dir, { binary: "prog", extra: { Memory: 16 } })], /prog: does not fit in Memory \(16 MiB\): .*set "Memory" to at least \d+$/);
});

test("no /dev/kvm, a regular file there, and no permission on it", { skip: process.getuid?.() !== 0 && "needs root to hide /dev/kvm" }, () => {
  const manifest = join(process.cwd(), "examples/hello/hello.json");
  const hidden = spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs none /dev && exec ${process.execPath} ${BIN} run ${manifest}`], { encoding: "utf8" });
  assert.equal(hidden.status, 2);
  assert.match(hidden.stderr, /^torov: \/dev\/kvm does not exist: this machine has no KVM/);
  // Nothing is left at the path by looking for it.
  const after = spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs none /dev && ${process.execPath} ${BIN} run ${manifest}; test ! -e /dev/kvm`], { encoding: "utf8" });
  assert.equal(after.status, 0, "torov run created /dev/kvm");
  // A regular file there (what `exec 3<>/dev/kvm` as root leaves) is named
  // as such, by run and by doctor.
  const file = (cmd: string) => spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs none /dev && : > /dev/kvm && exec ${process.execPath} ${BIN} ${cmd}`], { encoding: "utf8" });
  const run = file(`run ${manifest}`);
  assert.equal(run.status, 2);
  assert.equal(run.stderr, "torov: /dev/kvm is a regular file, not the KVM device: this machine has no KVM (something created it by opening the path; remove it)\n");
  const doctor = file("doctor");
  assert.equal(doctor.status, 1);
  assert.match(doctor.stdout, /^KVM +\/dev\/kvm is a regular file, not the KVM device/m);
  const denied = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, BIN, "run", manifest], { encoding: "utf8" });
  assert.equal(denied.status, 2, denied.stderr);
  assert.match(denied.stderr, /^torov: \/dev\/kvm: permission denied \(add your user to the 'kvm' group, or run as root\)\n$/);
});

test("usage errors exit 2", () => {
  const r = torov(["run"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /missing required argument 'manifest'/);
  assert.equal(torov(["frobnicate"]).status, 2);
  assert.equal(torov(["--help"]).status, 0);
});

test("torov debug with a bad --port or a port in use: one line, status 2, and it ends", async () => {
  const manifest = join(EXAMPLES, "hello", "hello.json");
  const bad = torov(["debug", manifest, "--port", "abc"], { timeout: 20_000 });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, 'torov: --port: "abc" is not a TCP port (0 to 65535)\n');
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  try {
    const r = spawnSync(process.execPath, [BIN, "debug", manifest, "--port", String(port)], { encoding: "utf8", timeout: scaled(20_000) });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `torov: cannot listen for GDB on 127.0.0.1:${port}: the port is in use (try --port)\n`);
  } finally {
    server.close();
  }
});

test("options that cannot go together, and a --dir that does not exist, are refused in one line", () => {
  const manifest = join(EXAMPLES, "hello", "hello.json");
  const both = torov(["debug", manifest, "--stdio", "--gdb"], { timeout: 20_000 });
  assert.equal(both.status, 2);
  assert.match(both.stderr, /^torov: --stdio and --gdb: choose one .*\n$/);
  const port = torov(["debug", manifest, "--stdio", "--port", "1"], { timeout: 20_000 });
  assert.equal(port.status, 2);
  assert.equal(port.stderr, "torov: --stdio speaks on stdin and stdout: --port does not apply\n");
  const missing = join(tempDir(), "not-there");
  const vs = torov(["vscode", manifest, "--dir", missing]);
  assert.equal(vs.status, 2);
  assert.equal(vs.stderr, `torov: --dir: ${missing} is not a folder\n`);
  assert.equal(existsSync(missing), false, "no folder was made");
});

test("a reader that goes away ends torov quietly, with SIGPIPE's status", async () => {
  // The pipe's read end is closed before torov writes a byte: every write fails with EPIPE.
  const closedEnd = async (args: string[], closed: "stdout" | "stderr") => {
    const child = torovSpawn(args);
    child[closed].destroy();
    const other = closed === "stdout" ? child.stderr : child.stdout;
    let said = "";
    other.on("data", (d) => (said += d));
    const [code] = await once(child, "exit");
    return { code, said };
  };
  for (const args of [["doctor"], ["--help"], ["trace", "--help"]]) {
    const r = await closedEnd(args, "stdout");
    assert.equal(r.code, 141, `torov ${args.join(" ")}: ${r.said}`);
    assert.equal(r.said, "", `torov ${args.join(" ")} says nothing on stderr`);
  }
  // The trace goes to stderr; the program's own output still reaches stdout.
  const trace = await closedEnd(["trace", join(EXAMPLES, "hello", "hello.json")], "stderr");
  assert.equal(trace.code, 141);
  assert.doesNotMatch(trace.said, /EPIPE|Error|at /);
});

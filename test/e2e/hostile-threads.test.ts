// A hostile guest with threads (test/guests/hostile-threads.c): one thread
// makes a hypercall while another changes what it names, its memory, its fd
// or its path. The monitor (Node itself) must survive every race and give
// Linux's answers; a lent file stays lent. And the futex corner cases of
// test/guests/futexes.c answer as they do natively.
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, reportLines, tempDir, torov, variants, writeManifest } from "../helpers.js";

/** Seconds each race runs. */
const SECONDS = Number(process.env.TOROV_RACE_SECONDS) || 3;

/** Runs hostile-threads MODE in a fresh MountPoint, from a copy of the binary (it must keep its mode). */
function race(binary: string, mode: string, opts: { memory?: number; deny?: string[]; trace?: boolean; mounts?: boolean } = {}) {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const extra: Record<string, unknown> = opts.memory ? { Memory: opts.memory } : {};
  if (opts.mounts) {
    // A read-only mount and a writable one (test/e2e/mounts.test.ts).
    mkdirSync(join(dir, "ro"));
    mkdirSync(join(dir, "rw"));
    writeFileSync(join(dir, "ro", "f.txt"), "read-only\n");
    writeFileSync(join(dir, "rw", "w.txt"), "writable\n");
    extra.Mounts = [{ Source: "ro", Target: "/ro" }, { Source: "rw", Target: "/rw", ReadOnly: false }];
  }
  symlinkSync("secret-target", join(dir, "root", "lnk"));
  const copy = join(dir, binary);
  copyFileSync(guest(binary), copy);
  const hypercalls = [{ Name: "*", Allowed: true }, ...(opts.deny ?? []).map((Name) => ({ Name, Allowed: false }))];
  const manifest = writeManifest(dir, { binary: copy, hypercalls, extra });
  const args = opts.trace ? ["trace", "-e", "write", "-o", join(dir, "trace.out"), manifest] : ["run", manifest];
  const ran = torov([...args, mode, String(SECONDS)], { timeout: 60_000 + SECONDS * 1000 });
  return { ...ran, dir, lines: reportLines(ran.stdout), mode: statSync(copy).mode & 0o7777 };
}

for (const v of variants("hostile-threads")) {
  test(`${v}: open of a lent file while another thread closes its fd: the monitor survives (was a NULL dereference)`, () => {
    const r = race(v, "open-close");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("open-close"), "1 rounds");
  });

  test(`${v}: fchmod of the fd a lent file is getting, from another thread, is always EPERM (the host's binary keeps its mode)`, () => {
    const r = race(v, "open-fchmod");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("fchmod of the lent file succeeded"), "0");
    assert.equal(r.mode, 0o755);
  });

  test(`${v}: open for writing of a path another thread flips between a read-only and a writable mount: the read-only file never changes`, () => {
    const r = race(v, "mount-swap", { mounts: true });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // Both outcomes happened: the flips landed on both sides.
    assert.equal(r.lines.get("mount-swap opened and wrote"), "yes");
    assert.equal(r.lines.get("mount-swap refused with EROFS"), "yes");
    assert.equal(readFileSync(join(r.dir, "ro", "f.txt"), "utf8"), "read-only\n");
    assert.match(readFileSync(join(r.dir, "rw", "w.txt"), "utf8"), /^Xritable\n$/);
  });

  test(`${v}: F_DUPFD while another thread closes the fd returns an fd that is open`, () => {
    const r = race(v, "dupfd-close");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("F_DUPFD returned a closed fd"), "0");
  });

  test(`${v}: a received fd closed by another thread as it arrives: the monitor survives`, () => {
    const r = race(v, "received-close");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("received-close"), "1 rounds");
  });

  test(`${v}: prctl(PR_SET_NAME) of a page another thread unmaps and maps: EFAULT or ok, never a crash`, () => {
    const r = race(v, "prctl-name");
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("prctl-name"), "1 rounds, other errors 0");
  });

  test(`${v}: mincore into a vector another thread makes read-only and back: the monitor's write holds the pages`, () => {
    const r = race(v, "mincore", { memory: 2048 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("mincore"), "1 rounds, other errors 0");
  });

  test(`${v}: a denied readlink of a path another thread flips to and from /proc/self/exe never reaches the host`, () => {
    const r = race(v, "readlink", { deny: ["readlink", "readlinkat"] });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.lines.get("readlink answered /proc/self/exe"), "yes");
    assert.equal(r.lines.get("readlink denied"), "yes");
    assert.equal(r.lines.get("readlink of a denied path reached the host"), "0");
  });

  // The trace's capture of a buffer another thread unmaps read through a
  // null pointer (Tracer::Capture: UserExtent, then User again) before it
  // held the address space across both.
  test(`${v}: tracing write of a buffer another thread unmaps and maps: the monitor survives`, () => {
    const r = race(v, "trace-write", { trace: true });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
}

for (const v of variants("futexes")) {
  test(`${v}: futex corner cases (wake count 0 and -1, requeue onto itself, CMP_REQUEUE, WAKE_OP shift past 31) answer as natively`, () => {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    const vm = torov(["run", writeManifest(dir, { binary: guest(v) })], { timeout: 30_000 });
    const host = native(guest(v), [], { cwd: tempDir() });
    assert.equal(host.status, 0);
    assert.equal(vm.stdout, host.stdout, vm.stderr);
    assert.equal(vm.status, 0);
  });
}

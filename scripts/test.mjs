#!/usr/bin/env node
// npm test: bring the build up to date (incrementally), build the test
// guests, run the unit tests here and the VM tests (test/e2e, which boot real
// VMs) where there is KVM: here when this host has /dev/kvm, otherwise in
// test/harness's throw-away guests, which have it. The last lines say where the
// VM tests ran, on which KVM flavour, and how many ran, failed and were
// skipped (each skipped one by name, with why).
//
//   npm test [-- NODE_TEST_OPTIONS... [FILES...]]
//
// Files given (dist/test/unit/x.test.js, dist/test/e2e/y.test.js) replace
// the full lists. TOROV_TEST_VM=here|nested forces where the VM tests run
// (nested on a host with KVM tests the AMD-V flavour there too).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { Transform } from "node:stream";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "inherit" });
  if (r.error || r.status !== 0) process.exit(r.status ?? 1);
}

const listed = (dir) =>
  readdirSync(join("dist/test", dir))
    .filter((f) => f.endsWith(".test.js"))
    .sort()
    .map((f) => join("dist/test", dir, f));

/** Splits our arguments into node --test options and test files. */
function parseArgs(args) {
  const files = args.filter((a) => a.endsWith(".js") && !a.startsWith("-"));
  const options = args.filter((a) => !files.includes(a));
  return { options, files };
}

/**
 * Runs node --test on `files` with the spec reporter on stdout and the
 * summary reporter into a file; resolves with the summary.
 */
async function nodeTest(files, options, stdout = process.stdout) {
  const dir = mkdtempSync(join(tmpdir(), "torov-summary-"));
  const out = join(dir, "summary.json");
  try {
    const args = [
      "--test",
      "--test-reporter=spec",
      "--test-reporter-destination=stdout",
      `--test-reporter=${join(root, "scripts", "test-summary.mjs")}`,
      `--test-reporter-destination=${out}`,
      ...options,
      ...files,
    ];
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    child.stdout.pipe(stdout, { end: false });
    const status = await new Promise((resolve) => child.on("close", (code, signal) => resolve(code ?? (signal ? 1 : 0))));
    const summary = existsSync(out) ? JSON.parse(readFileSync(out, "utf8") || "null") : null;
    return summary ? { ...summary, status } : { status, tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0, failed: [], skippedTests: [], broken: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where KVM is, in words ("PVM", "AMD-V nested under QEMU"...), from the built addon. */
async function flavour() {
  try {
    const { native } = await import(join(root, "dist/src/vmm/native.js"));
    const { flavourName } = await import(join(root, "dist/src/vmm/flavour.js"));
    return flavourName(native().kvmInfo());
  } catch (e) {
    return `no usable KVM (${e.message})`;
  }
}

/** Whether /dev/kvm is a usable KVM device (src/vmm/kvm-device.ts: never by opening it). */
async function kvmHere() {
  const { kvmDevice } = await import(join(root, "dist/src/vmm/kvm-device.js"));
  return kvmDevice().usable;
}

function report(what, where, s) {
  const problems = s.fail + s.cancelled;
  const ran = s.tests - s.skipped - s.todo;
  const parts = [`${ran} ran ${where}`, `${s.pass} passed`, `${problems} failed`, `${s.skipped} skipped`];
  const lines = [`torov test: ${what}: ${parts.join(", ")}${s.broken ? " (the test runner gave no summary: it failed before the end)" : ""}`];
  for (const t of s.failed) lines.push(`  failed:  ${t.name} (${t.file ? t.file.replace(`${root}/`, "") : "?"}): ${t.reason}`);
  for (const t of s.skippedTests) lines.push(`  skipped: ${t.name} (${t.file ? t.file.replace(`${root}/`, "") : "?"}): ${t.reason || "no reason given"}`);
  return { lines, ok: !s.broken && problems === 0 && s.status === 0 };
}

// ---- inside the harness's guests: VM test files, each claimed from the work
// queue that all guests share (the first to make its folder runs it), its
// summary written back into that folder.

const EMPTY = { tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0, failed: [], skippedTests: [], status: 0 };
const claim = (queue, file) => join(queue, file.replace(/\//g, "_"));

function merge(a, b) {
  const out = { ...a };
  for (const k of ["tests", "pass", "fail", "skipped", "todo", "cancelled"]) out[k] = a[k] + b[k];
  out.failed = [...a.failed, ...b.failed];
  out.skippedTests = [...a.skippedTests, ...b.skippedTests];
  out.status = a.status || b.status;
  out.broken = a.broken || b.broken;
  return out;
}

if (process.argv[2] === "--inside-harness") {
  const queue = process.argv[3];
  const { options, files } = parseArgs(process.argv.slice(4));
  writeFileSync(join(queue, "flavour"), await flavour());
  for (const file of files) {
    try {
      mkdirSync(claim(queue, file));
    } catch {
      continue; // another guest has it
    }
    const s = await nodeTest([file], options);
    // Whole or not at all: a guest may be stopped while it writes.
    writeFileSync(join(claim(queue, file), "summary.tmp"), JSON.stringify(s));
    renameSync(join(claim(queue, file), "summary.tmp"), join(claim(queue, file), "summary.json"));
  }
  process.exit(0);
}

/**
 * Runs the VM test files in `guests` throw-away guests at once (each with
 * one vCPU: see test/harness), which share the files through a work queue;
 * their output comes through line by line. A guest that stops (its kernel
 * hangs: QEMU's emulation, never the tests) is reported, and the files it
 * had not finished run again in a new guest, once.
 */
async function inGuests(vmFiles, options, guests) {
  const { runInKvm, HarnessError, STALLED } = await import("../test/harness/run-in-kvm.mjs");
  const queue = mkdtempSync(join(tmpdir(), "torov-queue-"));
  // Interrupted, the queue goes too (the harness stops its guests), and we
  // die of the signal.
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"];
  const onSignal = (sig) => {
    rmSync(queue, { recursive: true, force: true });
    setImmediate(() => process.kill(process.pid, sig));
  };
  for (const sig of signals) process.once(sig, onSignal);
  // Longest first (by size, roughly their number of tests), so that the
  // guests finish together.
  const ordered = [...vmFiles].sort((a, b) => statSync(b).size - statSync(a).size);
  const guest = async () => {
    let partial = "";
    const lines = new Transform({
      transform(chunk, _enc, done) {
        const all = (partial + chunk).split("\n");
        partial = all.pop();
        for (const line of all) this.push(`${line}\n`);
        done();
      },
      flush(done) {
        if (partial) this.push(`${partial}\n`);
        done();
      },
    });
    lines.pipe(process.stdout, { end: false });
    try {
      await runInKvm([process.execPath, "scripts/test.mjs", "--inside-harness", queue, ...options, ...ordered], { stdout: lines, share: queue });
      return undefined;
    } catch (e) {
      return e instanceof HarnessError ? e : new HarnessError(`the harness failed: ${e.message}`);
    } finally {
      lines.end();
    }
  };
  const done = (f) => existsSync(join(claim(queue, f), "summary.json"));
  try {
    let failures = (await Promise.all(Array.from({ length: guests }, guest))).filter(Boolean);
    if (failures.length && failures.every((e) => e.status === STALLED)) {
      const again = vmFiles.filter((f) => !done(f));
      for (const f of again) rmSync(claim(queue, f), { recursive: true, force: true });
      for (const e of failures) console.log(`torov test: ${e.message}`);
      console.log(`torov test: running what it had not finished again, in a new guest: ${again.map((f) => f.split("/").pop()).join(", ")}`);
      failures = [await guest()].filter(Boolean);
    }
    // What finished counts, whatever happened to the guests; a file that
    // did not finish is a failure, with the guest's failure as its reason.
    const why = failures.length ? `its guest failed: ${failures[0].message}` : "it did not run to its end";
    let total = EMPTY;
    for (const f of vmFiles) {
      const unfinished = { ...EMPTY, fail: 1, status: 1, failed: [{ name: "(the whole file)", file: f, reason: why }] };
      if (!done(f)) {
        total = merge(total, unfinished);
        continue;
      }
      try {
        total = merge(total, { ...EMPTY, ...JSON.parse(readFileSync(join(claim(queue, f), "summary.json"), "utf8")) });
      } catch (e) {
        total = merge(total, { ...unfinished, failed: [{ ...unfinished.failed[0], reason: `its summary is unreadable: ${e.message}` }] });
      }
    }
    const where = existsSync(join(queue, "flavour")) ? readFileSync(join(queue, "flavour"), "utf8") : "?";
    const r = report("VM tests", `in ${guests} of test/harness's guests, on ${where}`, total);
    for (const e of failures) r.lines.push(`  a guest failed: torov nested: ${e.message}`);
    return { lines: r.lines, ok: r.ok && !failures.length };
  } finally {
    for (const sig of signals) process.removeListener(sig, onSignal);
    rmSync(queue, { recursive: true, force: true });
  }
}

// ---- on the host

run(process.execPath, ["scripts/install.mjs"]);
run("make", ["-s", "-C", "test/guests"]);
const { options, files } = parseArgs(process.argv.slice(2));
const unitFiles = files.length ? files.filter((f) => !f.includes("/e2e/")) : listed("unit");
const vmFiles = files.length ? files.filter((f) => f.includes("/e2e/")) : listed("e2e");
const forced = process.env.TOROV_TEST_VM;
if (forced && forced !== "here" && forced !== "nested") {
  console.error(`torov test: TOROV_TEST_VM must be "here" or "nested", not "${forced}"`);
  process.exit(2);
}
const here = await kvmHere();
const nested = forced ? forced === "nested" : !here;
const summaries = [];

if (unitFiles.length) summaries.push(report("unit tests", "on this host", await nodeTest(unitFiles, options)));

if (vmFiles.length && !nested) {
  const s = await nodeTest(vmFiles, options);
  summaries.push(report("VM tests", `here, on ${await flavour()}`, s));
} else if (vmFiles.length) {
  // One guest per CPU here (each needs one), as memory allows (3 GiB each).
  const guests = Math.max(1, Math.min(availableParallelism(), Math.floor(totalmem() / 2 ** 30 / 4), vmFiles.length));
  console.log(`torov test: the VM tests run in ${guests} throw-away guest${guests > 1 ? "s" : ""} that have KVM (test/harness)${here ? "" : ": this host has none"}`);
  summaries.push(await inGuests(vmFiles, options, guests));
}

console.log("");
for (const s of summaries) for (const line of s.lines) console.log(line);
process.exit(summaries.every((s) => s.ok) ? 0 : 1);

#!/usr/bin/env node
// npm test: bring the build up to date (incrementally), build the test
// guests, run the unit tests here and the VM tests (test/e2e, which boot real
// VMs) where there is KVM: here when this host has /dev/kvm, otherwise inside
// test/harness's throw-away guest, which has it. The last lines say where the
// VM tests ran, on which KVM flavour, and how many ran, failed and were
// skipped (each skipped one by name, with why).
//
//   npm test [-- NODE_TEST_OPTIONS... [FILES...]]
//
// Files given (dist/test/unit/x.test.js, dist/test/e2e/y.test.js) replace
// the full lists. TOROV_TEST_VM=here|nested forces where the VM tests run
// (nested on a host with KVM tests the AMD-V flavour there too).
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Transform } from "node:stream";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);
const SUMMARY_MARK = "@@torov-test-summary ";

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
  const dir = mkdtempSync(join(tmpdir(), "torov-test-summary-"));
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

function kvmHere() {
  try {
    closeSync(openSync("/dev/kvm", "r+"));
    return true;
  } catch {
    return false;
  }
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

// ---- inside the harness's guest: the VM tests only, then the summary on one marked line

if (process.argv[2] === "--inside-harness") {
  const { options, files } = parseArgs(process.argv.slice(3));
  const s = await nodeTest(files.length ? files : listed("e2e"), options);
  s.flavour = await flavour();
  process.stdout.write(`\n${SUMMARY_MARK}${JSON.stringify(s)}\n`);
  process.exit(0);
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
const nested = forced ? forced === "nested" : !kvmHere();
const summaries = [];

if (unitFiles.length) summaries.push(report("unit tests", "on this host", await nodeTest(unitFiles, options)));

if (vmFiles.length && !nested) {
  const s = await nodeTest(vmFiles, options);
  summaries.push(report("VM tests", `here, on ${await flavour()}`, s));
} else if (vmFiles.length) {
  const { runInKvm, HarnessError } = await import("../test/harness/run-in-kvm.mjs");
  // The guest's stdout comes through as it is, but for the summary line.
  let summary;
  let partial = "";
  const filter = new Transform({
    transform(chunk, _enc, done) {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop();
      for (const line of lines) {
        if (line.startsWith(SUMMARY_MARK)) summary = JSON.parse(line.slice(SUMMARY_MARK.length));
        else this.push(`${line}\n`);
      }
      done();
    },
  });
  filter.pipe(process.stdout);
  console.log("torov test: this host has no usable /dev/kvm: the VM tests run in a throw-away guest that has it (test/harness)");
  try {
    const status = await runInKvm([process.execPath, "scripts/test.mjs", "--inside-harness", ...options, ...vmFiles], { stdout: filter });
    if (!summary) summary = { status, tests: 0, pass: 0, fail: 0, skipped: 0, todo: 0, cancelled: 0, failed: [], skippedTests: [], broken: true };
    summaries.push(report("VM tests", `in test/harness's guest, on ${summary.flavour ?? "?"}`, summary));
  } catch (e) {
    if (!(e instanceof HarnessError)) throw e;
    summaries.push({ lines: [`torov test: VM tests: none ran: torov nested: ${e.message}`], ok: false });
  }
}

console.log("");
for (const s of summaries) for (const line of s.lines) console.log(line);
process.exit(summaries.every((s) => s.ok) ? 0 : 1);

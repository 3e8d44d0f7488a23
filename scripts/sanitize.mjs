#!/usr/bin/env node
// npm run sanitize -- tsan|asan [--build-only] [--here] [--smp N] [FILES...]
//
// Builds the addon with ThreadSanitizer (tsan) or AddressSanitizer and
// UndefinedBehaviorSanitizer (asan) into build-tsan/ or build-asan/ (never
// touching build/Release), then runs the threaded and hostile VM test files
// with it (TOROV_ADDON, src/vmm/native.ts): in one of test/harness's guests
// with 2 vCPUs where this host has no /dev/kvm (--here: on this host).
// Node is not sanitized, so the runtime is preloaded (LD_PRELOAD) into every
// process the tests start, torov's CLI included; each writes its reports to
// sanitize-reports/<kind>-<time>/<kind>.<pid>. Afterwards every report is
// read: one with a frame in torov's addon (build-<kind>/.../torov.node or a
// native/ source) is a finding, printed and failing the run; others (Node,
// V8, gdb's own) are counted and left in the folder. Exit status: 0 clean,
// 1 findings or failed tests, 2 usage or build failure.
//
// Before the tests, a canary: one guest (test/guests/races.c canary) runs
// with TOROV_SANITIZER_CANARY=1, which makes its vCPU threads commit a
// known bug of each kind (native/sanitizer.h). Its reports must come back
// and be read as torov's, else the run fails: a clean run means something
// only if a report made on a chrooted, filtered vCPU thread gets out.
//
// The sanitizer build defines TOROV_SANITIZER: native/seccomp.cc then admits
// the few host calls the sanitizer runtime itself makes on vCPU threads, and
// the addon opens its report file and reads the process's modules while no
// filter is in place (native/addon.cc). The normal build has neither.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, copyFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
process.chdir(root);

// The threaded and hostile suites; races.test.ts where it exists.
const SUITES = [
  "threads", "hostile-threads", "hostile", "trespass", "containment", "pinning", "gdb-threads", "races",
].map((n) => `dist/test/e2e/${n}.test.js`);

const KINDS = {
  tsan: {
    flags: ["-fsanitize=thread"],
    runtimes: ["libtsan.so"],
    // Reports in the addon's frames are what count; second_deadlock_stack
    // gives both stacks of a lock-order inversion. Signals: V8 and torov
    // handle SIGSEGV/SIGUSR themselves; report_signal_unsafe stays on (a
    // report only counts when it names torov).
    options: (logs) => ({
      TSAN_OPTIONS: `log_path=${logs}/tsan:second_deadlock_stack=1:history_size=4:halt_on_error=0:exitcode=0:suppressions=${root}/scripts/sanitize/tsan.supp`,
    }),
  },
  asan: {
    flags: ["-fsanitize=address,undefined", "-fsanitize-recover=address", "-fno-sanitize=vptr"],
    runtimes: ["libasan.so", "libubsan.so"],
    // Node leaks by design (detect_leaks=0). Node installs its own SIGSEGV
    // handler for WebAssembly; ASan's stays out of the way (allow_user_segv_handler).
    options: (logs) => ({
      ASAN_OPTIONS: `log_path=${logs}/asan:detect_leaks=0:halt_on_error=0:allow_user_segv_handler=1:detect_stack_use_after_return=0:verify_asan_link_order=0`,
      UBSAN_OPTIONS: `log_path=${logs}/ubsan:print_stacktrace=1:halt_on_error=0`,
    }),
  },
};

function fail(message) {
  console.error(`torov sanitize: ${message}`);
  process.exit(2);
}

function run(what, cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: "inherit", ...options });
  if (r.error || r.status !== 0) fail(`${what} failed (${cmd} ${args.join(" ")}: ${r.error ? r.error.message : `exit status ${r.status}`})`);
}

// ---- arguments

const argv = process.argv.slice(2);
const kind = argv.shift();
if (!KINDS[kind]) fail(`usage: npm run sanitize -- tsan|asan [--build-only] [--here] [--smp N] [FILES...]`);
let buildOnly = false, here = false, smp = 2;
const files = [];
while (argv.length) {
  const a = argv.shift();
  if (a === "--build-only") buildOnly = true;
  else if (a === "--here") here = true;
  else if (a === "--smp") smp = Number(argv.shift());
  else if (a.endsWith(".js") && !a.startsWith("-")) files.push(a);
  else fail(`unknown argument ${a}`);
}
if (!(smp >= 1 && smp <= 16)) fail("--smp takes 1 to 16");

// ---- the build: build-<kind>/ holds binding.gyp and links to native/ and
// node_modules/, so node-gyp builds there exactly what it builds in build/,
// with the sanitizer's flags added (the Makefile it makes appends CFLAGS,
// CXXFLAGS and LDFLAGS from the environment to the target's own).

function gypCommand() {
  const bundled = join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  const gyp = process.env.npm_config_node_gyp ?? (existsSync(bundled) ? bundled : undefined);
  return gyp ? [process.execPath, [gyp]] : ["node-gyp", []];
}

function link(target, path) {
  try {
    lstatSync(path);
  } catch {
    symlinkSync(target, path);
  }
}

function buildSanitized() {
  const dir = join(root, `build-${kind}`);
  mkdirSync(dir, { recursive: true });
  // A changed binding.gyp (a source added) needs a new Makefile.
  const gypChanged = !existsSync(join(dir, "binding.gyp")) || readFileSync(join(dir, "binding.gyp"), "utf8") !== readFileSync("binding.gyp", "utf8");
  copyFileSync("binding.gyp", join(dir, "binding.gyp"));
  link("../native", join(dir, "native"));
  link("../node_modules", join(dir, "node_modules"));
  const flags = [...KINDS[kind].flags, "-DTOROV_SANITIZER=1", "-O1", "-g", "-fno-omit-frame-pointer"].join(" ");
  const env = { ...process.env, CFLAGS: flags, CXXFLAGS: flags, LDFLAGS: KINDS[kind].flags.join(" ") };
  const [cmd, pre] = gypCommand();
  if (gypChanged || !existsSync(join(dir, "build", "Makefile"))) run(`configuring the ${kind} addon`, cmd, [...pre, "configure"], { cwd: dir, env });
  run(`building the ${kind} addon`, cmd, [...pre, "build"], { cwd: dir, env });
  return join(dir, "build", "Release", "torov.node");
}

function runtimePath(lib) {
  const r = spawnSync(process.env.CC || "gcc", [`-print-file-name=${lib}`], { encoding: "utf8" });
  const path = (r.stdout ?? "").trim();
  if (!path.startsWith("/") || !existsSync(path)) fail(`gcc has no ${lib} (install gcc's sanitizer runtimes: libtsan2 / libasan8 / libubsan1)`);
  return path;
}

// ---- reports

/** Whether a report names torov's own code: a frame in the addon, or in native/. */
const OURS = (addon) => (line) => /^\s*#\d+ /.test(line) && (line.includes(addon) || line.includes("torov.node+") || /[\s(/]native\/[\w/.-]+\.(cc|h|S)/.test(line));

/**
 * Whether a report is about torov's code: the access (or error) it names
 * happened in a frame of the addon, the first frame past the sanitizer's
 * own interceptors and the C and C++ runtimes. A frame of torov's further
 * down (V8 running a callback torov's ThreadSafeFunction called) makes a
 * race inside V8 no finding of torov's. UBSan's one-line reports name
 * their source file.
 */
function isOurs(report, ours) {
  const lines = report.split("\n");
  if (/runtime error: /.test(lines[0])) return /(^|[\s/])native\/[\w/.-]+\.(cc|h):\d+/.test(lines[0]) || lines.some(ours);
  const runtime = /lib(tsan|asan|ubsan|stdc\+\+|c)\.so|libsanitizer\/|\/usr\/include\/c\+\+\//;
  let inAccess = false, decided = false;
  for (const line of lines) {
    if (!/^\s*#\d+ /.test(line)) {
      // A stack's header: an access, an error or a SUMMARY-less block; not where memory was allocated or a thread made.
      inAccess = /^\s*(Read|Write|Atomic|Previous|READ|WRITE|==\d+==ERROR|WARNING|.*(use-after|overflow|double-free|SEGV))/.test(line) && !/allocated by|created by|freed by/.test(line);
      decided = false;
      continue;
    }
    if (!inAccess || decided || runtime.test(line)) continue;
    decided = true; // the first frame of this stack past the runtimes
    if (ours(line)) return true;
  }
  return false;
}

/** Reports in a log file: each from its "=====" or "WARNING:" header (tsan, asan) or one "runtime error" line (ubsan). */
function splitReports(text) {
  const out = [];
  let cur = null;
  for (const line of text.split("\n")) {
    if (/^(==\d+==ERROR|WARNING: ThreadSanitizer|==+$|.*runtime error: )/.test(line)) {
      if (/^==+$/.test(line) && cur && !cur.closed) {
        cur.closed = true;
        continue;
      }
      if (/^==+$/.test(line)) continue;
      cur = { lines: [line], closed: false };
      out.push(cur);
    } else if (cur && !cur.closed) cur.lines.push(line);
  }
  return out.map((r) => r.lines.join("\n").trimEnd());
}

/**
 * Names the addon's frames a report left as "<null> <null> (torov.node+0x...)":
 * TSan cannot symbolize on a vCPU thread, which is chrooted and filtered.
 * addr2line reads the same file here, afterwards.
 */
function symbolize(text, addon) {
  const offsets = [...new Set([...text.matchAll(/<null> <null> \(torov\.node\+(0x[0-9a-f]+)\)/g)].map((m) => m[1]))];
  if (!offsets.length) return text;
  const r = spawnSync("addr2line", ["-f", "-C", "-e", addon, ...offsets], { encoding: "utf8" });
  const lines = (r.stdout ?? "").split("\n");
  if (r.status !== 0 || lines.length < offsets.length * 2) return text;
  const names = new Map(offsets.map((o, i) => [o, `${lines[2 * i]} ${lines[2 * i + 1].replace(/^.*\/native\//, "native/")}`]));
  return text.replace(/<null> <null> \(torov\.node\+(0x[0-9a-f]+)\)/g, (all, o) => `${names.get(o)} (torov.node+${o})`);
}

function scan(logs, addon) {
  const ours = OURS(addon);
  const findings = [];
  let files = 0, others = 0, canaries = 0;
  for (const f of readdirSync(logs).sort()) {
    const path = join(logs, f);
    if (!statSync(path).isFile() || statSync(path).size === 0 || f.endsWith(".json")) continue;
    files++;
    for (const report of splitReports(symbolize(readFileSync(path, "utf8"), addon))) {
      if (/\bSanitizerCanary\b/.test(report) && isOurs(report, ours)) canaries++;
      else if (isOurs(report, ours)) findings.push({ file: relative(root, path), report });
      else others++;
    }
  }
  return { files, findings, others, canaries };
}

// ---- the run

run("building torov", process.execPath, ["scripts/install.mjs"]);
run("building the test guests", "make", ["-s", "-C", "test/guests"]);
const addon = buildSanitized();
console.log(`torov sanitize: the ${kind} addon is ${relative(root, addon)}`);
if (buildOnly) process.exit(0);

const suites = (files.length ? files : SUITES).filter((f) => existsSync(f));
const stamp = new Date().toISOString().replace(/[:]/g, "-").replace(/\..*$/, "");
const logs = join(root, "sanitize-reports", `${kind}-${stamp}`);
mkdirSync(logs, { recursive: true });
const preload = KINDS[kind].runtimes.map(runtimePath).join(" ");
// The debuggers and host tools the tests drive run without the runtime:
// gdb with ASan preloaded hangs before it prints its version, and under
// TSan unshare, mount, chroot and ldd are killed (and they are not ours).
// A static stand-in first in PATH takes the runtime out of LD_PRELOAD
// (scripts/sanitize/unpreload.c); what they start runs without it too.
const wrappers = join(logs, "bin");
mkdirSync(wrappers);
run("building the tools' stand-in", process.env.CC || "gcc", ["-static", "-O2", "-o", join(wrappers, "unpreload"), "scripts/sanitize/unpreload.c"]);
for (const tool of ["gdb", "gdbserver", "lldb", "sh", "ldd", "unshare", "setpriv", "mount", "chroot"]) symlinkSync("unpreload", join(wrappers, tool));
const env = {
  ...process.env,
  TOROV_ADDON: addon,
  ...KINDS[kind].options(logs),
  // Instrumented code is slower: time limits that tell a hang from a slow
  // run grow (test/helpers.ts; the harness's own 8 times more under it).
  TOROV_TEST_TIME_SCALE: process.env.TOROV_TEST_TIME_SCALE ?? (here ? "4" : "24"),
  TOROV_SANITIZE_PRELOAD: preload,
  PATH: `${wrappers}:${process.env.PATH}`,
  TOROV_UNPRELOAD_DIR: wrappers,
};
// The runtime comes first in LD_PRELOAD, before the harness's own shim
// (test/harness/tss-type.c), which is in LD_PRELOAD already in its guest.
const canaryRoot = join(logs, "canary-root");
mkdirSync(canaryRoot);
const canaryManifest = join(logs, "canary.json");
writeFileSync(canaryManifest, JSON.stringify({ Binary: join(root, "test/guests/out/races"), MountPoint: canaryRoot, Hypercalls: [{ Name: "*", Allowed: true }] }));
const inner = [
  "sh",
  "-c",
  `export LD_PRELOAD="$TOROV_SANITIZE_PRELOAD\${LD_PRELOAD:+ $LD_PRELOAD}"
TOROV_SANITIZER_CANARY=1 "$0" bin/torov.js run ${JSON.stringify(canaryManifest)} canary || { echo "torov sanitize: the canary's guest failed"; exit 3; }
exec "$0" --test --test-reporter=spec "$@"`,
  process.execPath,
  ...suites,
];
const kvm = (await import(join(root, "dist/src/vmm/kvm-device.js"))).kvmDevice().usable;
const inGuest = !here && !kvm;
console.log(`torov sanitize: running ${suites.map((f) => f.split("/").pop()).join(", ")} under ${kind}, ${inGuest ? `in a test/harness guest with ${smp} vCPUs` : "here"}; reports go to ${relative(root, logs)}/`);
const started = Date.now();
let status;
if (inGuest) {
  const { runInKvm, HarnessError } = await import("../test/harness/run-in-kvm.mjs");
  try {
    status = await runInKvm(inner, { smp, env, share: logs, memory: 6144, timeout: 3 * 3600 });
  } catch (e) {
    if (!(e instanceof HarnessError)) throw e;
    console.error(`torov sanitize: torov nested: ${e.message}`);
    status = e.status;
  }
} else {
  status = spawnSync(inner[0], inner.slice(1), { stdio: "inherit", env }).status ?? 1;
}
const minutes = ((Date.now() - started) / 60000).toFixed(1);

const { files: logFiles, findings, others, canaries } = scan(logs, addon);
console.log("");
for (const f of findings) console.log(`---- ${f.file}\n${f.report}\n`);
writeFileSync(join(logs, "findings.txt"), findings.map((f) => `---- ${f.file}\n${f.report}\n`).join("\n"));
console.log(`torov sanitize: ${kind}: the tests ran in ${minutes} min and ${status === 0 ? "passed" : `failed (exit status ${status})`}`);
console.log(`torov sanitize: ${kind}: ${logFiles} report files, ${findings.length} reports in torov's code, ${others} elsewhere (Node, V8, tools), all in ${relative(root, logs)}/${findings.length ? "; torov's in findings.txt there" : ""}`);
if (!canaries) console.log(`torov sanitize: ${kind}: the canary's reports did not come back: reports made on vCPU threads are lost, so this run shows nothing`);
else console.log(`torov sanitize: ${kind}: the canary was reported (${canaries} reports), so vCPU threads' reports get out`);
process.exit(findings.length || status !== 0 || !canaries ? 1 : 0);

#!/usr/bin/env node
// run-in-kvm: runs a command of this checkout inside a throw-away Linux guest
// that has /dev/kvm, on a host that has none (see README.md in this folder).
//
//   node test/harness/run-in-kvm.mjs [--smp N] [--memory MiB] [--timeout S] [--cpu MODEL] [--] CMD [ARGS...]
//
// The guest is the host's own Debian kernel under QEMU's software CPU (TCG)
// with an emulated AMD CPU that has SVM, so its kvm_amd gives KVM in the
// hardware (AMD-V) flavour. It sees the host's whole file system read-only,
// under an overlay kept in guest memory: the host's node, gdb and the built
// addon run unchanged, and nothing the command writes reaches the host. The
// command's stdout and stderr come through as they are written; its exit
// status is this script's. Failures of the harness itself (QEMU missing and
// not installable, a guest that does not boot, a timeout) are one line on
// stderr starting "torov nested:" and a status of its own: 124 for a
// timeout, 126 for a guest that stopped, 125 for anything else (a command
// can exit with these too: the line on stderr tells them apart).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  accessSync,
  chmodSync,
  lstatSync,
  constants as fsc,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { once } from "node:events";
import { createServer } from "node:net";
import { gzipSync } from "node:zlib";

const HERE = dirname(fileURLToPath(import.meta.url));
export const HARNESS_FAILED = 125;
export const TIMED_OUT = 124;
/** The guest itself stopped (its kernel hung): not the command's doing. */
export const STALLED = 126;

/** A failure of the harness, not of the command: reported as one line. */
export class HarnessError extends Error {
  constructor(message, status = HARNESS_FAILED) {
    super(message);
    this.status = status;
  }
}

// The kernel modules the guest loads: KVM for AMD-V, the virtio transport,
// 9p for the shares, overlayfs for the writable root. Their dependencies
// come from the kernel's modules.dep, loaded first.
const MODULES = ["kvm-amd", "virtio_pci", "9pnet_virtio", "9p", "overlay"];
const PACKAGES = ["qemu-system-x86", "linux-image-amd64", "busybox-static"];

// One vCPU: with two or more, QEMU 7.2's multi-threaded TCG running nested
// SVM corrupts the guest (hung and triple-faulting torov guests when several
// run at once, then the guest kernel's own stack: "corrupted stack end
// detected inside scheduler"). Parallelism comes from several guests instead.
const defaults = () => ({
  cpu: "max",
  smp: 1,
  memory: 3072,
  timeout: 3600,
  bootTimeout: 300,
  // The guest says it is alive every 30 s; silent this long, it has stopped.
  silenceTimeout: 300,
});

function cacheRoot() {
  return process.env.TOROV_NESTED_CACHE || join(tmpdir(), `torov-nested-${process.getuid?.() ?? "user"}`);
}

/**
 * The cache folder, created if need be. Its name in /tmp is predictable, so
 * it must be ours and writable by no one else: what it holds (the guest's
 * init, the shim preloaded into every process there) runs as root in the
 * guest. It stays readable by all, for the guest's unprivileged processes.
 */
function ownCacheRoot() {
  const root = cacheRoot();
  mkdirSync(root, { recursive: true, mode: 0o755 });
  const st = lstatSync(root);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || st.mode & 0o022)
    throw new HarnessError(`the cache folder ${root} is not a folder of this user that only it may write: remove it, or set TOROV_NESTED_CACHE`);
  return root;
}

// ---- what the host must have

function which(cmd) {
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = join(dir || ".", cmd);
    try {
      accessSync(p, fsc.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** True when the ELF file has no program interpreter (a static program). */
function isStaticElf(path) {
  try {
    const b = readFileSync(path);
    if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false;
    const phoff = Number(b.readBigUInt64LE(0x20));
    const phentsize = b.readUInt16LE(0x36);
    const phnum = b.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) if (b.readUInt32LE(phoff + i * phentsize) === 3) return false; // PT_INTERP
    return true;
  } catch {
    return false;
  }
}

/** The newest kernel in /boot that has its modules installed. */
function findKernel() {
  const versions = existsSync("/boot")
    ? readdirSync("/boot")
        .filter((f) => f.startsWith("vmlinuz-"))
        .map((f) => f.slice("vmlinuz-".length))
        .filter((v) => existsSync(`/lib/modules/${v}/modules.dep`))
    : [];
  versions.sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const version = versions.at(-1);
  return version && { version, image: `/boot/vmlinuz-${version}`, modules: `/lib/modules/${version}` };
}

function findBusybox() {
  return ["/bin/busybox", "/usr/bin/busybox"].find((p) => isStaticElf(p));
}

function missingTools() {
  const missing = [];
  if (!which("qemu-system-x86_64")) missing.push("qemu-system-x86");
  if (!findKernel()) missing.push("linux-image-amd64");
  if (!findBusybox()) missing.push("busybox-static");
  return missing;
}

function install(packages, log) {
  const root = process.getuid?.() === 0;
  if (!root && spawnSync("sudo", ["-n", "true"]).status !== 0)
    throw new HarnessError(`${packages.join(", ")} missing, and installing needs root (apt-get install ${packages.join(" ")})`);
  const sudo = root ? [] : ["sudo", "-n"];
  log(`torov nested: installing ${packages.join(", ")} (once)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages]]) {
    const [cmd, ...rest] = [...sudo, ...args];
    const r = spawnSync(cmd, rest, { env, encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
    if (r.error || r.status !== 0) {
      const why = r.error?.message ?? r.stderr.trim().split("\n").pop() ?? `status ${r.status}`;
      throw new HarnessError(`could not install ${packages.join(", ")}: ${args.slice(0, 2).join(" ")}: ${why}`);
    }
  }
}

// ---- the initramfs

/** Kernel modules to load, each after the modules it needs. */
export function moduleOrder(modulesDir, wanted = MODULES) {
  const deps = new Map();
  for (const line of readFileSync(join(modulesDir, "modules.dep"), "utf8").split("\n")) {
    const [mod, rest] = line.split(":");
    if (mod) deps.set(mod, (rest ?? "").trim().split(/\s+/).filter(Boolean));
  }
  const builtin = existsSync(join(modulesDir, "modules.builtin")) ? readFileSync(join(modulesDir, "modules.builtin"), "utf8") : "";
  const norm = (s) => s.replace(/-/g, "_");
  const byName = new Map([...deps.keys()].map((p) => [norm(basename(p).replace(/\.ko(\.\w+)?$/, "")), p]));
  const order = [];
  const visit = (path) => {
    if (order.includes(path)) return;
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(norm(name));
    if (path) visit(path);
    else if (!builtin.split("\n").some((l) => norm(basename(l).replace(/\.ko$/, "")) === norm(name)))
      throw new HarnessError(`the kernel in ${modulesDir} has no module ${name}`);
  }
  return order;
}

/** A module's bytes, uncompressed (busybox insmod takes plain .ko files). */
function moduleBytes(path) {
  const tool = path.endsWith(".xz") ? "xz" : path.endsWith(".zst") ? "zstd" : path.endsWith(".gz") ? "gzip" : undefined;
  if (!tool) return readFileSync(path);
  const r = spawnSync(tool, ["-dc", path], { maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new HarnessError(`cannot decompress ${path} (${tool} -dc)`);
  return r.stdout;
}

/** A cpio archive in the "newc" format the kernel unpacks as its initramfs. */
export function cpio(entries) {
  const parts = [];
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  let ino = 1;
  const push = (name, mode, data) => {
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0];
    const header = `070701${fields.map((f) => f.toString(16).padStart(8, "0")).join("")}`;
    const head = Buffer.concat([Buffer.from(header), Buffer.from(`${name}\0`)]);
    parts.push(head, pad(head.length), data, pad(data.length));
  };
  for (const e of entries) push(e.name, e.mode, e.data ?? Buffer.alloc(0));
  push("TRAILER!!!", 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/**
 * Makes sure QEMU, a kernel and a static busybox are here (installing them
 * from Debian's packages if not), and builds the guest's initramfs and the
 * TSS shim once per kernel and harness version. Returns the paths to boot.
 */
export function prepare(log = (s) => process.stderr.write(`${s}\n`)) {
  const missing = missingTools();
  if (missing.length) install(missing, log);
  const still = missingTools();
  if (still.length) throw new HarnessError(`${still.join(", ")} still missing after installing`);
  const kernel = findKernel();
  const busybox = findBusybox();
  try {
    accessSync(kernel.image, fsc.R_OK);
  } catch {
    throw new HarnessError(`${kernel.image} is not readable by this user (the guest boots it)`);
  }
  const init = readFileSync(join(HERE, "init"));
  const shim = readFileSync(join(HERE, "tss-type.c"));
  const key = createHash("sha256")
    .update(init)
    .update(shim)
    .update(kernel.version)
    .update(String(statSync(busybox).size))
    .update(MODULES.join(","))
    .digest("hex")
    .slice(0, 16);
  const dir = join(cacheRoot(), key);
  const initrd = join(dir, "initramfs.cpio.gz");
  const tssShim = join(dir, "tss-type.so");
  ownCacheRoot();
  if (!existsSync(initrd) || !existsSync(tssShim)) {
    const build = mkdtempSync(join(cacheRoot(), "build-"));
    // Readable by everyone: the shim is preloaded into every process of the
    // guest, those of tests that drop privileges included.
    chmodSync(build, 0o755);
    try {
      const modules = moduleOrder(kernel.modules);
      const entries = [
        { name: "bin", mode: 0o40755 },
        { name: "modules", mode: 0o40755 },
        { name: "bin/busybox", mode: 0o100755, data: readFileSync(busybox) },
        { name: "init", mode: 0o100755, data: init },
        { name: "modules.order", mode: 0o100644, data: Buffer.from(modules.map((m) => basename(m).replace(/\.(xz|zst|gz)$/, "")).join("\n") + "\n") },
        ...modules.map((m) => ({ name: `modules/${basename(m).replace(/\.(xz|zst|gz)$/, "")}`, mode: 0o100644, data: moduleBytes(join(kernel.modules, m)) })),
      ];
      writeFileSync(join(build, "initramfs.cpio.gz"), gzipSync(cpio(entries), { level: 1 }));
      const cc = spawnSync("gcc", ["-shared", "-fPIC", "-O2", "-o", join(build, "tss-type.so"), join(HERE, "tss-type.c"), "-ldl"], { encoding: "utf8" });
      if (cc.error || cc.status !== 0) throw new HarnessError(`cannot build the TSS shim: gcc: ${cc.error?.message ?? cc.stderr.trim().split("\n")[0]}`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(build, dir);
      // What older kernels or harness versions built is of no more use.
      for (const old of readdirSync(cacheRoot()))
        if (/^[0-9a-f]{16}$/.test(old) && old !== key) rmSync(join(cacheRoot(), old), { recursive: true, force: true });
    } finally {
      rmSync(build, { recursive: true, force: true });
    }
  }
  return { kernel: kernel.image, kernelVersion: kernel.version, initrd, tssShim, cacheDir: dir };
}

// ---- running

const shellQuote = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/** The script the guest runs: the caller's environment and folder, then the command. */
export function commandScript(argv, cwd, env, tssShim) {
  const lines = ["# written by run-in-kvm.mjs"];
  for (const [k, v] of Object.entries(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || v === undefined || k === "LD_PRELOAD") continue;
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`export LD_PRELOAD=${shellQuote([tssShim, env.LD_PRELOAD].filter(Boolean).join(" "))}`);
  lines.push("export TOROV_NESTED=1");
  lines.push(`cd ${shellQuote(cwd)} || { echo ${shellQuote(`cannot enter the working folder ${cwd}`)} > /run/torov-nested/share/error; exit ${HARNESS_FAILED}; }`);
  lines.push(`exec ${argv.map(shellQuote).join(" ")}`);
  return `${lines.join("\n")}\n`;
}

/** Removes what `dir` holds that is older than `days` (no run lasts a day). */
function forgetOld(dir, days) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    try {
      if (Date.now() - lstatSync(path).mtimeMs > days * 86400_000) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone meanwhile
    }
  }
}

// Interrupted (or exiting), each run stops its QEMU and removes its folders
// (the command script holds the caller's environment); after a signal we
// die of it, as if we had no handler. One set of listeners for all runs.
const interrupted = new Set();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];
function onSignal(sig) {
  for (const f of interrupted) f();
  setImmediate(() => process.kill(process.pid, sig));
}
function onExit() {
  for (const f of interrupted) f();
}
function whenInterrupted(cleanUp, add = true) {
  if (add) interrupted.add(cleanUp);
  else interrupted.delete(cleanUp);
  for (const sig of SIGNALS) process.removeListener(sig, onSignal);
  process.removeListener("exit", onExit);
  if (!interrupted.size) return;
  for (const sig of SIGNALS) process.once(sig, onSignal);
  process.once("exit", onExit);
}

/** Unix-socket servers that QEMU's serial ports connect to, one per name. */
async function serialSockets(dir, names) {
  const servers = {};
  const connections = {};
  for (const name of names) {
    const server = createServer();
    connections[name] = new Promise((resolve) => server.once("connection", resolve));
    server.listen(join(dir, name));
    await once(server, "listening");
    servers[name] = server;
  }
  return { servers, connections };
}

/**
 * Runs `argv` in a fresh guest. Resolves with the command's exit status;
 * rejects with a HarnessError when the harness itself fails.
 * Options: smp, memory (MiB), cpu (QEMU's model), timeout and bootTimeout
 * (s), cwd, env, stdout/stderr (writable streams, default the process's),
 * log, share (a host folder the guest may write, at the same path).
 */
export async function runInKvm(argv, options = {}) {
  const o = { ...defaults(), cwd: process.cwd(), env: process.env, stdout: process.stdout, stderr: process.stderr, log: (s) => process.stderr.write(`${s}\n`), ...options };
  if (!argv.length) throw new HarnessError("no command to run");
  const boot = prepare(o.log);
  mkdirSync(join(cacheRoot(), "runs"), { recursive: true });
  mkdirSync(join(cacheRoot(), "consoles"), { recursive: true });
  forgetOld(join(cacheRoot(), "runs"), 2); // runs killed outright (no handler ran)
  forgetOld(join(cacheRoot(), "consoles"), 7);
  // The run share: the command for the guest, its exit status back.
  const share = mkdtempSync(join(cacheRoot(), "runs", "run-"));
  // Kept only when the run fails, one per run (guests may run side by side).
  const consoleLog = join(cacheRoot(), "consoles", `${basename(share)}.log`);
  // The guest's serial ports reach us on Unix sockets that QEMU connects to:
  // ttyS0 the console (the harness's own lines), ttyS1 stdout, ttyS2 stderr.
  // (A short folder: socket paths are limited to 107 bytes.)
  const sockets = mkdtempSync(join(tmpdir(), "torov-nested-"));
  const ports = ["console", "out", "err"];
  const { servers, connections } = await serialSockets(sockets, ports);
  const consoleLines = [];
  let qemu;
  let failure;
  const timers = [];
  const kill = () => qemu && qemu.exitCode === null && qemu.signalCode === null && qemu.kill("SIGKILL");
  const removeFolders = () => {
    rmSync(share, { recursive: true, force: true });
    rmSync(sockets, { recursive: true, force: true });
  };
  const cleanUp = () => {
    kill();
    removeFolders();
  };
  try {
    writeFileSync(join(share, "command.sh"), commandScript(argv, o.cwd, o.env, boot.tssShim));
    const args = [
      "-accel", "tcg,thread=multi", "-cpu", o.cpu, "-smp", String(o.smp), "-m", `${o.memory}M`,
      "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
      "-kernel", boot.kernel, "-initrd", boot.initrd,
      "-append", "console=ttyS0 loglevel=4 panic=-1 rdinit=/init",
      ...ports.flatMap((id) => ["-chardev", `socket,id=${id},path=${join(sockets, id)}`, "-serial", `chardev:${id}`]),
      "-fsdev", "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap",
      "-device", "virtio-9p-pci,fsdev=host,mount_tag=torov-host",
      "-fsdev", `local,id=run,path=${share},security_model=none`,
      "-device", "virtio-9p-pci,fsdev=run,mount_tag=torov-run",
    ];
    if (o.share) {
      // A folder of the host the guest may write, at the same path (the
      // test runner's work queue): the one exception to "nothing reaches
      // the host", and only when asked.
      if (!/^\/[\w./-]+$/.test(o.share) || !existsSync(o.share)) throw new HarnessError(`the shared folder ${o.share} must exist and have a plain absolute path`);
      args.push("-fsdev", `local,id=share,path=${o.share},security_model=none`, "-device", "virtio-9p-pci,fsdev=share,mount_tag=torov-share");
      args[args.indexOf("console=ttyS0 loglevel=4 panic=-1 rdinit=/init")] += ` torov.share=${o.share}`;
    }
    whenInterrupted(cleanUp);
    // Under setpriv, QEMU is killed with us even when we are killed with
    // SIGKILL and no handler runs.
    const pdeathsig = which("setpriv") ? ["setpriv", "--pdeathsig", "KILL", "--"] : [];
    qemu = spawn(pdeathsig[0] ?? "qemu-system-x86_64", [...pdeathsig.slice(1), ...(pdeathsig.length ? ["qemu-system-x86_64"] : []), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    const qemuSaid = [];
    qemu.stdout.on("data", (d) => qemuSaid.push(String(d)));
    qemu.stderr.on("data", (d) => qemuSaid.push(String(d)));
    const ended = new Promise((resolve) => {
      qemu.once("error", (error) => resolve({ error }));
      qemu.once("close", (code, signal) => resolve({ code, signal }));
    });

    let booted = false;
    let heard = Date.now();
    let partial = "";
    connections.console.then((c) =>
      c.on("data", (d) => {
        const lines = (partial + String(d)).split("\n");
        partial = lines.pop();
        heard = Date.now();
        for (const line of lines) {
          consoleLines.push(line.replace(/\r$/, ""));
          if (consoleLines.length > 300) consoleLines.shift();
          if (line.startsWith("torov-nested: running")) booted = true;
        }
      }),
    );
    // Everything written is passed on, up to the last byte, before we return.
    const drained = ["out", "err"].map(async (id) => {
      const c = await Promise.race([connections[id], ended.then(() => undefined)]);
      if (!c) return;
      c.pipe(id === "out" ? o.stdout : o.stderr, { end: false });
      await once(c, "close");
    });
    timers.push(
      setTimeout(() => {
        if (booted) return;
        failure = new HarnessError(`the guest did not boot within ${o.bootTimeout} s (its console: ${consoleLog})`);
        kill();
      }, o.bootTimeout * 1000),
      setTimeout(() => {
        failure = new HarnessError(`the command did not finish within ${o.timeout} s: the guest was stopped`, TIMED_OUT);
        kill();
      }, o.timeout * 1000),
      setInterval(() => {
        if (!booted || Date.now() - heard < o.silenceTimeout * 1000) return;
        failure = new HarnessError(`the guest stopped: not a word on its console for ${o.silenceTimeout} s (its console: ${consoleLog})`, STALLED);
        kill();
      }, 5000),
    );

    const exit = await ended;
    await Promise.all(drained);
    if (exit.error) throw new HarnessError(`cannot start qemu-system-x86_64: ${exit.error.message}`);
    if (failure) throw failure;
    const errorFile = join(share, "error");
    if (existsSync(errorFile)) throw new HarnessError(`in the guest: ${readFileSync(errorFile, "utf8").trim()} (its console: ${consoleLog})`);
    const statusFile = join(share, "status");
    if (!existsSync(statusFile)) {
      const panic = consoleLines.find((l) => /Kernel panic|BUG:|Oops/.test(l));
      const said = qemuSaid.join("").trim().split("\n").find((l) => l.trim() && !/warning:/.test(l));
      const why = panic
        ? `the guest's kernel failed: ${panic.replace(/^\[[\s\d.]+\]\s*/, "")}`
        : said
          ? `qemu: ${said}`
          : booted
            ? "the guest stopped before the command ended"
            : "the guest did not boot";
      throw new HarnessError(`${why} (its console: ${consoleLog})`);
    }
    const status = readFileSync(statusFile, "utf8").trim();
    if (!/^\d{1,3}$/.test(status) || Number(status) > 255) throw new HarnessError(`the guest wrote no exit status, but "${status.slice(0, 40)}" (its console: ${consoleLog})`);
    return Number(status);
  } catch (e) {
    writeFileSync(consoleLog, `${consoleLines.join("\n")}\n`);
    throw e;
  } finally {
    for (const t of timers) clearTimeout(t);
    kill();
    whenInterrupted(cleanUp, false);
    for (const s of Object.values(servers)) s.close();
    removeFolders();
  }
}

// ---- the command line

function usage(problem) {
  process.stderr.write(`torov nested: ${problem}\nusage: run-in-kvm.mjs [--smp N] [--memory MiB] [--timeout SECONDS] [--cpu MODEL] [--] CMD [ARGS...]\n`);
  process.exit(2);
}

async function main(args) {
  const o = {};
  let i = 0;
  const numeric = { "--smp": ["smp", 1, 64], "--memory": ["memory", 512, 65536], "--timeout": ["timeout", 1, 86400] };
  for (; i < args.length && args[i].startsWith("-"); i++) {
    if (args[i] === "--") {
      i++;
      break;
    }
    if (args[i] === "--cpu") {
      const v = args[++i];
      if (v === undefined || !/^[\w,+=.-]+$/.test(v)) usage(`--cpu takes a QEMU CPU model (letters, digits and ,+=.-), not ${v ?? "nothing"}`);
      o.cpu = v;
      continue;
    }
    const spec = numeric[args[i]];
    if (!spec) usage(`unknown option ${args[i]}`);
    const v = args[++i];
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < spec[1] || Number(v) > spec[2]) usage(`${args[i - 1]} takes a number from ${spec[1]} to ${spec[2]}, not ${v ?? "nothing"}`);
    o[spec[0]] = Number(v);
  }
  if (i >= args.length) usage("no command to run");
  try {
    process.exitCode = await runInKvm(args.slice(i), o);
  } catch (e) {
    if (!(e instanceof HarnessError)) throw e;
    process.stderr.write(`torov nested: ${e.message}\n`);
    process.exitCode = e.status;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main(process.argv.slice(2));

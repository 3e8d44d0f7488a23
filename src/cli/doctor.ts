// torov doctor: what this host offers torov, on one screen a user can paste
// into a bug report. Exit status 0 when torov can run VMs here, 1 otherwise.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { arch, cpus, platform, release } from "node:os";
import { join } from "node:path";
import { Machine } from "../vmm/machine.js";
import { describeMount } from "../vmm/lending.js";
import { loadManifest } from "../vmm/manifest.js";
import { flavourDescription } from "../vmm/flavour.js";
import { native, type DebugProbe, type ProbeCall } from "../vmm/native.js";
import type { Policy } from "../vmm/policy.js";
import { hostFilter } from "../vmm/seccomp.js";
import { LINUX_SYSCALLS } from "../vmm/syscalls.js";
import { errnoName } from "../trace/format.js";
import { style } from "./ui.js";

function firstLine(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: 5000 });
  if (r.error || r.status !== 0) return undefined;
  return `${r.stdout}${r.stderr}`.split("\n").find((l) => l.trim())?.trim();
}

export async function run(manifestPath?: string): Promise<void> {
  const rows: Array<[string, string]> = [];
  const add = (k: string, v: string) => rows.push([k, v]);
  const version = JSON.parse(readFileSync(`${__dirname}/../../../package.json`, "utf8")).version as string;
  add("torov", `${version} (Node ${process.version}, ${platform()} ${arch()})`);
  add("host", `Linux ${release()}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} CPUs`);

  let usable = false;
  try {
    const kvm = native().kvmInfo();
    add("KVM", `/dev/kvm usable; ${flavourDescription(kvm)}`);
    add("capabilities", `sync regs ${yes(kvm.syncRegs)}, immediate exit ${yes(kvm.immediateExit)}, guest debug ioctl ${yes(kvm.guestDebug)}, debug regs ioctl ${yes(kvm.debugRegs)}, hw breakpoints ${kvm.hwBreakpoints}`);
    const exit = native().rawExitBenchmark(2000);
    add("test VM", `booted and ran; a user-mode exit costs ${exit.toFixed(1)} µs`);
    usable = true;
    add("debugging", debugging(native().probeDebug()).join("\n"));
  } catch (e) {
    add("KVM", style.red((e as Error).message));
  }

  add("containment", await containment(usable));
  if (manifestPath !== undefined) add("guest view", guestView(manifestPath, usable));

  const tools: Array<[string, string[]]> = [["gdb", ["--version"]], ["gdbserver", ["--version"]], ["lldb", ["--version"]], ["strace", ["-V"]], ["gcc", ["--version"]], ["musl-gcc", ["--version"]], ["busybox", ["--help"]]];
  add("tools", tools.map(([t, a]) => `${t}: ${firstLine(t, a) ?? style.dim("not found")}`).join("\n"));

  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) {
    const [first, ...more] = v.split("\n");
    process.stdout.write(`${style.bold(k.padEnd(width))}  ${first}\n`);
    for (const m of more) process.stdout.write(`${" ".repeat(width)}  ${m}\n`);
  }
  process.exitCode = usable ? 0 : 1;
}

/**
 * What the manifest's guest sees: "/", each mount (the lent ones said so),
 * and who made the mounts. The VM is built, its program loaded, not run.
 */
function guestView(path: string, usable: boolean): string {
  const manifest = loadManifest(path);
  const lines = [`/ = ${manifest.mountPoint ?? "nothing (no MountPoint): only /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom"}`];
  if (!usable) {
    lines.push(...manifest.mounts.map(describeMount), "(no VM here: what torov would lend is not known)");
    return lines.join("\n");
  }
  try {
    const machine = new Machine(manifest, { stdio: [-1, -1, -1] });
    const interp = machine.image.elf?.interp;
    lines.push(...machine.mounts.map(describeMount));
    if (interp !== undefined && machine.lent.length === 0) lines.push(`the interpreter ${interp} is in what the manifest gives: torov lends nothing`);
    if (interp !== undefined && !manifest.lendLoader) lines.push("LendLoader is false: torov lends nothing");
    const by = machine.native.mountsMadeBy();
    if (machine.mounts.length) lines.push(`mounts: detached bind mounts, read-only ones made read-only by the kernel${by ? ` (made ${by === "root" ? "as root" : "in a user namespace"})` : ""}`);
    machine.kill();
  } catch (e) {
    lines.push(style.red((e as Error).message));
  }
  return lines.join("\n");
}

/** Runs the hello example and reports the layers its vCPU thread got into. */
async function containment(usable: boolean): Promise<string> {
  const lines = [`paths: openat2 RESOLVE_IN_ROOT ${native().openInRoot("/", "/") >= 0 ? "works (always on)" : style.red("is not available (Linux >= 5.6 needed)")}`];
  const hello = join(__dirname, "..", "..", "..", "examples", "hello", "hello.json");
  if (!usable || !existsSync(hello)) return [...lines, "(no test VM: the other layers are not known)"].join("\n");
  try {
    const machine = new Machine(loadManifest(hello), { stdio: [-1, -1, -1] });
    await machine.start();
    const c = machine.native.containment();
    if (c) {
      const privileged = process.getuid?.() === 0 ? "" : " (needs root)";
      lines.push(`mount namespace + chroot to MountPoint: ${c.chroot === "" ? "active" : `off: ${c.chroot}${privileged}`}`);
      lines.push(`capabilities of the vCPU thread: ${c.capabilities === "" ? "none (all dropped after set-up)" : style.red(`kept: ${c.capabilities}`)}`);
      lines.push(`seccomp on the vCPU thread: ${c.seccomp === "" ? `active (${c.hostSyscalls} host syscalls admitted for the hello example)` : style.red(`off: ${c.seccomp}`)}`);
      if (c.seccomp === "") lines.push(`  ${refusal(machine.policy)}`);
    }
  } catch (e) {
    lines.push(style.red(`test VM failed: ${(e as Error).message}`));
  }
  return lines.join("\n");
}

/** Proof on a scratch thread under the same filter: calls outside it are refused. */
function refusal(policy: Policy): string {
  const nr = (name: string) => LINUX_SYSCALLS.get(name)!;
  const checks: Array<[string, ProbeCall, number]> = [
    ["socket", { nr: nr("socket"), args: [2 /* AF_INET */, 1 /* SOCK_STREAM */, 0] }, -1],
    ["open", { nr: nr("open"), args: [{ str: "/" }, 0o200000 /* O_DIRECTORY */] }, -1],
    ["openat AT_FDCWD", { nr: nr("openat"), args: [-100, { str: "/" }, 0o200000] }, -1],
    ["ioctl TIOCSTI", { nr: nr("ioctl"), args: ["other", 0x5412, { buf: 1 }] }, -1],
    ["getpid", { nr: nr("getpid"), args: [] }, process.pid],
  ];
  const p = native().probeSeccomp(hostFilter(policy), checks.map(([, call]) => call));
  if (p.installed) return style.red(`a scratch thread could not be filtered: ${p.installed}`);
  const name = (r: number) => (r >= 0 ? "ok" : errnoName(-r));
  const said = checks.map(([what], i) => `${what} ${name(p.results[i])}`).join(", ");
  const refused = checks.every(([, , want], i) => (want < 0 ? p.results[i] === -1 /* EPERM */ : p.results[i] === want));
  return refused ? `checked: ${said}` : style.red(`NOT refusing as it should: ${said}`);
}

/** Which mechanism each debugger feature uses here, as the probe decided (native/debug.h). */
function debugging(p: DebugProbe): string[] {
  const m = p.mechanisms;
  const lines = [
    `single step: ${m.kvmStep ? "KVM's (KVM_GUESTDBG_SINGLESTEP)" : "the trap flag, through the runtime's #DB handler"}`,
    `breakpoints: int3, ${m.kvmInt3 ? "intercepted by KVM (KVM_GUESTDBG_USE_SW_BP)" : "through the runtime's #BP handler"}`,
    m.debugRegisters
      ? "hardware breakpoints and watchpoints: the 4 debug registers (KVM_GUESTDBG_USE_HW_BP), as gdbserver's"
      : "hardware breakpoints: int3s; watchpoints: page protection, any number and length",
  ];
  // What KVM did not do, from the probe's own runs.
  const names = ["single step", "int3 interception", "execute breakpoint", "data breakpoint"];
  const asked = [p.kvmStep, p.kvmSwBreakpoints, p.kvmHwBreakpoints, p.kvmWatchpoints];
  for (const [i, n] of names.entries()) if (!asked[i]) lines.push(style.dim(`KVM gave no ${n}: ${p.seen[i]}`));
  return lines;
}

function yes(b: boolean): string {
  return b ? "yes" : "no";
}

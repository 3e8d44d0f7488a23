// A torov VM for one application: the manifest, the policy, the loaded
// program and its initial stack, over the native Machine. One Node process
// can run many of them at once.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { TorovError } from "./errors.js";
import { closeProgram, loadImage, loadInterpreter, readImage, type LoadedImage } from "./image.js";
import { lentFor } from "./lending.js";
import { loadManifest, type Manifest, type MountSpec } from "./manifest.js";
import { native, type NativeMachine, type NativeRunResult } from "./native.js";
import { Policy } from "./policy.js";
import { hostFilter } from "./seccomp.js";
import { outcome, type RunOutcome } from "./report.js";
import {
  AT_BASE, AT_CLKTCK, AT_EGID, AT_ENTRY, AT_EUID, AT_FLAGS, AT_GID, AT_HWCAP, AT_HWCAP2, AT_MINSIGSTKSZ,
  AT_PAGESZ, AT_PHDR, AT_PHENT, AT_PHNUM, AT_SECURE, AT_UID, buildStack, type BuiltStack,
} from "./stack.js";

export interface MachineOptions {
  /** Arguments after the manifest's Args (the command line's `-- args`). */
  readonly args?: readonly string[];
  /** Replaces the manifest's policy (torov profile allows everything). */
  readonly policy?: Policy;
  /**
   * Host file descriptors the guest's stdin, stdout and stderr share
   * (-1: closed). Default: this process's own 0, 1, 2.
   */
  readonly stdio?: readonly [number, number, number];
}

/** The host's own auxv values that describe the CPU, read once. */
let hostAux: Map<number, number> | undefined;
function hostAuxv(): Map<number, number> {
  if (hostAux) return hostAux;
  hostAux = new Map();
  try {
    const b = readFileSync("/proc/self/auxv");
    for (let o = 0; o + 16 <= b.length; o += 16) {
      const key = Number(b.readBigUInt64LE(o));
      if (key === 0) break;
      hostAux.set(key, Number(b.readBigUInt64LE(o + 8)));
    }
  } catch {
    // no /proc: the defaults below
  }
  return hostAux;
}

export class Machine {
  readonly manifest: Manifest;
  readonly policy: Policy;
  readonly image: LoadedImage;
  readonly stack: BuiltStack;
  readonly argv: readonly string[];
  /** Every mount the guest sees: the manifest's, then what torov lent (lending.ts). */
  readonly mounts: readonly MountSpec[];
  /** What torov lent the program's loader (LendLoader); empty when nothing. */
  readonly lent: readonly MountSpec[];
  readonly native: NativeMachine;
  private running: Promise<RunOutcome> | undefined;

  /** Builds the VM and loads the program; nothing runs until start(). */
  constructor(manifest: Manifest, options: MachineOptions = {}) {
    this.manifest = manifest;
    this.policy = options.policy ?? new Policy(manifest.hypercalls);
    const exeName = basename(manifest.binary);
    const program = readImage(manifest.binary, manifest.startaddr);
    try {
      this.lent = lentFor(manifest, program.elf?.interp);
      this.mounts = [...manifest.mounts, ...this.lent];
      this.native = new (native().NativeMachine)({
      // Guest RAM comes in 2 MiB units (one page table each).
      memory: Math.ceil(manifest.memoryMiB / 2) * 2 * 2 ** 20,
      processes: manifest.processes,
      root: manifest.mountPoint,
      mounts: this.mounts.map((m) => ({ source: m.source, target: m.target, readOnly: m.readOnly })),
      exe: manifest.binary,
      exeName,
      newpid: manifest.newpid,
      flat: !program.elf,
      onDenied: manifest.onDenied,
      allowed: this.policy.bitmap(),
      hostFilter: hostFilter(this.policy, { mounts: this.mounts.length > 0 }),
      stdio: options.stdio ? [...options.stdio] : undefined,
      userSlots: process.env.TOROV_TEST_USER_SLOTS === "1",
      });
      const image = loadImage(this.native, program, manifest.memoryMiB, manifest.startaddr);
      this.image = image.elf?.interp !== undefined ? { ...image, interp: loadInterpreter(this.native, image, manifest.mountPoint, this.lent.map((m) => m.target)) } : image;
    } finally {
      closeProgram(program);
    }
    const m = this.native;
    const { layout } = this.image;
    if (!m.addMapping(layout.stackLow, layout.stackHigh, 3, "stack"))
      throw new TorovError(`${manifest.path}: no room for the stack`, "EMEMORY");
    m.setBrk(layout.brk);
    m.setMmapTop(this.image.interp?.low ?? layout.mmapTop);

    this.argv = [exeName, ...manifest.args, ...(options.args ?? [])];
    const envp = Object.entries(manifest.env).map(([k, v]) => `${k}=${v}`);
    const aux = hostAuxv();
    const random = native().getRandom(new Uint8Array(16));
    const auxv: Array<[number, number]> = [
      [AT_HWCAP, aux.get(AT_HWCAP) ?? 0],
      [AT_PAGESZ, 4096],
      [AT_CLKTCK, aux.get(AT_CLKTCK) ?? 100],
      [AT_PHDR, this.image.phdr],
      [AT_PHENT, 56],
      [AT_PHNUM, this.image.phnum],
      [AT_BASE, this.image.interp?.bias ?? 0],
      [AT_FLAGS, 0],
      [AT_ENTRY, this.image.entry],
      [AT_UID, process.getuid?.() ?? 0],
      [AT_EUID, process.geteuid?.() ?? 0],
      [AT_GID, process.getgid?.() ?? 0],
      [AT_EGID, process.getegid?.() ?? 0],
      [AT_SECURE, 0],
      [AT_HWCAP2, aux.get(AT_HWCAP2) ?? 0],
    ];
    if (aux.has(AT_MINSIGSTKSZ)) auxv.push([AT_MINSIGSTKSZ, aux.get(AT_MINSIGSTKSZ)!]);
    try {
      this.stack = buildStack(layout.stackHigh, layout.stackLow, {
        argv: this.argv,
        envp,
        execfn: exeName,
        random,
        auxv,
      });
    } catch (e) {
      if (e instanceof RangeError) throw new TorovError(`${manifest.path}: the arguments and environment do not fit in the 8 MiB stack`, "EMEMORY");
      throw e;
    }
    m.write(this.stack.rsp, this.stack.bytes);
  }

  /** Runs the guest; resolves when it has ended. */
  start(): Promise<RunOutcome> {
    if (this.running) return this.running;
    this.running = new Promise((resolve) => {
      this.native.start({ rip: this.image.interp?.entry ?? this.image.entry, rsp: this.stack.rsp }, (r: NativeRunResult) =>
        resolve(outcome(r, this.image)),
      );
    });
    return this.running;
  }

  /** Ends a running guest (it is reported as stopped). */
  kill(): void {
    this.native.kill();
  }
}

export interface RunOptions extends MachineOptions {
  /** Where reports go (a crash, a denied hypercall that killed the guest); null: nowhere. */
  readonly stderr?: NodeJS.WritableStream | null;
}

/**
 * Runs an application to its end: `manifest` is a path or a loaded
 * manifest. Resolves with the exit status a shell would see.
 */
export async function run(manifest: string | Manifest, options: RunOptions = {}): Promise<number> {
  const m = typeof manifest === "string" ? loadManifest(manifest) : manifest;
  const result = await new Machine(m, options).start();
  const out = options.stderr === undefined ? process.stderr : options.stderr;
  if (out && result.report.length) out.write(result.report.join("\n") + "\n");
  return result.status;
}

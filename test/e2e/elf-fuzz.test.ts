// Mutated programs through the real command line: `torov run app.json` on a
// program whose headers were mutated (test/elf-mutations.ts) either runs it
// — to any exit status, or to a signal the report names — or refuses it
// with one line on stderr that names the file, exit status 2. Never a stack
// trace, never status 70 (a bug in torov), never node itself killed, never
// a hang. test/unit/elf-fuzz.test.ts does the same to many more cases
// without KVM; this checks that the real native side agrees.
//
// TOROV_FUZZ_SEED, TOROV_FUZZ_PATH, TOROV_FUZZ_RUNS and TOROV_FUZZ_STATS as there.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { basename, dirname, join } from "node:path";
import { test } from "node:test";
import * as fc from "fast-check";
import { parseElf } from "../../src/vmm/elf.js";
import { appHighFor } from "../../src/vmm/layout.js";
import { Machine } from "../../src/vmm/machine.js";
import { loadManifest, MAX_MEMORY_MIB, MIN_MEMORY_MIB } from "../../src/vmm/manifest.js";
import { mutate, mutationArb, REPLAY, runs } from "../elf-mutations.js";
import { BIN, EXAMPLES, guest, ROOT, scaled, tempDir, variants, writeManifest } from "../helpers.js";

/** A run may take this long; then it must be the guest that hangs (see guestHangs()). */
const CASE_MS = scaled(3000);

const REAL = [...variants("args").map(guest), join(EXAMPLES, "hello", "hello")].filter((p) => existsSync(p));

interface Run {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Did not end in CASE_MS, because of the guest (why): killed. */
  hung?: string;
}

/** Each thread of `pid`: its name, CPU ticks so far (user + system), and where it sleeps. */
function threads(pid: number): Array<{ name: string; ticks: number; wchan: string }> {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // from field 3, the state
      const wchan = readFileSync(`/proc/${pid}/task/${tid}/wchan`, "utf8");
      return [{ name: stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")")), ticks: Number(fields[11]) + Number(fields[12]), wchan }];
    } catch {
      return []; // the thread ended
    }
  });
}

/**
 * Why a run that has not ended is the guest's doing, or undefined when it
 * is not. Mutated headers can make a program hang as it would under Linux
 * (garbage where .bss should be zero): it loops, and its vCPU thread keeps a
 * CPU busy; or it waits on a futex that nothing can wake, and the vCPU
 * thread sleeps in pause() (native/hypercalls/process.cc). Either way
 * Node's own threads, where loading and the CLI happen, are idle.
 */
async function guestHangs(pid: number): Promise<string | undefined> {
  const ticks = (ts: ReturnType<typeof threads>, vcpu: boolean) =>
    ts.filter((t) => (t.name === "torov-vcpu") === vcpu).reduce((n, t) => n + t.ticks, 0);
  const before = threads(pid);
  await new Promise((r) => setTimeout(r, 500)); // 50 ticks at CLK_TCK 100
  const after = threads(pid);
  if (ticks(after, false) - ticks(before, false) > 5) return undefined;
  if (ticks(after, true) - ticks(before, true) >= 25) return "guest loops";
  if (after.some((t) => t.name === "torov-vcpu" && t.wchan === "__do_sys_pause")) return "guest deadlocked";
  return undefined;
}

function run(manifest: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "run", manifest], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: "0" } });
    child.stdin.end();
    let [stdout, stderr, hung] = ["", "", undefined as string | undefined];
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(async () => {
      try {
        hung = await guestHangs(child.pid!);
      } catch {
        // it ended meanwhile
      }
      if (!hung) reject(new Error(`torov run did not finish in ${CASE_MS} ms, and it is not the guest that hangs`));
      child.kill("SIGKILL");
    }, CASE_MS);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve(hung ? { status: null, signal: null, stdout, stderr, hung } : { status, signal, stdout, stderr });
    });
  });
}

/** What the outcome was, once checked: "refused", "ran", "killed by SIG...". */
function check(r: Run, path: string): string {
  const name = basename(path);
  const show = () => `status ${r.status}, stderr:\n${r.stderr}`;
  if (r.hung) return r.hung;
  assert.equal(r.signal, null, `node itself was killed by ${r.signal}: ${show()}`);
  assert.notEqual(r.status, 70, `a bug in torov: ${show()}`);
  assert.doesNotMatch(r.stderr, /internal error|^ {4}at |^\w*Error\b/m, `a JavaScript error: ${show()}`);
  const lines = r.stderr.split("\n").filter((l) => l.startsWith("torov:"));
  if (lines.length === 0) return "ran"; // and exited on its own, with any status
  assert.equal(lines.length, 1, `one report: ${show()}`);
  const [line] = lines;
  const killed = /^torov: (\S+) killed by (SIG[A-Z0-9]+)(:|$| \()/.exec(line);
  if (killed) {
    assert.equal(killed[1], name);
    assert.equal(r.status, 128 + constants.signals[killed[2] as NodeJS.Signals], show());
    return `killed by ${killed[2]}`;
  }
  // Refused (or stopped by an error while running): one line naming the program.
  assert.equal(r.status, 2, show());
  assert.equal(r.stderr, `${line}\n`, `one line and nothing else: ${show()}`);
  assert.ok(line.startsWith(`torov: ${path}: `) || line.startsWith(`torov: ${name}: `), `names the program: ${line}`);
  assert.doesNotMatch(line, /[\x00-\x1f\x7f-\x9f]|\bundefined\b|\bNaN\b/, line);
  return "refused";
}

test("mutated programs run or are refused in one line, through torov run", async () => {
  assert.ok(REAL.length >= 2, "the test guests are built (make -C test/guests)");
  const dir = tempDir("torov-elf-fuzz-");
  mkdirSync(join(dir, "root"));
  const files = REAL.map((path) => ({ name: basename(path), bytes: readFileSync(path) }));
  const seen = new Map<string, number>();
  const t0 = Date.now();
  await fc.assert(
    fc.asyncProperty(fc.nat(files.length - 1), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), fc.constantFrom(16, 256), async (which, mutations, memoryMiB) => {
      const f = files[which];
      const path = join(dir, f.name);
      rmSync(path, { force: true });
      writeFileSync(path, mutate(f.bytes, mutations), { mode: 0o755 });
      // Nothing but write: a mutated program must not reach anything else.
      const manifest = (mib: number) =>
        writeManifest(dir, { binary: f.name, hypercalls: [{ Name: "write", Allowed: true }], extra: { Memory: mib } });
      const r = await run(manifest(memoryMiB));
      const what = check(r, path);
      seen.set(what, (seen.get(what) ?? 0) + 1);
      // Advice to raise Memory works with the real machine's page tables.
      const advice = /set "Memory" to at least (\d+)$/.exec(r.stderr.trimEnd());
      if (advice) assert.doesNotMatch((await run(manifest(Number(advice[1])))).stderr, /does not fit in Memory/);
    }),
    runs(60),
  );
  // Both sides were reached: programs refused, and programs that ran.
  const ran = [...seen].filter(([k]) => k !== "refused" && !k.startsWith("guest")).reduce((n, [, c]) => n + c, 0);
  if (!REPLAY) assert.ok((seen.get("refused") ?? 0) >= 5 && ran >= 5, JSON.stringify([...seen]));
  if (process.env.TOROV_FUZZ_STATS) console.error([...seen], `${Date.now() - t0} ms`);
});

test("the Memory advice's model of guest memory is the native machine's", () => {
  // planLayout() finds the least Memory that holds a program with appHighFor().
  const dir = tempDir("torov-elf-fuzz-");
  mkdirSync(join(dir, "root"));
  for (const mib of [MIN_MEMORY_MIB, 17, 255, 1025, 4096, MAX_MEMORY_MIB]) {
    const m = new Machine(loadManifest(writeManifest(dir, { binary: REAL[0], extra: { Memory: mib } })));
    try {
      assert.equal(m.native.appHigh, appHighFor(mib), `Memory ${mib}`);
    } finally {
      m.kill();
    }
  }
});

test("mutated interpreters: a dynamic program whose ld.so was mutated runs or is refused in one line naming it", { skip: !existsSync(guest("dynamic")) && "no dynamic guest" }, async () => {
  const program = guest("dynamic");
  const interp = parseElf(readFileSync(program), program).interp!;
  const real = readFileSync(realpathSync(interp));
  const libc = /=> (\/\S+libc\.so\.6) \(0x/.exec(spawnSync("ldd", [program], { encoding: "utf8" }).stdout ?? "")?.[1];
  assert.ok(libc, "ldd names libc");
  const dir = tempDir("torov-elf-fuzz-");
  const root = join(dir, "root");
  mkdirSync(join(root, dirname(interp)), { recursive: true });
  mkdirSync(join(root, dirname(libc)), { recursive: true });
  copyFileSync(realpathSync(libc), join(root, libc));
  const seen = new Map<string, number>();
  await fc.assert(
    fc.asyncProperty(fc.array(mutationArb, { minLength: 1, maxLength: 3 }), async (mutations) => {
      const at = join(root, interp);
      rmSync(at, { force: true });
      writeFileSync(at, mutate(real, mutations), { mode: 0o755 });
      // The MountPoint is this test's own folder: what a mutated loader does there stays there.
      const what = check(await run(writeManifest(dir, { binary: program, mountPoint: root, extra: { Memory: 64 } })), program);
      seen.set(what, (seen.get(what) ?? 0) + 1);
    }),
    runs(30),
  );
  if (!REPLAY) assert.ok((seen.get("refused") ?? 0) >= 3, JSON.stringify([...seen]));
  if (process.env.TOROV_FUZZ_STATS) console.error([...seen]);
});

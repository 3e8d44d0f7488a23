// npm run bench:dynamic: what a dynamically linked program costs (issue 18),
// against baselines measured in the same run, rounds interleaved:
//
//   (h) whole process: wall time and peak RSS of a static hello, a dynamic
//       hello and sqlite3 (one query on :memory:), natively and under
//       `torov run` (from an empty MountPoint: the loader's folders lent),
//       and `node -e 0`
//   (i) in-process, VM creation to guest exit: dynamic hello against static
//       hello (what ld.so's start-up costs under torov: opening and mapping
//       libc, relocations)
//   (j) ten VMs of the dynamic hello alive at once in one Node process
//       against one: how much resident memory each more VM adds, with the
//       libraries' clean pages shared (native/snapshot.h) and, for
//       comparison, copied into each VM (TOROV_COPY_FILE_MAPPINGS=1)
//
// Usage: npm run bench:dynamic [-- --runs N] [--json FILE]

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { arg, build, inProcess, machineDescription, ROOT, runWhereKvmIs, TOROV, wholeProcess } from "./bench-common.js";

const RUNS = Number(arg("--runs", "15"));
const VMS = 10;

/** A manifest for `binary` with an empty MountPoint, in `dir`. */
function manifest(dir: string, name: string, binary: string, args: string[] = []): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ Binary: binary, MountPoint: "root", Args: args, Env: { HOME: "/nonexistent" }, Hypercalls: [{ Name: "*" }] }));
  return path;
}

/**
 * (j): the resident memory of a Node process running `count` VMs of
 * `path` at once, each sleeping once its hello is written, read while all
 * are alive (KiB).
 */
function residentWith(path: string, count: number, copy: boolean): number {
  const script = `
    const { Machine } = require(${JSON.stringify(join(ROOT, "dist", "src", "vmm", "machine.js"))});
    const { loadManifest } = require(${JSON.stringify(join(ROOT, "dist", "src", "vmm", "manifest.js"))});
    const { openSync } = require("node:fs");
    const null_ = openSync("/dev/null", "w");
    const m = loadManifest(${JSON.stringify(path)});
    const runs = [];
    for (let i = 0; i < ${count}; i++) runs.push(new Machine(m, { stdio: [-1, null_, null_] }).start());
    setTimeout(() => {
      const rss = /VmRSS:\\s+(\\d+)/.exec(require("node:fs").readFileSync("/proc/self/status", "utf8"))[1];
      Promise.all(runs).then((r) => { if (r.some((x) => x.status !== 0)) process.exit(1); console.log(rss); });
    }, 1500);`;
  const env = { ...process.env, ...(copy ? { TOROV_COPY_FILE_MAPPINGS: "1" } : {}) };
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env });
  if (r.status !== 0) throw new Error(`${count} VMs: ${r.stdout}${r.stderr}`);
  return Number(r.stdout.trim());
}

async function main(): Promise<void> {
  await runWhereKvmIs();
  const rusage = build("rusage.c", "rusage", []);
  const stat = build("hello.c", "hello-static", ["-static"]);
  const dyn = build("hello.c", "hello-dynamic", []);
  const sqlite = spawnSync("sh", ["-c", "command -v sqlite3"], { encoding: "utf8" }).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), "torov-bench-dynamic-"));
  try {
    mkdirSync(join(dir, "root"));
    const query = [":memory:", "create table t(x); insert into t values (1),(2),(3); select sum(x) from t;"];
    const m = {
      stat: manifest(dir, "static", stat),
      dyn: manifest(dir, "dynamic", dyn),
      hold: manifest(dir, "hold", dyn, ["1500"]),
      sqlite: sqlite ? manifest(dir, "sqlite", sqlite, query) : undefined,
    };
    const torov = (path: string) => [process.execPath, TOROV, "run", path];
    const commands: Record<string, string[]> = {
      node: [process.execPath, "-e", "0"],
      "static native": [stat],
      "dynamic native": [dyn],
      "static torov": torov(m.stat),
      "dynamic torov": torov(m.dyn),
      ...(sqlite ? { "sqlite3 native": [sqlite, ...query], "sqlite3 torov": torov(m.sqlite!) } : {}),
    };
    const whole = wholeProcess(rusage, RUNS, commands);
    const inStatic = await inProcess(m.stat, RUNS);
    const inDynamic = await inProcess(m.dyn, RUNS);
    const one = residentWith(m.hold, 1, false);
    const ten = residentWith(m.hold, VMS, false);
    const oneCopy = residentWith(m.hold, 1, true);
    const tenCopy = residentWith(m.hold, VMS, true);

    const f = (x: number, d = 2) => x.toFixed(d);
    console.log(`torov bench:dynamic on ${machineDescription()}, ${RUNS} runs each, medians`);
    console.log("(h) whole process: wall ms, peak RSS MiB");
    for (const [name, v] of Object.entries(whole)) console.log(`    ${name.padEnd(16)} ${f(v.ms).padStart(8)} ms ${f(v.rssKiB / 1024, 1).padStart(7)} MiB`);
    const w = (n: string) => whole[n];
    console.log(`    dynamic / static under torov: ${f(w("dynamic torov").ms / w("static torov").ms)}x wall, natively ${f(w("dynamic native").ms / w("static native").ms)}x`);
    console.log(`    torov run of dynamic hello beyond node -e 0: +${f(w("dynamic torov").ms - w("node").ms)} ms, +${f((w("dynamic torov").rssKiB - w("node").rssKiB) / 1024, 1)} MiB`);
    if (sqlite) console.log(`    sqlite3 under torov beyond node -e 0: +${f(w("sqlite3 torov").ms - w("node").ms)} ms (natively ${f(w("sqlite3 native").ms)} ms)`);
    console.log(`(i) in-process, VM creation to exit: static ${f(inStatic)} ms, dynamic ${f(inDynamic)} ms (${f(inDynamic / inStatic)}x)`);
    console.log(`(j) resident memory of one Node process: 1 VM ${f(one / 1024, 1)} MiB, ${VMS} VMs ${f(ten / 1024, 1)} MiB: +${f((ten - one) / (VMS - 1) / 1024, 2)} MiB per more VM`);
    console.log(`    libraries copied into each VM instead: 1 VM ${f(oneCopy / 1024, 1)} MiB, ${VMS} VMs ${f(tenCopy / 1024, 1)} MiB: +${f((tenCopy - oneCopy) / (VMS - 1) / 1024, 2)} MiB per more VM`);
    const json = arg("--json", "");
    if (json)
      writeFileSync(json, JSON.stringify({ machine: machineDescription(), runs: RUNS, whole, inProcess: { static: inStatic, dynamic: inDynamic }, resident: { one, ten, oneCopy, tenCopy, vms: VMS } }, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`torov bench:dynamic: ${(e as Error).message}`);
  process.exit(1);
});

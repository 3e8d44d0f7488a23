// Issue 18: dynamically linked programs, started as Linux's binfmt_elf
// starts them: the program and its interpreter (PT_INTERP) mapped, the
// interpreter found in what the guest sees, AT_BASE, the interpreter's
// entry first. test/guests/dynamic/dynamic.c says what its loader did and
// what libc did for it; each run is compared with the same program run
// natively. Here the guest's MountPoint holds copies of the loader and the
// libraries it needs, at the paths the host has them, or (the host's own
// programs) nothing: torov lends the loader's folders (test/e2e/mounts.test.ts).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { parseElf } from "../../src/vmm/elf.js";
import { guest, tempDir, torov, writeManifest } from "../helpers.js";
import { gdbBatch, hasGdb, startDebug, startGdbserver } from "./debugger.js";

const VARIANTS = ["dynamic", "dynamic.nopie", "dynamic.musl"].filter((v) => existsSync(guest(v)));

function interpOf(binary: string): string {
  const elf = parseElf(readFileSync(binary), binary);
  assert.ok(elf.interp, `${binary} has no PT_INTERP`);
  return elf.interp;
}

/** Copies host file `path` to the same path under `root`, its folders made. */
function copyIn(root: string, path: string, from = path): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  copyFileSync(realpathSync(from), join(root, path));
}

/**
 * A MountPoint with what `binary` needs to start: its interpreter (where
 * the host's path to it is a symlink, an absolute symlink in the guest too,
 * which must resolve inside the MountPoint) and the libraries ldd names.
 */
function loaderRoot(binary: string): string {
  const root = join(tempDir(), "root");
  mkdirSync(root);
  const interp = interpOf(binary);
  const link = lstatSync(interp).isSymbolicLink() ? readlinkSync(interp) : undefined;
  if (link?.startsWith("/")) {
    copyIn(root, link, interp);
    mkdirSync(dirname(join(root, interp)), { recursive: true });
    symlinkSync(link, join(root, interp));
  } else {
    copyIn(root, interp);
  }
  // glibc's ldd; musl's libc is its interpreter, and its ldd is not this one.
  const ldd = spawnSync("ldd", [binary], { encoding: "utf8" });
  for (const m of (ldd.stdout ?? "").matchAll(/=> (\/\S+) \(0x/g)) if (!existsSync(join(root, m[1]))) copyIn(root, m[1]);
  return root;
}

/** Runs `binary` with `root` as its MountPoint; `lend` false: LendLoader off, so the root alone is what the guest sees. */
function runIn(root: string, binary: string, args: string[], env: Record<string, string> = {}, lend = true) {
  const dir = dirname(root);
  const manifest = writeManifest(dir, { binary, mountPoint: root, args, env, extra: lend ? {} : { LendLoader: false } });
  return torov(["run", manifest]);
}

for (const v of VARIANTS) {
  test(`${v}: a dynamically linked program runs as it does natively: its loader, libc, a thread`, () => {
    const binary = guest(v);
    const native = spawnSync(binary, ["one", "two"], { encoding: "utf8", env: { GREETING: "hi" } });
    assert.equal(native.status, 7, native.stderr);
    const r = runIn(loaderRoot(binary), binary, ["one", "two"], { GREETING: "hi" });
    assert.equal(r.stderr, "");
    assert.equal(r.status, 7);
    assert.equal(r.stdout, native.stdout);
    // What the comparison rests on: the loader did run, and found libc.
    assert.match(r.stdout, /^AT_BASE set: yes$/m);
    assert.match(r.stdout, /^AT_ENTRY is _start: yes$/m);
    assert.match(r.stdout, /^object: (libc\.so\.6|ld-musl-x86_64\.so\.1)$/m);
    assert.match(r.stdout, /^thread: thread says hello$/m);
  });
}

const GLIBC = existsSync(guest("dynamic"));

test("glibc's ld.so run as a program: --list names the libraries, and it starts a program it is given", { skip: !GLIBC && "no dynamic guest" }, () => {
  const binary = guest("dynamic");
  const root = loaderRoot(binary);
  copyFileSync(binary, join(root, "dynamic"));
  const ldso = realpathSync(interpOf(binary));
  const list = runIn(root, ldso, ["--list", "/dynamic"]);
  assert.equal(list.status, 0, list.stderr);
  assert.match(list.stdout, /^\tlibc\.so\.6 => \/lib\/x86_64-linux-gnu\/libc\.so\.6 \(0x[0-9a-f]+\)$/m);
  assert.doesNotMatch(list.stdout, /linux-vdso/);
  const direct = runIn(root, ldso, ["/dynamic", "direct"]);
  assert.equal(direct.status, 7, direct.stderr);
  assert.match(direct.stdout, /^args: direct$/m);
});

/** torov run with an interpreter made by `make`: one line on stderr, status 2, no stack. */
function refused(make: (root: string, interp: string) => void, message: RegExp) {
  const binary = guest("dynamic");
  const root = join(tempDir(), "root");
  mkdirSync(root);
  const interp = interpOf(binary);
  mkdirSync(dirname(join(root, interp)), { recursive: true });
  make(root, interp);
  const r = runIn(root, binary, [], {}, false);
  assert.equal(r.status, 2, r.stdout + r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\n\s+at |Error:/);
  assert.match(r.stderr.trimEnd(), message);
}

test("an interpreter that cannot start the program is one line naming the program, the interpreter and the problem", { skip: !GLIBC && "no dynamic guest" }, () => {
  const I = String.raw`dynamic: its interpreter /lib64/ld-linux-x86-64\.so\.2`;
  refused(() => {}, new RegExp(`${I} is not in what the guest sees: it is missing in its MountPoint \\(.*root\\); copy it there with the libraries it loads, or build the program with -static$`));
  refused((root, interp) => mkdirSync(join(root, interp)), new RegExp(`${I} is a directory, not a program$`));
  refused((root, interp) => writeFileSync(join(root, interp), "#!/bin/sh\n"), new RegExp(`${I} is not an ELF file$`));
  refused((root, interp) => spawnSync("mkfifo", [join(root, interp)]), new RegExp(`${I} is not a regular file$`));
  refused((root, interp) => copyFileSync(guest("dynamic"), join(root, interp)), new RegExp(`${I} is itself dynamically linked \\(it asks for /lib64/ld-linux-x86-64\\.so\\.2\\)$`));
  refused((root, interp) => symlinkSync(interp, join(root, interp)), new RegExp(`${I}: too many symbolic links$`));
  refused((root, interp) => writeFileSync(join(root, interp), readFileSync(guest("args")).subarray(0, 3000)), new RegExp(`${I}: truncated: segment \\d needs bytes`));
});

test("the interpreter is looked up in the MountPoint only: a symlink or .. out of it finds nothing of the host's", { skip: !GLIBC && "no dynamic guest" }, () => {
  const I = String.raw`dynamic: its interpreter /lib64/ld-linux-x86-64\.so\.2 is not in what the guest sees`;
  const host = realpathSync(interpOf(guest("dynamic")));
  // The host's loader exists at each of these targets; the guest's view has none.
  refused((root, interp) => symlinkSync(host, join(root, interp)), new RegExp(I));
  refused((root, interp) => symlinkSync(`../../../../../../../..${host}`, join(root, interp)), new RegExp(I));
  refused((root, interp) => symlinkSync("/proc/self/root" + host, join(root, interp)), new RegExp(I));
});

/** The host's own `program`, run natively and under torov with the loader's folders lent (LendLoader): the same answer. */
function hostProgram(name: string) {
  const which = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
  return which.startsWith("/") ? realpathSync(which) : undefined;
}

for (const [name, args, input, setup] of [
  // -n: numbers for owners (the guest has no /etc/passwd); --time-style=+: no times. -l asks for ACLs and labels (getxattr).
  ["ls", ["-lna", "--time-style=+", "/d"], "", (root: string) => {
    mkdirSync(join(root, "d"));
    writeFileSync(join(root, "d", "f.txt"), "twelve bytes");
    symlinkSync("f.txt", join(root, "d", "link"));
  }],
  ["sort", ["-r"], "b\na\nc\n", () => {}],
  ["sha256sum", ["/f.txt"], "", (root: string) => writeFileSync(join(root, "f.txt"), "hello\n")],
  ["sqlite3", [":memory:", "create table t(x); insert into t values (3),(1),(2); select group_concat(x) from (select x from t order by x);"], "", () => {}],
] as const) {
  const path = hostProgram(name);
  test(`the host's ${name} runs as it does natively`, { skip: !path && `${name} is not installed` }, () => {
    // An empty MountPoint but for the files the program works on: what the
    // loader reads, torov lends.
    const root = join(tempDir(), "root");
    mkdirSync(root);
    setup(root);
    // Natively, in the same folder: the guest's "/" is root.
    const nativeArgs = args.map((a) => (a.startsWith("/") ? join(root, a) : a));
    // A HOME that is nowhere: sqlite3 looks for ~/.sqliterc.
    const env = { HOME: "/nonexistent" };
    const native = spawnSync(path!, nativeArgs, { encoding: "utf8", input, env });
    const manifest = writeManifest(dirname(root), { binary: path!, mountPoint: root, args: [...args], env });
    const r = torov(["run", manifest], { input });
    assert.equal(r.stderr, native.stderr.replaceAll(root, ""));
    assert.equal(r.status, native.status);
    assert.equal(r.stdout, native.stdout.replaceAll(root, ""));
    assert.notEqual(r.stdout, "");
  });
}

test("GDB on a dynamic program: its libraries, a breakpoint in libc, bt through libc, as under gdbserver", { skip: (!GLIBC || !hasGdb() || spawnSync("gdbserver", ["--version"]).status !== 0) && "gdb, gdbserver or the dynamic guest is missing" }, async () => {
  const script = ["break main", "continue", "info sharedlibrary", "break write", "continue", "bt", "finish", "continue"];
  // Where things are differs between a native process and the VM, and a
  // native one has a vDSO; which things, and in which order, must not.
  const normalize = (out: string) =>
    out
      .split("\n")
      .filter((l) => !/Reading|warning|File transfers|^Remote debugging|^Listening|^Process .* created|^Detaching|linux-vdso|^Run till exit|^Value returned/.test(l))
      .map((l) =>
        l
          .replace(/0x[0-9a-f]+/g, "ADDR")
          .replace(/target:/g, "")
          .replace(/\(process \d+\)|\(Remote target\)/g, "(PROCESS)")
          .replace(/ +/g, " "),
      )
      .join("\n");
  const binary = guest("dynamic");
  // Without LD_PRELOAD: test/harness preloads a shim of its own, which would be one more library natively.
  const { LD_PRELOAD: _, ...env } = process.env;
  const port = await startGdbserver(binary, [], env);
  const native = gdbBatch(port, script);
  const root = loaderRoot(binary);
  const d = await startDebug(writeManifest(dirname(root), { binary, mountPoint: root }));
  const vm = gdbBatch(d.port, script);
  await d.done;
  assert.match(vm.output, /Breakpoint 1, main \(argc=1, argv=0x[0-9a-f]+\) at dynamic\/dynamic\.c:\d+/);
  assert.match(vm.output, /^0x[0-9a-f]+ +0x[0-9a-f]+ +Yes +target:\/lib\/x86_64-linux-gnu\/libc\.so\.6$/m);
  assert.match(vm.output, /Breakpoint 2, .*write/);
  assert.match(vm.output, / in __libc_start_call_main /);
  assert.equal(normalize(vm.output), normalize(native.output));
});

/** `binary` run natively and under torov from an empty MountPoint (the loader's folders lent): the same output. */
function sameAsNative(binary: string, args: string[] = [], extra: Record<string, unknown> = {}) {
  const root = join(tempDir(), "root");
  mkdirSync(root);
  const env = { HOME: "/nonexistent" };
  const native = spawnSync(binary, args, { encoding: "utf8", env });
  const r = torov(["run", writeManifest(dirname(root), { binary, mountPoint: root, args, env, extra })]);
  assert.equal(r.stderr, native.stderr);
  assert.equal(r.status, native.status);
  assert.equal(r.stdout, native.stdout);
  return r;
}

test("C++ as g++ builds it: libstdc++ and libgcc_s, an exception thrown through frames and caught, std::thread", { skip: !existsSync(guest("cxx")) && "no g++" }, () => {
  const r = sameAsNative(guest("cxx"));
  assert.match(r.stdout, /^caught: thrown five frames down\nthread ran, sum 3\nout_of_range caught\n$/);
});

for (const v of ["dlopen", "dlopen.musl"]) {
  test(`${v}: dlopen of libm at run time, a symbol from it, dlclose, a library that is not there`, { skip: !existsSync(guest(v)) && `${v} was not built` }, () => {
    const r = sameAsNative(guest(v));
    assert.match(r.stdout, /^cos\(0\) = 1\.0$/m);
    assert.match(r.stdout, /^again: sqrt\(16\) = 4\.0$/m);
  });
}

test("python3 -c with /usr lent: the host's interpreter, its standard library and a C extension module", { skip: !existsSync("/usr/bin/python3") && "no /usr/bin/python3" }, () => {
  const code = "import sys, json, math, hashlib; print(sys.version_info[:2], json.dumps({'r': math.sqrt(2)}), hashlib.sha256(b'torov').hexdigest()[:16])";
  const r = sameAsNative("/usr/bin/python3", ["-c", code], { Mounts: [{ Source: "/usr", Target: "/usr" }] });
  assert.match(r.stdout, /^\(3, \d+\) \{"r": 1\.4142135623730951\} [0-9a-f]{16}\n$/);
});

test("GDB on a plain manifest (the loader lent): a pending breakpoint in a dlopened library, stop-on-solib-events, as under gdbserver", { skip: (!existsSync(guest("dlopen")) || !existsSync(guest("libplugin.so")) || !hasGdb() || spawnSync("gdbserver", ["--version"]).status !== 0) && "gdb, gdbserver or the dlopen guest is missing" }, async () => {
  const normalize = (out: string) =>
    out
      .split("\n")
      .filter((l) => !/Reading|warning|File transfers|^Remote debugging|^Listening|^Process .* created|^Detaching|linux-vdso|^\[Inferior 1 \(process \d+\) killed\]/.test(l))
      .map((l) => l.replace(/0x[0-9a-f]+/g, "ADDR").replace(/target:/g, "").replace(/\(process \d+\)|\(Remote target\)/g, "(PROCESS)").replace(/ +/g, " "))
      .join("\n");
  const binary = guest("dlopen");
  const plugin = guest("libplugin.so");
  const { LD_PRELOAD: _, ...env } = process.env;
  const root = join(tempDir(), "root");
  mkdirSync(root);
  // The plug-in at the same path in the guest as on the host: one script, one output.
  const outDir = dirname(plugin);
  const manifest = writeManifest(dirname(root), { binary, mountPoint: root, args: [plugin], extra: { Mounts: [{ Source: outDir, Target: outDir }] } });
  for (const script of [
    ["set breakpoint pending on", "break plugin_twice", "continue", "bt", "info sharedlibrary", "finish", "continue"],
    ["set stop-on-solib-events 1", "continue", "continue", "continue", "info sharedlibrary", "continue", "continue", "continue"],
  ]) {
    const native = gdbBatch(await startGdbserver(binary, [plugin], env), script);
    const d = await startDebug(manifest);
    const vm = gdbBatch(d.port, script);
    await d.done;
    if (script[1] === "break plugin_twice") {
      assert.match(vm.output, /Breakpoint 1 \(plugin_twice\) pending\./);
      assert.match(vm.output, /Breakpoint 1, plugin_twice \(x=21\) at dynamic\/plugin\.c:\d+/);
      assert.match(vm.output, /#1 +0x[0-9a-f]+ in main \(argc=2, argv=0x[0-9a-f]+\) at dynamic\/dlopen\.c:\d+/);
      assert.match(vm.output, /Yes .*target:\/lib\/x86_64-linux-gnu\/libm\.so\.6$/m);
      assert.match(vm.output, /Value returned is \$1 = 42/);
    } else {
      assert.match(vm.output, /Stopped due to shared library event/);
    }
    assert.equal(normalize(vm.output), normalize(native.output));
  }
});

test("torov profile of a dynamic program writes a manifest that starts it: the loader's own calls are in it", { skip: !existsSync(guest("dlopen")) && "no dlopen guest" }, () => {
  const root = join(tempDir(), "root");
  mkdirSync(root);
  const dir = dirname(root);
  const manifest = writeManifest(dir, { binary: guest("dlopen"), mountPoint: root, hypercalls: [] });
  const out = join(dir, "profiled.json");
  const p = torov(["profile", manifest, "-o", out]);
  assert.equal(p.status, 0, p.stderr);
  const written = JSON.parse(readFileSync(out, "utf8"));
  const names = (written.Hypercalls as Array<{ Name: string }>).map((h) => h.Name);
  // ld.so opens the cache and the libraries, reads and maps them.
  for (const n of ["openat", "read", "close"]) assert.ok(names.includes(n), `${n} in ${names}`);
  const r = torov(["run", out]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, spawnSync(guest("dlopen"), { encoding: "utf8" }).stdout);
  // And without what it used, it does not start: the policy is what let it.
  const bare = torov(["run", manifest]);
  assert.notEqual(bare.stdout, r.stdout);
});

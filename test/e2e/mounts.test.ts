// Issue 18: Mounts, the host paths a manifest lends into the guest's view,
// and what torov lends a dynamic program's loader (LendLoader). The guest
// test/guests/fsops makes one file-system call per argument and prints
// what it got. Where the tests run as root, the same calls run natively
// too, in the container a runtime would make of the same manifest (bind
// mounts, read-only ones remounted read-only, chroot to the MountPoint):
// torov must answer as that container does, and leave the host's files as
// they were.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, realpathSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { BIN, guest, tempDir, torov, writeManifest } from "../helpers.js";

const ROOT = process.getuid?.() === 0;
/** A dynamically linked host program that does nothing (`command -v true` names the shell's builtin). */
const TRUE_BIN = existsSync("/bin/true") ? realpathSync("/bin/true") : undefined;
const FSOPS = guest("fsops");

/**
 * The tree each run starts from: a MountPoint with the folders the mounts
 * cover (as a runtime needs them) and two sources beside it. `ro` has
 * symlinks that leave it by "..", by an absolute name, and to the other
 * mount; the folder above the sources holds a file no guest may reach.
 */
function tree(): string {
  const top = tempDir();
  const root = join(top, "root");
  mkdirSync(join(root, "ro"), { recursive: true });
  mkdirSync(join(root, "rw"));
  mkdirSync(join(root, "etc"));
  mkdirSync(join(root, "proc"));
  writeFileSync(join(root, "etc", "one.txt"), "");
  writeFileSync(join(root, "root.txt"), "the MountPoint's\n");
  cpSync(FSOPS, join(root, "fsops"));
  writeFileSync(join(top, "host-secret"), "the host's\n");
  mkdirSync(join(top, "ro", "sub"), { recursive: true });
  writeFileSync(join(top, "ro", "f.txt"), "read-only\n");
  writeFileSync(join(top, "ro", "sub", "g.txt"), "below\n");
  symlinkSync("..", join(top, "ro", "up"));
  symlinkSync("/root.txt", join(top, "ro", "abs"));
  symlinkSync("../host-secret", join(top, "ro", "out"));
  symlinkSync("../../../../../../host-secret", join(top, "ro", "far"));
  symlinkSync("/rw/w.txt", join(top, "ro", "to-rw"));
  mkdirSync(join(top, "rw"));
  writeFileSync(join(top, "rw", "w.txt"), "writable\n");
  writeFileSync(join(top, "one.txt"), "one file\n");
  return top;
}

const MOUNTS = [
  { Source: "ro", Target: "/ro" },
  { Source: "rw", Target: "/rw", ReadOnly: false },
  { Source: "one.txt", Target: "/etc/one.txt" },
];

function underTorov(top: string, ops: string[]) {
  const manifest = writeManifest(top, { binary: join(top, "root", "fsops"), mountPoint: "root", args: ops, extra: { Mounts: MOUNTS } });
  return torov(["run", manifest]);
}

/** The same calls in the container a runtime makes of the manifest. */
function inContainer(top: string, ops: string[]) {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const script = [
    `cd ${q(top)}`,
    "mount --bind ro root/ro && mount -o remount,bind,ro root/ro",
    "mount --bind rw root/rw",
    "mount --bind one.txt root/etc/one.txt && mount -o remount,bind,ro root/etc/one.txt",
    "mount -t proc proc root/proc",
    `exec chroot root /fsops ${ops.map(q).join(" ")}`,
  ].join(" && ");
  return spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { encoding: "utf8" });
}

/** Every file below `dir`: its path, type, mode, size, contents and mtime. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const body = st.isFile() ? readFileSync(p, "utf8") : st.isSymbolicLink() ? readlinkSync(p) : "";
      out.push(`${p.slice(dir.length)} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${JSON.stringify(body)}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

const nativeOk = ROOT && spawnSync("unshare", ["-m", "true"]).status === 0;

// Every route a guest has to change a read-only mount's files. The calls
// are all allowed by the manifest ("*"), so what refuses them is the mount.
const WRITES = [
  "write:/ro/f.txt", "rdwr:/ro/f.txt", "trunc-open:/ro/f.txt", "create:/ro/new", "tmpfile:/ro", "truncate:/ro/f.txt",
  "chmod:/ro/f.txt", "fchmod:/ro/f.txt", "chown:/ro/f.txt", "fchown:/ro/f.txt", "utimes:/ro/f.txt", "futimes:/ro/f.txt",
  "rename:/ro/f.txt:/ro/g.txt", "rename:/ro/f.txt:/rw/moved", "rename:/rw/w.txt:/ro/moved", "link:/ro/f.txt:/ro/l",
  "link:/ro/f.txt:/rw/l", "link:/rw/w.txt:/ro/l", "unlink:/ro/f.txt", "rmdir:/ro/sub", "mkdir:/ro/d", "mkfifo:/ro/p",
  "symlink:x:/ro/s", "mmap-shared:/ro/f.txt", "unlink:/ro/sub/g.txt", "write:/ro/sub/g.txt",
  "write:/etc/one.txt", "chmod:/etc/one.txt", "truncate:/etc/one.txt", "rename:/rw/w.txt:/etc/one.txt",
  // The same through the other mount's symlink and through "..".
  "write:/rw/../ro/f.txt", "chmod:/ro/up/ro/f.txt",
];

test("every route into a read-only mount fails as in a container, the kernel refusing it; the host's files stay as they were", { skip: !existsSync(FSOPS) && "no fsops guest" }, () => {
  const top = tree();
  const before = snapshot(join(top, "ro"));
  const oneBefore = readFileSync(join(top, "one.txt"), "utf8");
  const r = underTorov(top, WRITES);
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  const lines = r.stdout.trimEnd().split("\n");
  assert.equal(lines.length, WRITES.length, r.stdout);
  // Nothing got through: each answer is a refusal.
  for (const line of lines) assert.match(line, /: E[A-Z]+$/, line);
  // What the kernel says of a read-only mount (not a check of torov's,
  // which has no EROFS of its own): the write routes reached it.
  assert.match(r.stdout, /^write:\/ro\/f\.txt: EROFS$/m);
  assert.match(r.stdout, /^chmod:\/ro\/f\.txt: EROFS$/m);
  assert.match(r.stdout, /^write:\/rw\/\.\.\/ro\/f\.txt: EROFS$/m);
  // The writable mount is writable: the same calls reach the host there.
  // (A symlink in the read-only mount that names a file of the writable
  // one leads there: the file's mount decides, as in a container.)
  const rw = underTorov(top, ["write:/rw/w.txt", "chmod:/rw/w.txt", "create:/rw/new", "rename:/rw/new:/rw/renamed", "write:/ro/to-rw"]);
  assert.equal(rw.stdout, "write:/rw/w.txt: ok\nchmod:/rw/w.txt: ok\ncreate:/rw/new: ok\nrename:/rw/new:/rw/renamed: ok\nwrite:/ro/to-rw: ok\n");
  assert.equal(readFileSync(join(top, "rw", "w.txt"), "utf8"), "xritable\n");
  assert.ok(existsSync(join(top, "rw", "renamed")));
  assert.deepEqual(snapshot(join(top, "ro")), before);
  assert.equal(readFileSync(join(top, "one.txt"), "utf8"), oneBefore);
  assert.equal(statSync(join(top, "one.txt")).mode & 0o777, 0o644);
  if (nativeOk) {
    const ref = tree();
    const n = inContainer(ref, WRITES);
    assert.equal(n.status, 0, n.stderr);
    assert.equal(r.stdout, n.stdout);
  }
});

// Lookups that leave a mount: by "..", by symlinks relative and absolute,
// into the other mount; and folders of the mounts, and the cwd in one.
const LOOKUPS = [
  "read:/ro/f.txt", "read:/ro/../root.txt", "read:/ro/up/root.txt", "read:/ro/abs", "read:/ro/out", "read:/ro/far",
  "read:/ro/to-rw", "read:/ro/sub/../f.txt", "read:/ro/up/ro/up/ro/sub/g.txt", "read:/etc/one.txt", "read:/etc/one.txt/x",
  "read:/rw/../ro/up/host-secret", "read:/../../host-secret", "list:/ro", "list:/ro/..", "list:/ro/up", "stat:/ro/up",
  "stat:/etc/one.txt", "readlink:/ro/up", "readlink:/ro/abs", "cd:/ro/sub", "cd:/ro/up", "cd:/ro/up/rw", "read:sub/g.txt",
  // A last part that must be a folder: "file/." and "file/" are ENOTDIR; a "/" after a symlink follows it, O_NOFOLLOW or not.
  "read:/ro/f.txt/.", "read:/ro/f.txt/", "read:/etc/one.txt/.", "open-nofollow:/ro/up/", "open-nofollow:/ro/up", "open-nofollow:/ro/abs",
];

test("lookups stay in the guest's view: .. and symlinks at a mount's root resolve as in a container, never on the host", { skip: !existsSync(FSOPS) && "no fsops guest" }, () => {
  const top = tree();
  const r = underTorov(top, LOOKUPS);
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  assert.doesNotMatch(r.stdout, /the host's/);
  assert.match(r.stdout, /^read:\/ro\/f\.txt: ok read-only$/m);
  assert.match(r.stdout, /^read:\/ro\/\.\.\/root\.txt: ok the MountPoint's$/m);
  assert.match(r.stdout, /^read:\/ro\/abs: ok the MountPoint's$/m);
  assert.match(r.stdout, /^read:\/ro\/out: ENOENT$/m);
  assert.match(r.stdout, /^read:\/ro\/to-rw: ok writable$/m);
  assert.match(r.stdout, /^read:\/ro\/up\/ro\/up\/ro\/sub\/g\.txt: ok below$/m);
  assert.match(r.stdout, /^read:\/etc\/one\.txt: ok one file$/m);
  assert.match(r.stdout, /^cd:\/ro\/up\/rw: ok \/rw$/m);
  if (nativeOk) {
    const n = inContainer(tree(), LOOKUPS);
    assert.equal(n.status, 0, n.stderr);
    assert.equal(r.stdout, n.stdout);
  }
});

test("a mount's Source is what it named when torov started: a symlink Source is followed once, on the host, then never again", { skip: !existsSync(FSOPS) && "no fsops guest" }, () => {
  const top = tree();
  symlinkSync("ro", join(top, "via-link"));
  const manifest = writeManifest(top, { binary: join(top, "root", "fsops"), mountPoint: "root", args: ["read:/lent/f.txt", "list:/lent"], extra: { Mounts: [{ Source: "via-link", Target: "/lent" }] } });
  const r = torov(["run", manifest]);
  assert.equal(r.stdout, "read:/lent/f.txt: ok read-only\nlist:/lent: ok abs,f.txt,far,out,sub,to-rw,up\n");
});

test("bad Mounts are one line naming the key and the problem, before anything runs", () => {
  const top = tree();
  const run = (mounts: unknown) => torov(["run", writeManifest(top, { binary: FSOPS, mountPoint: "root", extra: { Mounts: mounts } })]);
  for (const [mounts, message] of [
    [[{ Source: "gone", Target: "/x" }], /Mounts\[0\]\.Source: .*\/gone does not exist$/],
    [[{ Source: "ro", Target: "x" }], /Mounts\[0\]\.Target: "x" is relative/],
    [[{ Source: "ro", Target: "/x" }, { Source: "rw", Target: "/x/" }], /Mounts\[1\]\.Target: \/x is Mounts\[0\]'s Target already/],
  ] as const) {
    const r = run(mounts);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
    assert.match(r.stderr.trimEnd(), message);
  }
});

/** The host's own program `name`, if it is installed. */
function hostProgram(name: string) {
  const which = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).stdout.trim();
  return which.startsWith("/") ? realpathSync(which) : undefined;
}

test("LendLoader: a host program runs from an empty MountPoint with a manifest of three keys; LendLoader false lends nothing", { skip: !hostProgram("ls") && "no ls" }, () => {
  const top = tempDir();
  mkdirSync(join(top, "root"));
  const ls = hostProgram("ls")!;
  const plain = writeManifest(top, { binary: ls, mountPoint: "root", args: ["/usr/lib"] });
  const r = torov(["run", plain]);
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
  // What it lists is the host's /usr/lib, lent read-only.
  assert.equal(r.stdout, spawnSync(ls, ["/usr/lib"], { encoding: "utf8" }).stdout);
  const off = writeManifest(top, { binary: ls, mountPoint: "root", extra: { LendLoader: false } }, "off.json");
  const refused = torov(["run", off]);
  assert.equal(refused.status, 2);
  assert.match(refused.stderr.trimEnd(), /^torov: .*ls: its interpreter \/lib64\/ld-linux-x86-64\.so\.2 is not in what the guest sees: it is missing in its MountPoint \(.*root\); copy it there/);
  // Writing where the loader's folders are lent: read-only.
  const touch = hostProgram("touch");
  if (touch) {
    const t = torov(["run", writeManifest(top, { binary: touch, mountPoint: "root", args: ["/usr/lib/torov-was-here"] }, "touch.json")]);
    assert.match(t.stderr, /Read-only file system/);
    assert.equal(existsSync("/usr/lib/torov-was-here"), false);
  }
});

test("torov doctor with a manifest and the first lines of torov trace say what the guest sees, the lent mounts among it", { skip: !TRUE_BIN && "no /bin/true" }, () => {
  const top = tempDir();
  mkdirSync(join(top, "root"));
  mkdirSync(join(top, "data"));
  const manifest = writeManifest(top, { binary: TRUE_BIN!, mountPoint: "root", extra: { Mounts: [{ Source: "data", Target: "/data", ReadOnly: false }] } });
  const d = torov(["doctor", manifest]);
  assert.match(d.stdout, new RegExp(`^guest view +/ = ${top}/root$`, "m"));
  assert.match(d.stdout, new RegExp(`^ +/data = ${top}/data, writable, from Mounts\\[0\\]$`, "m"));
  assert.match(d.stdout, /^ +\/lib64 = \S+, read-only, lent for the loader \(LendLoader\)$/m);
  assert.match(d.stdout, /^ +\/etc\/ld\.so\.cache = \/etc\/ld\.so\.cache \(a file\), read-only, lent for the loader \(LendLoader\)$/m);
  assert.match(d.stdout, /^ +mounts: detached bind mounts, read-only ones made read-only by the kernel \(made (as root|in a user namespace)\)$/m);
  const t = torov(["trace", manifest]);
  assert.equal(t.status, 0, t.stderr);
  const first = t.stderr.split("\n");
  assert.match(first[0], new RegExp(`^--- mount /data = ${top}/data, writable, from Mounts\\[0\\] ---$`));
  assert.ok(first.some((l) => /^--- mount \/lib64 = .*, read-only, lent for the loader \(LendLoader\) ---$/.test(l)), t.stderr);
  // The loader's own calls follow, on paths in those mounts.
  assert.match(t.stderr, /^openat\(AT_FDCWD, "\/etc\/ld\.so\.cache", O_RDONLY\|O_CLOEXEC\) = 3$/m);
});

test("a file the guest maps, truncated under it on the host: the guest reads what it mapped, the monitor survives", { skip: !existsSync(FSOPS) && "no fsops guest" }, async () => {
  const top = tree();
  const data = Buffer.alloc(3 * 4096 + 100);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
  writeFileSync(join(top, "rw", "data.bin"), data);
  const sum = data.reduce((a, b) => a + b, 0);
  const manifest = writeManifest(top, { binary: join(top, "root", "fsops"), mountPoint: "root", args: ["map-wait:/rw/data.bin"], extra: { Mounts: MOUNTS } });
  const child = spawn(process.execPath, [BIN, "run", manifest], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const done = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? 128 + (signal ? 1 : 0))));
  await new Promise<void>((resolve) => child.stdout.on("data", (d) => { out += d; if (out.includes("mapped")) resolve(); }));
  truncateSync(join(top, "rw", "data.bin"), 0);
  child.stdin.end("go\n");
  const status = await done;
  assert.equal(err, "");
  assert.equal(status, 0);
  assert.match(out, new RegExp(`^map-wait:/rw/data\\.bin: ok sum ${sum}, write ${data.length}$`, "m"));
});

test("torov validate checks a manifest without running it and says what its guest would see, the lent mounts among it", { skip: !TRUE_BIN && "no /bin/true" }, () => {
  const top = tree();
  const manifest = writeManifest(top, { binary: TRUE_BIN!, mountPoint: "root", hypercalls: [{ Name: "write" }], extra: { Mounts: MOUNTS } });
  const v = torov(["validate", manifest]);
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, /^program +\S+: dynamically linked, interpreter \/lib64\/ld-linux-x86-64\.so\.2$/m);
  assert.match(v.stdout, new RegExp(`^/ +${top}/root$`, "m"));
  assert.match(v.stdout, new RegExp(`^mount +/ro = ${top}/ro, read-only, from Mounts\\[0\\]$`, "m"));
  assert.match(v.stdout, new RegExp(`^mount +/etc/one\\.txt = ${top}/one\\.txt \\(a file\\), read-only, from Mounts\\[2\\]$`, "m"));
  assert.match(v.stdout, /^mount +\/lib64 = \S+, read-only, lent for the loader \(LendLoader\)$/m);
  assert.match(v.stdout, /^allowed +1 forwarded hypercalls: write$/m);
  const bad = torov(["validate", writeManifest(top, { binary: FSOPS, mountPoint: "root", extra: { Mounts: [{ Source: "ro", Target: "ro" }] } }, "bad.json")]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr.trimEnd(), /^torov: .*bad\.json: Mounts\[0\]\.Target: "ro" is relative/);
});

/** torov run of fsops with one waiting op: resolves once it says "mapped", with a way to go on. */
async function waiting(manifest: string) {
  const child = spawn(process.execPath, [BIN, "run", manifest], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const done = new Promise<number>((resolve) => child.on("exit", (code) => resolve(code ?? 128)));
  await new Promise<void>((resolve) => child.stdout.on("data", (d) => { out += d; if (out.includes("mapped")) resolve(); }));
  return { pid: child.pid!, go: async () => { child.stdin.end("go\n"); const status = await done; return { status, out, err }; } };
}

test("thousands of file mappings cost the host a bounded number of its own (vm.max_map_count is per process, shared by every VM in it)", { skip: (!existsSync(FSOPS) || !TRUE_BIN) && "no fsops guest or /bin/true" }, async () => {
  const top = tree();
  // A file that last changed long ago: its mappings share a copy (a file
  // written just now is copied into the guest's memory instead).
  const count = 6000;
  const manifest = writeManifest(top, { binary: join(top, "root", "fsops"), mountPoint: "root", args: [`map-many:/old:${count}`], extra: { Mounts: [{ Source: TRUE_BIN, Target: "/old" }], Memory: 512 } });
  const w = await waiting(manifest);
  const hostMaps = readFileSync(`/proc/${w.pid}/maps`, "utf8").trim().split("\n").length;
  const r = await w.go();
  assert.equal(r.err, "");
  assert.equal(r.status, 0);
  // Each mapping reads the file's first byte, ELF's 0x7f, the shared ones and the copies alike.
  assert.match(r.out, new RegExp(`^map-many:/old:${count}: ok ${count} mappings, sum ${0x7f * count}$`, "m"));
  // Node's own, and the guest's shared ones up to their cap, each splitting guest RAM's.
  assert.ok(hostMaps < 3000, `the monitor holds ${hostMaps} mappings for the guest's ${count}`);
});

test("a Source on a pseudo file system is refused; a folder's own mount is lent, not what the host mounts below it", { skip: !existsSync(FSOPS) && "no fsops guest" }, () => {
  const top = tree();
  const proc = torov(["run", writeManifest(top, { binary: FSOPS, mountPoint: "root", extra: { Mounts: [{ Source: "/proc", Target: "/p" }] } })]);
  assert.equal(proc.status, 2);
  assert.equal(proc.stderr.trimEnd().split("\n").length, 1, proc.stderr);
  assert.match(proc.stderr, /mount \/proc at \/p is the host's proc file system, which torov never lends/);
  // What the host mounts below a Source is not lent with it: a tmpfs on
  // one of its folders (in a mount namespace of the test's own, as root).
  if (nativeOk) {
    mkdirSync(join(top, "ro", "below"));
    const manifest = writeManifest(top, { binary: join(top, "root", "fsops"), mountPoint: "root", args: ["list:/lent/below", "read:/lent/below/on-the-submount"], extra: { Mounts: [{ Source: "ro", Target: "/lent" }] } }, "below.json");
    const q = (x: string) => `'${x}'`;
    const script = `mount -t tmpfs none ${q(join(top, "ro", "below"))} && echo secret > ${q(join(top, "ro", "below", "on-the-submount"))} && exec ${q(process.execPath)} ${q(BIN)} run ${q(manifest)}`;
    const r = spawnSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { encoding: "utf8" });
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, "list:/lent/below: ok\nread:/lent/below/on-the-submount: ENOENT\n");
  }
});

// The group that may open /dev/kvm, where one may (udev's kvm group; the
// harness's guests have a root-only device node).
const kvmGroup = (() => {
  try {
    const st = statSync("/dev/kvm");
    return st.isCharacterDevice() && (st.mode & 0o060) === 0o060 ? st.gid : undefined;
  } catch {
    return undefined;
  }
})();

test("unprivileged, a read-only mount is made by a helper in a user namespace, and is as read-only", { skip: (!ROOT || spawnSync("sh", ["-c", "command -v setpriv"]).status !== 0 || kvmGroup === undefined) && "needs root (to become nobody), setpriv, and a /dev/kvm its group may open" }, () => {
  const top = tree();
  spawnSync("chmod", ["-R", "a+rX", top]);
  spawnSync("chmod", ["a+x", dirname(top)]);
  const kvm = String(kvmGroup);
  const manifest = writeManifest(top, { binary: join(top, "root", "fsops"), mountPoint: "root", args: ["read:/ro/f.txt", "chmod:/ro/f.txt", "utimes:/ro/f.txt"], extra: { Mounts: MOUNTS } });
  const asNobody = (args: string[]) => spawnSync("setpriv", ["--reuid=65534", "--regid=65534", `--groups=${kvm}`, process.execPath, BIN, ...args], { encoding: "utf8" });
  const r = asNobody(["run", manifest]);
  assert.equal(r.stderr, "");
  // The file is root's: without the mount, nobody's chmod would be EPERM; the mount answers first.
  assert.equal(r.stdout, "read:/ro/f.txt: ok read-only\nchmod:/ro/f.txt: EROFS\nutimes:/ro/f.txt: EROFS\n");
  const d = asNobody(["doctor", manifest]);
  assert.match(d.stdout, /mounts: detached bind mounts, read-only ones made read-only by the kernel \(made in a user namespace\)/);
});

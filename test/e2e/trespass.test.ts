// What a guest may do to host files it was only lent (its own program as
// /proc/self/exe, the shared devices, its stdio) and to its MountPoint when
// torov runs as root (test/guests/trespass.c): it reads and writes them, and
// changes nothing else; as root it still has only an ordinary user's rights.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chownSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { BIN, ROOT, guest, reportLines, scaled, tempDir, torov, variants, writeManifest } from "../helpers.js";

const root = process.getuid?.() === 0;

/** Every line, as the guest must print it, whoever runs torov. */
const EXPECTED: Record<string, string> = {
  "chmod /proc/self/exe": "EPERM",
  "chown /proc/self/exe": "EPERM",
  "utimensat /proc/self/exe": "EPERM",
  "link /proc/self/exe into the root": "EXDEV",
  "link an O_PATH fd of /proc/self/exe into the root": "EXDEV",
  "open /proc/self/exe for writing": "EACCES",
  "fchmod /proc/self/exe": "EPERM",
  "fchown /proc/self/exe": "EPERM",
  "futimens /proc/self/exe": "EPERM",
  "ftruncate /proc/self/exe": "EPERM",
  "chmod /dev/fd/N of /proc/self/exe": "EPERM",
  "utimensat AT_EMPTY_PATH of /proc/self/exe": "EPERM",
  "chmod /dev/null": "EPERM",
  "chown /dev/null": "EPERM",
  "utimensat /dev/null": "EPERM",
  "link /dev/null into the root": "EXDEV",
  "fchmod stdout": "EPERM",
  "fchown stdout": "EPERM",
  "futimens stdout": "EPERM",
  "chmod /dev/stdout": "EPERM",
  "chmod /proc/self/fd/1": "EPERM",
  "link stdout into the root": "EXDEV",
  "ftruncate stdout": "EPERM",
  "fallocate stdout": "EPERM",
  "fchmod stdout received back": "EPERM",
  "ftruncate stdout received back": "EPERM",
  "fchmod /proc/self/exe received back": "EPERM",
  "futimens /proc/self/exe received back": "EPERM",
  "chmod /proc/self/fd/N of it": "EPERM",
  "fchmod /dev/null received back": "EPERM",
  "fchmod its own file received back": "ok 0",
  // Its own files: what it asks, less the set-ID bits on files.
  "its mode": "0755",
  "fchmod it 06755": "ok 0",
  "its mode after fchmod 06755": "0755",
  "chmod it 04711": "ok 0",
  "its mode after chmod 04711": "0711",
  "chmod it 0640": "ok 0",
  "its mode after chmod 0640": "0640",
  "utimensat it": "ok 0",
  "link it": "ok 0",
  "mknod a regular file with mode 02755": "ok 0",
  "the mknod file's mode": "0755",
  "mkdir a directory": "ok 0",
  "chmod it 02775 (set-group-ID directory)": "ok 0",
  "the directory's mode": "2775",
  "chown its file to another user": "EPERM",
  // Made by the test when it runs as root; absent otherwise.
  "open another user's private file": root ? "EACCES" : "ENOENT",
  "socket SOCK_RAW": "EPERM",
  "socket SOCK_RAW IPv6": "EPERM",
  "socket SOCK_PACKET": "EPERM",
  "socket IPPROTO_SCTP": "EPROTONOSUPPORT",
  "socket type 99": "EINVAL",
  "setsockopt IPT_SO_SET_REPLACE (the host firewall)": "ENOPROTOOPT",
  "getsockopt IPT_SO_GET_INFO": "ENOPROTOOPT",
  "setsockopt MRT_INIT (multicast routing)": "ENOPROTOOPT",
  "setsockopt SO_ATTACH_FILTER": "ENOPROTOOPT",
  "setsockopt SO_MARK": "ENOPROTOOPT",
  "setsockopt TCP_NODELAY": "ok 0",
  "setsockopt SO_REUSEADDR": "ok 0",
  // As root on a MountPoint root owns, its sockets are root's: no sharing root's ports.
  "setsockopt SO_REUSEPORT": root ? "EPERM" : "ok 0",
  "getsockopt SO_TYPE": "ok 1",
};

const fingerprint = (path: string) => {
  const s = statSync(path);
  return { mode: s.mode, uid: s.uid, gid: s.gid, size: s.size, mtimeMs: s.mtimeMs, nlink: s.nlink };
};

test("a guest changes nothing it was lent, and has an ordinary user's rights only", () => {
  for (const binary of variants("trespass")) {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    // The program and the root on one file system: a link between them
    // would work if torov let one through.
    const program = join(dir, "program");
    copyFileSync(guest(binary), program);
    if (root) {
      writeFileSync(join(dir, "root", "secret"), "another user's\n", { mode: 0o600 });
      chownSync(join(dir, "root", "secret"), 4321, 4321);
    }
    const manifest = writeManifest(dir, { binary: program });
    const outPath = join(dir, "stdout");
    writeFileSync(outPath, "", { mode: 0o640 });
    const before = { program: fingerprint(program), out: fingerprint(outPath), devNull: fingerprint("/dev/null") };
    const out = openSync(outPath, "a");
    const r = spawnSync(process.execPath, [BIN, "run", manifest], {
      cwd: ROOT,
      stdio: ["ignore", out, "pipe"],
      encoding: "utf8",
      timeout: scaled(60_000),
      env: { ...process.env, FORCE_COLOR: "0" },
    });
    closeSync(out);
    const stdout = readFileSync(outPath, "utf8");
    assert.equal(r.status, 0, `${binary}: ${r.stderr}\n${stdout}`);
    const lines = reportLines(stdout);
    assert.match(stdout, /^done$/m, `${binary}: the guest did not finish:\n${stdout}`);
    for (const [what, want] of Object.entries(EXPECTED)) assert.equal(lines.get(what), want, `${binary}: ${what}`);
    // And on the host: the program, the device and the stdout file are as they were.
    assert.deepEqual(fingerprint(program), before.program, `${binary}: the program changed`);
    assert.deepEqual(fingerprint("/dev/null"), before.devNull, `${binary}: /dev/null changed`);
    // (The guest wrote to its stdout, so only its size and mtime moved.)
    assert.deepEqual(
      { ...fingerprint(outPath), size: 0, mtimeMs: 0 },
      { ...before.out, size: 0, mtimeMs: 0 },
      `${binary}: the stdout file's mode, owner or links changed`,
    );
    for (const name of ["exe", "exe2", "null", "stdout"]) assert.ok(!existsSync(join(dir, "root", name)), `${binary}: /${name} was linked`);
    assert.equal(statSync(join(dir, "root", "own")).mode & 0o7777, 0o640, binary);
  }
});

test("run as root on a MountPoint another user owns, the guest acts as that user", { skip: !root && "needs root" }, () => {
  const dir = tempDir();
  const mount = join(dir, "root");
  mkdirSync(mount, { mode: 0o700 });
  chownSync(mount, 4321, 4321);
  // Only its owner may enter it; the guest makes files there, and they are its owner's.
  const r = torov(["run", writeManifest(dir, { binary: guest("waits"), args: ["now"] })], { timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^done$/m);
  for (const name of ["locked", "spliced"]) {
    const s = statSync(join(mount, name));
    assert.deepEqual([s.uid, s.gid], [4321, 4321], name);
  }
});

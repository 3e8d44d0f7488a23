// The guest reaches nothing outside its MountPoint and its allowlist.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, tempDir, torov, writeManifest } from "../helpers.js";

test("paths cannot leave the MountPoint: .., symlinks, chdir, openat, /proc", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root/inside"), { recursive: true });
  writeFileSync(join(dir, "secret"), "TOP SECRET\n");
  const manifest = writeManifest(dir, { binary: guest("escape") });
  const before = readdirSync(dir).sort();
  const r = torov(["run", manifest]);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stdout, /OPENED \d+ bytes: TOP/);
  assert.doesNotMatch(r.stdout, /LINKED|CHANGED|RENAMED|REMOVED|MADE/);
  for (const path of ["../secret", "/../secret", "/../../../../../../secret", "inside/../../secret", "abs-link", "rel-link", "proc-link", "/proc/self/environ", "/etc/passwd"])
    assert.match(r.stdout, new RegExp(`^${path.replace(/[./]/g, "\\$&")} +No such file or directory$`, "m"), path);
  assert.match(r.stdout, /^cwd after chdir\(\.\.\): \/$/m);
  assert.match(r.stdout, /^openat\(\/, \.\.\/secret\): No such file or directory$/m);
  assert.match(r.stdout, /^mkdir\(\.\.\/escaped\): created \(inside\)$/m);
  assert.match(r.stdout, /^\/dev\/null +OPENED 0 bytes/m);
  // Nothing appeared next to the MountPoint; what the guest made is inside.
  assert.deepEqual(readdirSync(dir).sort(), before);
  assert.ok(existsSync(join(dir, "root/escaped")));
  assert.equal(readFileSync(join(dir, "secret"), "utf8"), "TOP SECRET\n");
});

test("a denied hypercall gets EPERM and never reaches the host", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  writeFileSync(join(dir, "root/victim"), "still here");
  const manifest = writeManifest(dir, {
    binary: guest("denied"),
    hypercalls: [{ Name: "@basic-io" }, { Name: "*" }, { Name: "unlink", Allowed: false }, { Name: "open", Allowed: "False" }, { Name: "openat", Allowed: false }],
  });
  const r = torov(["run", manifest]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "unlink: Operation not permitted\nopen(O_CREAT): Operation not permitted\n");
  assert.equal(readFileSync(join(dir, "root/victim"), "utf8"), "still here");
  assert.ok(!existsSync(join(dir, "root/intruder")));
});

test("OnDenied kill ends the guest with SIGSYS and names the hypercall", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  writeFileSync(join(dir, "root/victim"), "x");
  const manifest = writeManifest(dir, {
    binary: guest("denied"),
    hypercalls: [{ Name: "@basic-io" }],
    extra: { OnDenied: "kill" },
  });
  const r = torov(["run", manifest]);
  assert.equal(r.status, 128 + 31);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^torov: denied killed by SIGSYS: hypercall unlink is denied by the manifest \(OnDenied "kill"\)\n$/);
  assert.ok(existsSync(join(dir, "root/victim")));
});

test("the guest names only its own descriptors", () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const r = torov(["run", writeManifest(dir, { binary: guest("fds") })]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "open: 0\nopen: 1\nopen: 2\n3 open\nfirst new fd 3, dup 4\ndup2 to 1000: 1000\ndup2 to 5000: -1 (EBADF)\n");
  // The guest closed its fd 1; the monitor's stdout is untouched.
  assert.equal(r.stderr, "write to closed 1: -1\n");
});

test("without a MountPoint the guest has no file system at all", () => {
  const dir = tempDir();
  writeFileSync(join(dir, "secret"), "x");
  const r = torov(["run", writeManifest(dir, { binary: guest("escape"), mountPoint: null })]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^\.\.\/secret +No such file or directory$/m);
  assert.match(r.stdout, /^mkdir\(\.\.\/escaped\): No such file or directory$/m);
});

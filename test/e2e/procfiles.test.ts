// Issue 18: the /proc and /sys files programs read while they start are the
// guest's own (native/hypercalls/procfs.cc): its mappings, its ids, its
// Memory; the host's CPUs, which its vCPUs are; nothing of the host's
// processes. test/guests/procfiles reads them as libc does.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { test } from "node:test";
import { guest, tempDir, torov, writeManifest } from "../helpers.js";

const online = readFileSync("/sys/devices/system/cpu/online", "utf8").trim();

for (const variant of ["procfiles", "procfiles.musl"]) {
  test(`${variant}: /proc/self/maps, status, meminfo, cpuinfo and the online CPUs answer for the guest`, () => {
    const dir = tempDir();
    const r = torov(["run", writeManifest(dir, { binary: guest(variant), mountPoint: null, extra: { Memory: 64 } })]);
    assert.equal(r.stderr, "");
    assert.equal(r.status, 0);
    const glibc = !variant.endsWith(".musl");
    // musl's pthread_getattr_np probes the stack with mremap instead of reading maps.
    assert.match(r.stdout, /^pthread_getattr_np: ok$/m);
    assert.match(r.stdout, /^stack holds a local: yes$/m);
    if (glibc) {
      // glibc counts online CPUs from /sys: the host's.
      assert.match(r.stdout, new RegExp(`^get_nprocs: ${cpus().length}$`, "m"));
      assert.match(r.stdout, new RegExp(`^sysconf online: ${cpus().length}$`, "m"));
    }
    assert.match(r.stdout, /^maps: the local is in a mapping: yes, named \[stack\]: yes$/m);
    assert.match(r.stdout, /^status Pid: \d+, is getpid: yes$/m);
    assert.match(r.stdout, /^status Threads: 1$/m);
    assert.match(r.stdout, /^meminfo MemTotal: 65536 kB$/m);
    assert.match(r.stdout, /^cpuinfo has processor 0: yes$/m);
    assert.match(r.stdout, new RegExp(`^online: ${online}$`, "m"));
    assert.match(r.stdout, /^by pid: ok$/m);
    // Read-only, and only these: nothing else of /proc, nothing of another process.
    assert.match(r.stdout, /^open maps for writing: EACCES$/m);
    assert.match(r.stdout, /^open environ: ENOENT$/m);
    assert.match(r.stdout, /^open pid 1's status: ENOENT$/m);
    assert.match(r.stdout, /^stat maps: ok 0$/m);
    assert.match(r.stdout, /^fchmod maps: EPERM$/m);
    // (Linux says EBADF: the fd is read-only; here the copy is sealed instead.)
    assert.match(r.stdout, /^write maps: EPERM$/m);
  });
}

// Host memory a guest can hold outside its RAM (issue 10, hole 5), with
// test/guests/pinning.c: its memfds together hold at most half of Memory
// (ENOSPC beyond, as a full tmpfs answers), however the pages get there, and
// its pipe buffers grow no larger than a new pipe's (EPERM, as Linux answers
// a process without CAP_SYS_RESOURCE past pipe-max-size). While the guest
// waits, holding a memfd as full as it could make it, the monitor's own
// descriptors show what the host keeps for it.
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, reportLines, runUntil, tempDir, variants, writeManifest } from "../helpers.js";

const MiB = 1 << 20;

interface Seen {
  lines: Map<string, string>;
  stdout: string;
  stderr: string;
  code: number | null;
  /** Bytes allocated in the guest's memfds that the monitor holds, while the guest waits. */
  memfdBytes: number;
}

async function runPinning(binary: string, memory: number): Promise<Seen> {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const manifest = writeManifest(dir, { binary: guest(binary), args: [String(2 * memory)], extra: { Memory: memory } });
  const { child, output, exited } = await runUntil(manifest, /^waiting$/m);
  let memfdBytes = NaN;
  try {
    const fds = `/proc/${child.pid}/fd`;
    memfdBytes = 0;
    for (const fd of readdirSync(fds)) {
      let link = "";
      try {
        link = readlinkSync(join(fds, fd));
      } catch {
        continue;
      }
      if (link.startsWith("/memfd:pin-")) memfdBytes += statSync(join(fds, fd)).blocks * 512;
    }
  } catch {
    // gone already: the assertions say what was missing
  }
  child.stdin.end("x");
  const [code] = await exited;
  const { stdout, stderr } = output;
  const lines = reportLines(stdout);
  return { lines, stdout, stderr, code: code as number | null, memfdBytes };
}

/** What Linux answers where the guest may hold no more. */
const EXPECTED: Record<string, string> = {
  "memfd ftruncate 1 TiB": "ok 0",
  "memfd pwrite over its own pages": `ok ${MiB}`,
  "memfd pwrite into a hole": "ENOSPC",
  "memfd fallocate": "ENOSPC",
  "memfd fallocate KEEP_SIZE": "ENOSPC",
  "memfd copy_file_range": "ENOSPC",
  "memfd writev": "ENOSPC",
  "memfd pwritev": "ENOSPC",
  "memfd sendfile": "ENOSPC",
  "memfd splice": "ENOSPC",
  "memfd write with a full one in flight": "ENOSPC",
  "the one in flight received back, emptied": "ok 0",
  "F_SETPIPE_SZ 1 MiB": "EPERM",
  "F_SETPIPE_SZ 128 KiB": "EPERM",
  "F_SETPIPE_SZ 65537": "EPERM",
  "F_SETPIPE_SZ 64 KiB": "ok 65536",
  "F_SETPIPE_SZ 4 KiB": "ok 4096",
  "F_SETPIPE_SZ -1": "EINVAL",
  "F_GETPIPE_SZ": "ok 4096",
};

test("a guest's memfds hold at most half its Memory, its pipes no more than a new pipe's", async () => {
  for (const binary of variants("pinning")) {
    for (const memory of [64, 128]) {
      const seen = await runPinning(binary, memory);
      const where = `${binary}, Memory ${memory}:\n${seen.stdout}${seen.stderr}`;
      assert.equal(seen.code, 0, where);
      for (const [what, want] of Object.entries(EXPECTED)) assert.equal(seen.lines.get(what), want, `${what}: ${where}`);
      // Filling from empty: exactly the budget, in whole MiB writes.
      const half = (memory / 2) * 1024;
      for (const what of ["memfd write", "memfd write after that"])
        assert.equal(seen.lines.get(what), `ENOSPC after ${half} KiB`, `${what}: ${where}`);
      // What the host keeps for the guest's memfds, seen from outside: the
      // one it filled, nothing more.
      assert.ok(seen.memfdBytes <= (memory / 2) * MiB && seen.memfdBytes >= (memory / 2 - 1) * MiB, `${seen.memfdBytes} bytes in memfds: ${where}`);
    }
  }
});

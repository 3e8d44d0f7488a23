// The program's file changed on the host while its guest runs (issue 10,
// hole 4): truncated, or rewritten in place, after the guest started and
// before it touches most of its tables (test/guests/rewritten.c). Linux
// refuses writes to a running program's file (ETXTBSY); here anyone may
// write it, so the guest must run from a copy: whatever is done to the
// file, the guest reads its original bytes, the monitor survives (a page
// past the end of a truncated file used to raise SIGBUS in it, which ends
// Node and every VM in it), and the run ends as it would have.
import assert from "node:assert/strict";
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, truncateSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { basename, join } from "node:path";
import { test } from "node:test";
import { guest, runUntil, scaled, tempDir, variants, writeManifest } from "../helpers.js";

interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Waits until the monitor's vCPU thread is blocked in poll(2) for the guest. */
async function vcpuInPoll(pid: number): Promise<void> {
  const deadline = Date.now() + scaled(20_000);
  while (Date.now() < deadline) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const t = `/proc/${pid}/task/${tid}`;
        if (readFileSync(`${t}/comm`, "utf8").trim() === "torov-vcpu" && readFileSync(`${t}/syscall`, "utf8").startsWith("7 ")) return;
      }
    } catch {
      return; // gone: the test says why
    }
    await sleep(10);
  }
  throw new Error("the guest never waited in poll");
}

/** Runs a copy of `binary`, applies `change` to the copy once the guest is waiting, then lets it go on. */
async function runChanged(binary: string, change: (path: string) => void): Promise<Ran> {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const copy = join(dir, basename(binary));
  copyFileSync(guest(binary), copy);
  const manifest = writeManifest(dir, { binary: copy });
  const { child, output, exited } = await runUntil(manifest, /^ready$/m);
  await vcpuInPoll(child.pid!);
  change(copy);
  child.stdin.end("x");
  const [code, signal] = await exited;
  const { stdout, stderr } = output;
  return { code: code as number | null, signal: signal as NodeJS.Signals | null, stdout, stderr };
}

const changes: Record<string, (path: string) => void> = {
  "truncated to nothing": (path) => truncateSync(path, 0),
  "overwritten in place": (path) => {
    const size = statSync(path).size;
    const fd = openSync(path, "r+");
    try {
      writeSync(fd, Buffer.alloc(size, 0x5a), 0, size, 0);
    } finally {
      closeSync(fd);
    }
  },
};

for (const binary of variants("rewritten")) {
  for (const [what, change] of Object.entries(changes)) {
    test(`${binary}: its file ${what} while it runs, the guest still reads its own bytes`, async () => {
      const r = await runChanged(binary, change);
      const where = `${binary}, file ${what}:\n${r.stdout}${r.stderr}`;
      assert.equal(r.signal, null, `the monitor died of ${r.signal}: ${where}`);
      assert.equal(r.code, 0, where);
      for (const way of ["direct", "write", "mremap"]) assert.match(r.stdout, new RegExp(`^${way}: ok$`, "m"), where);
      assert.equal(r.stderr, "", where);
    });
  }
}

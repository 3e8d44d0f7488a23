// Host calls that wait (test/guests/waits.c): a call asked not to wait
// answers at once instead of spinning, and a kill ends a guest whatever host
// call it waits in, within a bounded time, even when the first signal that
// should cut the wait short is lost.
import assert from "node:assert/strict";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Machine, loadManifest } from "../../src/index.js";
import { blockingPipe, guest, scaled, tempDir, torov, variants, writeManifest } from "../helpers.js";

test("calls asked not to wait answer at once: flock LOCK_NB, F_OFD_SETLK, splice and tee SPLICE_F_NONBLOCK", () => {
  for (const binary of variants("waits")) {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    // A guest spinning on EAGAIN never ends: the time limit ends it.
    const r = torov(["run", writeManifest(dir, { binary: guest(binary), args: ["now"] })], { timeout: 20_000 });
    assert.equal(r.status, 0, `${binary}: ${r.stderr}`);
    assert.equal(
      r.stdout,
      [
        "flock LOCK_NB on a locked file: EAGAIN",
        "F_OFD_SETLK on a locked range: EAGAIN",
        "F_OFD_GETLK on a locked range: ok 1",
        "splice SPLICE_F_NONBLOCK from an empty pipe: EAGAIN",
        "tee SPLICE_F_NONBLOCK from an empty pipe: EAGAIN",
        "splice from an empty O_NONBLOCK pipe: EAGAIN",
        "splice from a pipe with data: ok 3",
        "done",
        "",
      ].join("\n"),
      binary,
    );
  }
});

/** Starts the guest in `mode`, waits until it waits, kills it: the run must end, killed. */
async function killWhileWaiting(mode: string): Promise<void> {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const outPath = join(dir, "out");
  const out = openSync(outPath, "w");
  const { readFd, writeFd } = blockingPipe();
  const m = new Machine(loadManifest(writeManifest(dir, { binary: guest("waits"), args: [mode] })), { stdio: [readFd, out, out] });
  const done = m.start();
  try {
    const deadline = Date.now() + scaled(20_000);
    while (!readFileSync(outPath, "utf8").includes("waiting\n")) {
      assert.ok(Date.now() < deadline, `${mode}: the guest never got to its wait`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Into the host call itself.
    await new Promise((r) => setTimeout(r, scaled(100)));
    m.kill();
    let timer!: NodeJS.Timeout;
    const late = new Promise<"late">((r) => (timer = setTimeout(() => r("late"), scaled(5_000))));
    const result = await Promise.race([done, late]);
    clearTimeout(timer);
    assert.notEqual(result, "late", `${mode}: a kill did not end the guest within 5 s`);
    if (result !== "late") assert.equal(result.native.kind, "killed", mode);
  } finally {
    closeSync(out);
    closeSync(readFd);
    closeSync(writeFd);
  }
}

for (const mode of ["fifo", "flock", "ofd-lock", "read"]) {
  test(`a kill ends a guest waiting in a host call: ${mode}`, () => killWhileWaiting(mode));
}

test("a kill gets through when its first signal is lost just before the wait", async () => {
  // The fault the kicker exists for, made certain: the kick that goes with
  // the request is never sent (native/binding.cc, native/threads.cc).
  process.env.TOROV_FAULT_LOSE_KICK = "1";
  try {
    await killWhileWaiting("read");
  } finally {
    delete process.env.TOROV_FAULT_LOSE_KICK;
  }
});

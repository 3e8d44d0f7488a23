// npm run bench:threads's guests (issue 11) are correct programs under
// torov: the futex ping-pong and the parallel CPU work print the checksums
// of their native runs (their timings are printed, never compared here).
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guest, native, tempDir, torov, variants, writeManifest } from "../helpers.js";

/** A lost wake-up hangs the ping-pong: fail sooner than the default minute. */
const TIMEOUT = 30_000;

function checksum(name: string, args: string[]) {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const vm = torov(["run", writeManifest(dir, { binary: guest(name) }), ...args], { timeout: TIMEOUT });
  const host = native(guest(name), args, { cwd: tempDir() });
  assert.equal(host.status, 0, host.stderr);
  assert.equal(vm.status, 0, vm.stdout + vm.stderr);
  const sum = (out: string) => /^checksum (\d+)$/m.exec(out)?.[1];
  assert.ok(sum(host.stdout), host.stdout);
  assert.equal(sum(vm.stdout), sum(host.stdout));
  return vm.stdout;
}

for (const v of variants("futex-pingpong"))
  test(`${v}: 100 futex round trips each way between two threads, as natively`, () => {
    const out = checksum(v, ["100"]);
    assert.match(out, /^roundtrip [\d.]+\nwaits [\d.]+\neagain [\d.]+\nhandoff [\d.]+\nhandoff-eagain [\d.]+\nwake-alone [\d.]+\nchecksum \d+\n$/);
  });

for (const v of variants("spin"))
  for (const threads of ["1", "2", "3"])
    test(`${v}: integer work split over ${threads} thread(s) sums as natively`, () => {
      assert.match(checksum(v, [threads, "1"]), new RegExp(`^threads ${threads}\\n`));
    });

// torov as a library: many VMs in one Node process.
import assert from "node:assert/strict";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Machine, Tracer, loadManifest, run } from "../../src/index.js";
import { blockingPipe, guest, scaled, tempDir, writeManifest } from "../helpers.js";

test("run() resolves with the exit status; VMs run side by side", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const outs = [0, 1, 2, 3].map((i) => join(dir, `out${i}`));
  const fds = outs.map((p) => openSync(p, "w"));
  const statuses = await Promise.all(
    fds.map((fd, i) => run(writeManifest(dir, { binary: guest("args") }, `m${i}.json`), { args: [String(10 + i)], stdio: [-1, fd, fd] })),
  );
  fds.forEach(closeSync);
  assert.deepEqual(statuses, [10, 11, 12, 13]);
  outs.forEach((p, i) => assert.match(readFileSync(p, "utf8"), new RegExp(`^argc=2\nargv\\[0\\]=args\nargv\\[1\\]=${10 + i}\n`)));
});

test("a Machine can be killed while its guest blocks in a host call", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  // busybox cat reading a pipe that nobody writes: blocked in read(2) on the host.
  const manifest = loadManifest(writeManifest(dir, { binary: "/bin/busybox", args: ["cat"] }));
  const { readFd, writeFd } = blockingPipe();
  const m = new Machine(manifest, { stdio: [readFd, -1, -1] });
  const done = m.start();
  await new Promise((r) => setTimeout(r, scaled(200)));
  m.kill();
  const result = await done;
  assert.equal(result.native.kind, "killed");
  assert.equal(result.status, 137);
  closeSync(readFd);
  closeSync(writeFd);
});

test("tracing never drops a record: a full buffer makes the guest wait for JavaScript", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, "root"));
  const n = 20000;
  const m = new Machine(loadManifest(writeManifest(dir, { binary: guest("calls"), args: [String(n)] })));
  const seqs: number[] = [];
  let writes = 0;
  // The smallest buffer (64 KiB, some 700 records), no lines: JavaScript only counts.
  const out = join(dir, "summary.txt");
  const tracer = new Tracer(m, { summary: true, output: out, bufferBytes: 1, onRecord: (r) => (seqs.push(r.seq), (writes += r.nr === 1 ? 1 : 0)) });
  tracer.enable();
  const done = m.start();
  // Keep JavaScript busy for a while: the vCPU must wait, not drop.
  const until = Date.now() + 300;
  while (Date.now() < until);
  const outcome = await done;
  tracer.finish(outcome);
  assert.equal(outcome.status, 0);
  assert.equal(writes, n);
  assert.ok(seqs.length >= 2 * n);
  seqs.forEach((s, i) => assert.equal(s, i + 1, "records in order, none missing"));
  assert.match(readFileSync(out, "utf8"), new RegExp(`^ *[\\d.]+ +[\\d.]+ +\\d+ +${n} +write$`, "m"));
});

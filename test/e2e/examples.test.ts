// Each example runs as its README says.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { EXAMPLES, torov, torovSpawn } from "../helpers.js";

test("hello: ToroV's HelloWorld, with ToroV's own manifest", () => {
  const r = torov(["run", "examples/hello/hello.json"]);
  assert.equal(r.stdout, "Hello World, I am ToroV!\n");
  assert.equal(r.stderr, "");
  assert.equal(r.status, 0);
});

test("files: reads and writes inside its MountPoint, nothing outside", () => {
  const out = join(EXAMPLES, "files/mountpoint/notes/output.txt");
  rmSync(out, { force: true });
  const r = torov(["run", "examples/files/files.json"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "wrote /notes/output.txt: 2 lines\n/../../../../etc/passwd: No such file or directory\n/notes holds 2 files\n");
  assert.equal(readFileSync(out, "utf8"), "TOROV RUNS THIS PROGRAM AS A VM.\nITS FILES LIVE IN A MOUNT POINT.\n(2 lines)\n");
});

test("toro-flat: a flat binary in ToroV's `out` ABI", () => {
  assert.ok(existsSync(join(EXAMPLES, "toro-flat/toro-flat.bin")));
  const r = torov(["run", "examples/toro-flat/toro-flat.json"]);
  assert.equal(r.stdout, "Hello from a ToroV flat binary\n");
  assert.equal(r.status, 0, r.stderr);
});

test("echo: greets a client and echoes what it sends", async () => {
  const port = 50000 + (process.pid % 5000);
  const server = torovSpawn(["run", "examples/echo/echo.json", String(port)]);
  let out = "";
  server.stdout.on("data", (d) => (out += d));
  await new Promise<void>((resolve, reject) => {
    server.stdout.once("data", () => resolve());
    server.once("exit", (code) => reject(new Error(`echo exited early (${code})`)));
  });
  const reply = await new Promise<string>((resolve, reject) => {
    let got = "";
    const s = connect(port, "127.0.0.1", () => s.write("ping\n"));
    s.on("data", (d) => {
      got += d;
      if (got.includes("ping\n")) s.end();
    });
    s.on("close", () => resolve(got));
    s.on("error", reject);
  });
  const status = await new Promise<number | null>((resolve) => server.on("exit", resolve));
  assert.equal(reply, "This is a Server running as ToroV\nping\n");
  assert.match(out, /Waiting for a client on 127\.0\.0\.1:\d+\nServer : read : ping\n/);
  assert.equal(status, 0);
});

import assert from "node:assert/strict";
import fc from "fast-check";
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { TorovError } from "../../src/vmm/errors.js";
import { loadManifest, parseManifest } from "../../src/vmm/manifest.js";
import { policyNames } from "../../src/vmm/policy.js";
import { fuzzOptions } from "../fuzz-settings.js";
import { tempDir } from "../helpers.js";

function fixture(): string {
  const dir = tempDir();
  writeFileSync(join(dir, "prog"), "");
  mkdirSync(join(dir, "root"));
  return dir;
}

function parse(json: unknown, dir = fixture()) {
  return parseManifest(json, "app.json", dir);
}

function rejects(json: unknown, message: RegExp, dir?: string) {
  assert.throws(
    () => parse(json, dir),
    (e: unknown) => e instanceof TorovError && e.code === "EMANIFEST" && message.test(e.message) && !e.message.includes("\n"),
  );
}

test("ToroV's helloworld.json is accepted as it is, string booleans and all", () => {
  const dir = fixture();
  const m = parse(
    {
      Binary: "prog",
      MountPoint: "./root",
      Newpid: "False",
      Debug: { Allowed: "False", Port: "1234" },
      Hypercalls: [
        { Name: "Ioctl", Allowed: "True" },
        { Name: "Write", Allowed: "True" },
        { Name: "Getrlimit", Allowed: "True" },
      ],
    },
    dir,
  );
  assert.equal(m.binary, join(dir, "prog"));
  assert.equal(m.mountPoint, join(dir, "root"));
  assert.equal(m.newpid, false);
  assert.deepEqual(m.debug, { allowed: false, port: 1234 });
  assert.deepEqual(m.hypercalls.map((h) => h.name), ["ioctl", "write", "getrlimit"]);
  assert.equal(m.memoryMiB, 256);
  assert.equal(m.onDenied, "errno");
});

test("extensions: Args, Env, Memory, Processes, OnDenied, Startaddr, $schema", () => {
  const m = parse({
    $schema: "x",
    Binary: "prog",
    Args: ["-v", "x"],
    Env: { HOME: "/", LANG: "C" },
    Memory: 64,
    Processes: 8,
    OnDenied: "kill",
    Startaddr: "0x400200",
    Newpid: true,
    Debug: { Allowed: true, Port: 4321 },
  });
  assert.deepEqual(m.args, ["-v", "x"]);
  assert.deepEqual(m.env, { HOME: "/", LANG: "C" });
  assert.equal(m.memoryMiB, 64);
  assert.equal(m.processes, 8);
  assert.equal(parse({ Binary: "prog" }).processes, 64);
  assert.equal(m.onDenied, "kill");
  assert.equal(m.startaddr, 0x400200);
  assert.equal(m.newpid, true);
  assert.deepEqual(m.debug, { allowed: true, port: 4321 });
  assert.equal(m.mountPoint, undefined);
  assert.equal(parse({ Binary: "prog", Startaddr: "400200" }).startaddr, 0x400200);
});

test("unknown keys are errors naming the key path, with a suggestion", () => {
  rejects({ Binary: "prog", Hypercall: [] }, /app\.json: Hypercall: unknown key \(did you mean "Hypercalls"\?\)/);
  rejects({ Binary: "prog", binary: "x" }, /binary: unknown key \(did you mean "Binary"\?\)/);
  rejects({ Binary: "prog", Debug: { Alowed: true } }, /Debug\.Alowed: unknown key \(did you mean "Allowed"\?\)/);
  rejects({ Binary: "prog", Hypercalls: [{ Name: "write", Allow: true }] }, /Hypercalls\[0\]\.Allow: unknown key/);
});

test("unknown hypercall names suggest the closest real one", () => {
  rejects({ Binary: "prog", Hypercalls: [{ Name: "Wrte", Allowed: true }] }, /Hypercalls\[0\]\.Name: unknown hypercall "Wrte" \(did you mean "write"\?\)/);
  rejects({ Binary: "prog", Hypercalls: [{ Name: "@fille" }] }, /unknown group "@fille" \(did you mean "@file"\?\)/);
  rejects({ Binary: "prog", Hypercalls: [{ Name: "qwertyuiop" }] }, /unknown hypercall "qwertyuiop"$/);
});

test("names are case-insensitive and may be groups or *", () => {
  const m = parse({ Binary: "prog", Hypercalls: [{ Name: "OPENAT" }, { Name: "@File" }, { Name: "*", Allowed: "False" }] });
  assert.deepEqual(m.hypercalls, [
    { name: "openat", allowed: true },
    { name: "@file", allowed: true },
    { name: "*", allowed: false },
  ]);
});

test("an emulated hypercall cannot be denied", () => {
  rejects({ Binary: "prog", Hypercalls: [{ Name: "brk", Allowed: false }] }, /"brk" is emulated by torov/);
});

test("bad values name the key and what was found", () => {
  rejects({ Binary: "prog", Newpid: "maybe" }, /Newpid: expected true or false .*found "maybe"/);
  rejects({ Binary: "prog", Memory: 4 }, /Memory: 4 is out of range \(16 to 65536\)/);
  rejects({ Binary: "prog", Processes: 0 }, /Processes: 0 is out of range \(1 to 4096\)/);
  rejects({ Binary: "prog", Processes: 1.5 }, /Processes: expected an integer from 1 to 4096, found number 1.5/);
  rejects({ Binary: "prog", Memory: "lots" }, /Memory: expected an integer from 16 to 65536, found "lots"/);
  rejects({ Binary: "prog", Debug: { Port: 70000 } }, /Debug\.Port: 70000 is out of range \(0 to 65535\)/);
  rejects({ Binary: "prog", OnDenied: "kil" }, /OnDenied: expected "errno" or "kill", found "kil" \(did you mean "kill"\?\)/);
  rejects({ Binary: "prog", Args: "x" }, /Args: expected an array of strings/);
  rejects({ Binary: "prog", Env: { A: 1 } }, /Env\.A: expected a string, found number 1/);
  rejects({ Binary: "prog", Startaddr: "zz" }, /Startaddr: expected an integer, or a hexadecimal address such as "400200", found "zz"/);
  rejects({ Binary: "prog", Debug: { Port: "http" } }, /Debug\.Port: expected an integer from 0 to 65535, or digits, such as "1234", found "http"/);
  rejects({ Binary: "prog", Debug: { Port: "99999" } }, /Debug\.Port: 99999 is out of range \(0 to 65535\)/);
  rejects({ Binary: "prog", Hypercalls: [{ Name: "" }] }, /Hypercalls\[0\]\.Name: must not be empty/);
  rejects({ Binary: "prog", Hypercalls: [{ Allowed: true }] }, /Hypercalls\[0\]\.Name: missing$/);
  rejects({ Binary: "prog", Hypercalls: { Name: "write" } }, /Hypercalls: expected an array, found an object/);
  rejects({ Binary: "prog", Env: { "A=B": "x" } }, /Env\.A=B: a variable name cannot be empty or contain '='/);
  rejects({ Binary: "prog", Args: ["a\0b"] }, /Args\[0\]: contains a NUL character/);
  rejects({ Binary: 42 }, /Binary: expected a string, found number 42/);
  rejects([], /app\.json: expected an object, found an array/);
});

test("Mounts: each Source at its Target, read-only unless said, checked before anything runs", () => {
  const dir = fixture();
  mkdirSync(join(dir, "lib"));
  writeFileSync(join(dir, "cache"), "");
  symlinkSync("lib", join(dir, "via-link"));
  const m = parse(
    {
      Binary: "prog",
      MountPoint: "root",
      Mounts: [
        { Source: "lib", Target: "/usr/lib/" },
        { Source: join(dir, "cache"), Target: "/etc/ld.so.cache", ReadOnly: "False" },
        { Source: "via-link", Target: "/opt", ReadOnly: true },
      ],
    },
    dir,
  );
  assert.deepEqual(
    m.mounts.map(({ source, target, readOnly, kind }) => [source, target, readOnly, kind]),
    [
      [join(dir, "lib"), "/usr/lib", true, "dir"],
      [join(dir, "cache"), "/etc/ld.so.cache", false, "file"],
      // What a symlink Source named when torov started, not the link.
      [join(dir, "lib"), "/opt", true, "dir"],
    ],
  );
  assert.equal(m.lendLoader, true);
  assert.equal(parse({ Binary: "prog", LendLoader: "False" }, dir).lendLoader, false);
  assert.deepEqual(parse({ Binary: "prog", MountPoint: "root" }, dir).mounts, []);

  rejects({ Binary: "prog", MountPoint: "root", Mounts: [{ Source: "gone", Target: "/x" }] }, new RegExp(`Mounts\\[0\\]\\.Source: ${dir}/gone does not exist$`), dir);
  rejects({ Binary: "prog", MountPoint: "root", Mounts: [{ Source: "lib", Target: "usr" }] }, /Mounts\[0\]\.Target: "usr" is relative/, dir);
  rejects({ Binary: "prog", MountPoint: "root", Mounts: [{ Source: "lib", Target: "/" }] }, /Mounts\[0\]\.Target: "\/" is the guest's root/, dir);
  rejects({ Binary: "prog", MountPoint: "root", Mounts: [{ Source: "lib", Target: "/a/../etc" }] }, /Mounts\[0\]\.Target: "\/a\/..\/etc" has a \. or \.\. part/, dir);
  rejects(
    { Binary: "prog", MountPoint: "root", Mounts: [{ Source: "lib", Target: "/usr" }, { Source: "root", Target: "//usr/" }] },
    /Mounts\[1\]\.Target: \/usr is Mounts\[0\]'s Target already/,
    dir,
  );
  rejects(
    { Binary: "prog", MountPoint: "root", Mounts: [{ Source: "cache", Target: "/etc/c" }, { Source: "lib", Target: "/etc/c/x" }] },
    /Mounts\[1\]\.Target: \/etc\/c\/x is below Mounts\[0\]'s Target \/etc\/c, which is a file/,
    dir,
  );
  rejects({ Binary: "prog", Mounts: [{ Source: "lib", Target: "/usr" }] }, /Mounts\[0\]: needs a MountPoint/, dir);
  rejects({ Binary: "prog", MountPoint: "root", Mounts: [{ Source: "lib" }] }, /Mounts\[0\]/, dir);
  rejects({ Binary: "prog", MountPoint: "root", Mounts: [{ Source: "lib", Target: "/x", Readonly: true }] }, /Readonly/, dir);
});

test("missing Binary, missing binary file, missing MountPoint folder", () => {
  const dir = fixture();
  rejects({}, /Binary: missing/, dir);
  rejects({ Binary: "nope" }, new RegExp(`Binary: ${dir}/nope does not exist`), dir);
  rejects({ Binary: "prog", MountPoint: "gone" }, new RegExp(`MountPoint: ${dir}/gone does not exist`), dir);
  rejects({ Binary: "prog", MountPoint: "prog" }, /MountPoint: .*prog is not a directory/, dir);
  rejects({ Binary: "root" }, /Binary: .*root is not a regular file/, dir);
});

test("invalid JSON reports where", () => {
  const dir = fixture();
  const path = join(dir, "bad.json");
  writeFileSync(path, '{\n  "Binary": "prog",\n  oops\n}\n');
  assert.throws(
    () => loadManifest(path),
    (e: unknown) => e instanceof TorovError && /bad\.json: invalid JSON: .*\(line 3, column \d+\)/.test(e.message),
  );
  assert.throws(() => loadManifest(join(dir, "absent.json")), /absent\.json: no such file/);
});

test("the shipped JSON Schema offers editors every hypercall name and group", () => {
  const schema = JSON.parse(readFileSync(join(__dirname, "../../../schema/manifest.schema.json"), "utf8"));
  assert.deepEqual(schema.properties.Hypercalls.items.properties.Name.examples, policyNames());
});

test("the shipped JSON Schema knows exactly the keys the parser accepts", () => {
  const schema = JSON.parse(readFileSync(join(__dirname, "../../../schema/manifest.schema.json"), "utf8"));
  assert.deepEqual(Object.keys(schema.properties).sort(), ["$schema", "Args", "Binary", "Debug", "Env", "Hypercalls", "LendLoader", "Memory", "MountPoint", "Mounts", "Newpid", "OnDenied", "Processes", "Startaddr"]);
  assert.deepEqual(Object.keys(schema.properties.Debug.properties).sort(), ["Allowed", "Port"]);
  assert.equal(schema.additionalProperties, false);
});

test("any JSON at all is a manifest or one line naming what is wrong (fuzzed)", () => {
  const dir = fixture();
  const value = fc.oneof(fc.boolean(), fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.constantFrom("True", "False", "prog", "root", "write", "@file", "*", "0x400200", "1234"));
  const keys = fc.constantFrom("Binary", "MountPoint", "Newpid", "Debug", "Hypercalls", "Startaddr", "Args", "Env", "Memory", "OnDenied", "$schema", "Name", "Allowed", "Port", "binary", "x");
  const json = fc.letrec((tie) => ({
    node: fc.oneof({ depthSize: "small" }, value, fc.array(tie("node"), { maxLength: 3 }), fc.dictionary(keys, tie("node"), { maxKeys: 4 })),
  })).node;
  // Manifests that start valid and get one part replaced by anything.
  const near = fc.record({ key: keys, v: json }).map(({ key, v }) => ({ Binary: "prog", MountPoint: "root", Hypercalls: [{ Name: "write" }], [key]: v }));
  fc.assert(
    fc.property(fc.oneof(json, near), (m) => {
      try {
        const ok = parse(m, dir);
        assert.equal(ok.binary, join(dir, "prog"));
      } catch (e) {
        assert.ok(e instanceof TorovError, `not a TorovError: ${String(e)}`);
        assert.equal(e.code, "EMANIFEST");
        assert.ok(e.message.startsWith("app.json: ") && !e.message.includes("\n") && !/undefined|NaN|\[object/.test(e.message), e.message);
      }
    }),
    fuzzOptions(3000, 42),
  );
});

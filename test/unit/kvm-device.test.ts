// Where the tests and benchmarks look for KVM: only a character device
// counts, and looking never creates anything (a shell probe that opened
// /dev/kvm read-write as root once left a regular file there, and every
// later probe took it for KVM).
import assert from "node:assert/strict";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { kvmDevice } from "../../src/vmm/kvm-device.js";
import { tempDir } from "../helpers.js";

test("an absent path is no KVM, and looking does not create it", () => {
  const path = join(tempDir(), "kvm");
  assert.deepEqual(kvmDevice(path), { usable: false, why: "absent", message: `${path} does not exist` });
  assert.equal(existsSync(path), false);
});

test("a regular file or a folder at the path is not KVM", () => {
  const dir = tempDir();
  const file = join(dir, "kvm");
  writeFileSync(file, "");
  assert.deepEqual(kvmDevice(file), { usable: false, why: "not-a-device", message: `${file} is a regular file, not the KVM device` });
  const folder = join(dir, "folder");
  mkdirSync(folder);
  assert.equal(kvmDevice(folder).usable, false);
  assert.match((kvmDevice(folder) as { message: string }).message, /is a directory, not the KVM device$/);
});

test("a character device we may open is usable", () => {
  // /dev/null stands for the device: what the path is, not what it speaks,
  // decides here (the addon's KVM_GET_API_VERSION tells the rest).
  assert.deepEqual(kvmDevice("/dev/null"), { usable: true });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { GROUPS, HYPERCALLS, hypercallByNumber, syscallName } from "../../src/vmm/hypercalls.js";
import { native } from "../../src/vmm/native.js";
import { LINUX_SYSCALLS } from "../../src/vmm/syscalls.js";
import { closest, editDistance } from "../../src/vmm/suggest.js";

test("the table and the native handlers name the same hypercalls", () => {
  const table = HYPERCALLS.map((h) => h.nr).sort((a, b) => a - b);
  const handlers = native().implementedHypercalls().sort((a, b) => a - b);
  const missing = table.filter((n) => !handlers.includes(n)).map(syscallName);
  const extra = handlers.filter((n) => !table.includes(n)).map(syscallName);
  assert.deepEqual({ missing, extra }, { missing: [], extra: [] });
});

test("the table has each Linux name once, with the right number", () => {
  const names = new Set<string>();
  for (const h of HYPERCALLS) {
    assert.ok(!names.has(h.name), `${h.name} twice`);
    names.add(h.name);
    assert.equal(LINUX_SYSCALLS.get(h.name), h.nr);
    assert.equal(hypercallByNumber(h.nr), h);
    assert.ok(h.groups.length > 0);
  }
  assert.equal(LINUX_SYSCALLS.get("write"), 1);
  assert.equal(LINUX_SYSCALLS.get("openat"), 257);
  assert.equal(syscallName(231), "exit_group");
  assert.equal(syscallName(9999), "syscall_9999");
});

test("the groups the issue asks for exist", () => {
  for (const g of ["@basic-io", "@file", "@network", "@time", "@signal", "@process"]) assert.ok(g in GROUPS, g);
});

test("suggestions find typos, not unrelated names", () => {
  assert.equal(editDistance("wrte", "write"), 1);
  assert.equal(editDistance("wrtie", "write"), 1, "a swap of neighbours is one edit");
  assert.equal(closest("Wrte", LINUX_SYSCALLS.keys()), "write");
  assert.equal(closest("opnat", LINUX_SYSCALLS.keys()), "openat");
  assert.equal(closest("zzzzzzzz", LINUX_SYSCALLS.keys()), undefined);
});

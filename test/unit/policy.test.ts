import assert from "node:assert/strict";
import { test } from "node:test";
import { HYPERCALLS, groupMembers, hypercallByName } from "../../src/vmm/hypercalls.js";
import { Policy } from "../../src/vmm/policy.js";
import { LINUX_SYSCALLS } from "../../src/vmm/syscalls.js";

const nr = (name: string) => LINUX_SYSCALLS.get(name)!;

test("emulated hypercalls are always allowed, forwarded ones only when listed", () => {
  const p = new Policy([]);
  for (const h of HYPERCALLS) assert.equal(p.allows(h.nr), h.kind === "emulated", h.name);
  assert.equal(p.forwarded().length, 0);
});

test("a name allows that hypercall only", () => {
  const p = new Policy([{ name: "write", allowed: true }]);
  assert.ok(p.allows(nr("write")));
  assert.ok(!p.allows(nr("read")));
  assert.deepEqual(p.forwarded().map((h) => h.name), ["write"]);
});

test("groups allow their members", () => {
  const p = new Policy([{ name: "@network", allowed: true }]);
  for (const h of groupMembers("@network")!) assert.ok(p.allows(h.nr), h.name);
  assert.ok(!p.allows(nr("openat")));
  assert.deepEqual(groupMembers("@network-io"), groupMembers("@network"));
  assert.equal(groupMembers("@nope"), undefined);
});

test("an explicit false beats a group and *, whatever the order", () => {
  for (const entries of [
    [{ name: "*", allowed: true }, { name: "unlink", allowed: false }],
    [{ name: "unlink", allowed: false }, { name: "*", allowed: true }],
    [{ name: "@file", allowed: true }, { name: "unlink", allowed: false }],
  ]) {
    const p = new Policy(entries);
    assert.ok(!p.allows(nr("unlink")));
    assert.ok(p.allows(nr("openat")));
  }
});

test("the most specific entry wins: a name beats a group beats *", () => {
  const p = new Policy([
    { name: "*", allowed: false },
    { name: "@file", allowed: true },
    { name: "openat", allowed: false },
  ]);
  assert.ok(!p.allows(nr("openat")));
  assert.ok(p.allows(nr("mkdir")));
  assert.ok(!p.allows(nr("socket")));
  const q = new Policy([{ name: "@file", allowed: false }, { name: "openat", allowed: true }]);
  assert.ok(q.allows(nr("openat")));
  assert.ok(!q.allows(nr("mkdir")));
});

test("at the same level, false wins", () => {
  const p = new Policy([{ name: "@file", allowed: true }, { name: "@basic-io", allowed: false }]);
  assert.ok(!p.allows(nr("fcntl")), "fcntl is in both groups");
});

test("an emulated hypercall stays allowed under * false", () => {
  const p = new Policy([{ name: "*", allowed: false }]);
  assert.ok(p.allows(nr("brk")) && p.allows(nr("exit_group")) && p.allows(nr("mmap")));
  assert.ok(!p.allows(nr("write")));
});

test("the bitmap has the allowed numbers set and nothing else", () => {
  const p = new Policy([{ name: "write", allowed: true }]);
  const bits = p.bitmap();
  assert.equal(bits.length, 64);
  for (let n = 0; n < 512; n++) assert.equal(((bits[n >> 3] >> (n & 7)) & 1) === 1, p.allows(n), `nr ${n}`);
});

test("every group named in the table is documented", () => {
  for (const h of HYPERCALLS) for (const g of h.groups) assert.ok(groupMembers(g), `${h.name}: ${g}`);
  assert.equal(hypercallByName("openat")?.kind, "forwarded");
  assert.equal(hypercallByName("brk")?.kind, "emulated");
});

// The nested-KVM harness (test/harness/run-in-kvm.mjs) and the test
// runner's summary, in their parts that need no guest: the initramfs
// archive, the module order, the command script, the flavour names.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { flavourDescription, flavourName } from "../../src/vmm/flavour.js";
import { ROOT, tempDir } from "../helpers.js";

const harness = () => import(join(ROOT, "test", "harness", "run-in-kvm.mjs"));

/** Reads a newc cpio archive back: name, mode and data of each entry. */
function readCpio(b: Buffer): Array<{ name: string; mode: number; data: Buffer }> {
  const out = [];
  let at = 0;
  const align = (n: number) => (n + 3) & ~3;
  for (;;) {
    assert.equal(b.toString("latin1", at, at + 6), "070701", `magic at ${at}`);
    const field = (i: number) => parseInt(b.toString("latin1", at + 6 + i * 8, at + 14 + i * 8), 16);
    const [mode, size, namesize] = [field(1), field(6), field(11)];
    const name = b.toString("latin1", at + 110, at + 110 + namesize - 1);
    assert.equal(b[at + 110 + namesize - 1], 0, "names end in NUL");
    const dataAt = align(at + 110 + namesize);
    if (name === "TRAILER!!!") return out;
    out.push({ name, mode, data: b.subarray(dataAt, dataAt + size) });
    at = align(dataAt + size);
  }
}

test("the initramfs is a newc archive the kernel can unpack: names, modes, data, alignment", async () => {
  const { cpio } = await harness();
  const entries = [
    { name: "bin", mode: 0o40755 },
    { name: "init", mode: 0o100755, data: Buffer.from("#!/bin/sh\necho hi\n") },
    { name: "modules/odd-size.ko", mode: 0o100644, data: Buffer.from([1, 2, 3, 4, 5]) },
  ];
  const back = readCpio(cpio(entries));
  assert.deepEqual(
    back.map((e) => [e.name, e.mode, e.data.toString("hex")]),
    entries.map((e) => [e.name, e.mode, (e.data ?? Buffer.alloc(0)).toString("hex")]),
  );
});

test("kernel modules load after the modules they need, each once; a missing one is named", async () => {
  const { moduleOrder, HarnessError } = await harness();
  const dir = tempDir();
  writeFileSync(
    join(dir, "modules.dep"),
    [
      "kernel/arch/x86/kvm/kvm-amd.ko: kernel/drivers/crypto/ccp/ccp.ko kernel/arch/x86/kvm/kvm.ko kernel/virt/lib/irqbypass.ko",
      "kernel/arch/x86/kvm/kvm.ko: kernel/virt/lib/irqbypass.ko",
      "kernel/virt/lib/irqbypass.ko:",
      "kernel/drivers/crypto/ccp/ccp.ko:",
      "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz",
      "kernel/net/9p/9pnet.ko.xz:",
      "",
    ].join("\n"),
  );
  writeFileSync(join(dir, "modules.builtin"), "kernel/fs/overlayfs/overlay.ko\n");
  const order: string[] = moduleOrder(dir, ["kvm_amd", "9p", "overlay"]);
  assert.equal(new Set(order).size, order.length, "each once");
  const before = (a: string, b: string) => assert.ok(order.indexOf(a) < order.indexOf(b), `${a} before ${b}: ${order}`);
  before("kernel/virt/lib/irqbypass.ko", "kernel/arch/x86/kvm/kvm.ko");
  before("kernel/arch/x86/kvm/kvm.ko", "kernel/arch/x86/kvm/kvm-amd.ko");
  before("kernel/drivers/crypto/ccp/ccp.ko", "kernel/arch/x86/kvm/kvm-amd.ko");
  before("kernel/net/9p/9pnet.ko.xz", "kernel/fs/9p/9p.ko.xz");
  assert.ok(!order.some((m) => m.includes("overlay")), "a built-in module is not loaded");
  assert.throws(() => moduleOrder(dir, ["virtio_pci"]), (e: unknown) => e instanceof HarnessError && /has no module virtio_pci/.test((e as Error).message));
});

test("the guest's command script keeps every argument and variable as given, quotes and all", async () => {
  const { commandScript } = await harness();
  const dir = tempDir();
  mkdirSync(join(dir, "it's here"));
  const script = commandScript(
    ["sh", "-c", 'printf "%s|" "$@" "$TRICKY" "$(pwd)"', "sh", "a b", "it's", "$HOME", ""],
    join(dir, "it's here"),
    { TRICKY: `"quoted" 'single' $dollar \`tick\``, "NOT-AN-IDENTIFIER": "dropped", PATH: process.env.PATH ?? "/usr/bin:/bin" },
    "",
  );
  const r = spawnSync("sh", ["-c", script], { encoding: "utf8", env: {} });
  assert.equal(r.stdout, `a b|it's|$HOME||"quoted" 'single' $dollar \`tick\`|${join(dir, "it's here")}|`, r.stderr);
  assert.doesNotMatch(script, /NOT-AN-IDENTIFIER/);
});

test("flavours are named for the test summary and for torov doctor", () => {
  assert.equal(flavourName({ flavour: "svm", hypervisor: "TCGTCGTCGTCG" }), "AMD-V nested under QEMU");
  assert.equal(flavourName({ flavour: "pvm", hypervisor: "KVMKVMKVM" }), "PVM");
  assert.equal(flavourName({ flavour: "vmx", hypervisor: "" }), "VT-x");
  assert.equal(flavourName({ flavour: "svm", hypervisor: "" }), "AMD-V");
  assert.match(flavourDescription({ flavour: "svm", hypervisor: "TCGTCGTCGTCG" }), /^AMD-V \(kvm_amd\), nested under QEMU's software CPU: an emulator/);
  assert.match(flavourDescription({ flavour: "vmx", hypervisor: "Microsoft Hv" }), /^Intel VT-x \(kvm_intel\), nested under Hyper-V$/);
  assert.match(flavourDescription({ flavour: "vmx", hypervisor: "NewVisor" }), /nested under a hypervisor signed "NewVisor"/);
});

test("the test summary counts what ran, and names each failure and skip with its reason", () => {
  const dir = tempDir();
  writeFileSync(
    join(dir, "a.test.js"),
    [
      'const { test } = require("node:test");',
      'test("passes", () => {});',
      'test("skipped", { skip: "gdb is not installed" }, () => {});',
      'test("fails", () => { throw new Error("boom\\nsecond line"); });',
      'test("parent", async (t) => { await t.test("child", () => {}); });',
    ].join("\n"),
  );
  const out = join(dir, "summary.json");
  // A test runner of its own, not a child reporting to this one.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  spawnSync(process.execPath, ["--test", `--test-reporter=${join(ROOT, "scripts", "test-summary.mjs")}`, `--test-reporter-destination=${out}`, join(dir, "a.test.js")], { encoding: "utf8", env });
  const s = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual([s.tests, s.pass, s.fail, s.skipped], [5, 3, 1, 1]);
  assert.deepEqual(s.failed.map((f: { name: string; reason: string }) => [f.name, f.reason]), [["fails", "boom"]]);
  assert.deepEqual(s.skippedTests.map((f: { name: string; reason: string }) => [f.name, f.reason]), [["skipped", "gdb is not installed"]]);
});

// torov doctor: what a user pastes into a bug report. It must name the KVM
// flavour as the rest of torov sees it, and the mechanism each debugger
// feature really uses here.
import assert from "node:assert/strict";
import { test } from "node:test";
import { flavourDescription } from "../../src/vmm/flavour.js";
import { native } from "../../src/vmm/native.js";
import { torov } from "../helpers.js";

const literally = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("torov doctor names the flavour, the host's hypervisor, and each debugger feature's mechanism", () => {
  const r = torov(["doctor"]);
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  const info = native().kvmInfo();
  assert.match(r.stdout, new RegExp(`^KVM +/dev/kvm usable; ${literally(flavourDescription(info))}$`, "m"));
  assert.match(r.stdout, /^test VM +booted and ran; a user-mode exit costs [\d.]+ µs$/m);
  const debugging = /^debugging +(.*\n(?: {10,}.*\n)*)/m.exec(r.stdout)?.[1] ?? "";
  if (native().probeDebug().mechanism === "kvm") {
    assert.match(debugging, /^KVM's guest debugging and debug registers/);
    assert.match(debugging, /single step: KVM_GUESTDBG_SINGLESTEP/);
    assert.match(debugging, /breakpoints: int3, intercepted by KVM/);
    assert.match(debugging, /hardware breakpoints and watchpoints: the 4 debug registers/);
  } else {
    assert.match(debugging, /^the guest runtime's own handlers \(KVM does not give .+ for user mode here\)/);
    assert.match(debugging, /single step: the trap flag, through the runtime's #DB handler/);
    assert.match(debugging, /watchpoints: page protection, any length/);
  }
  assert.match(r.stdout, /seccomp on the vCPU thread: active/);
});

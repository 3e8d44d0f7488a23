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
  const m = native().probeDebug().mechanisms;
  assert.match(debugging, m.kvmStep ? /^single step: KVM's \(KVM_GUESTDBG_SINGLESTEP\)$/m : /^ *single step: the trap flag, through the runtime's #DB handler$/m);
  assert.match(debugging, m.kvmInt3 ? /breakpoints: int3, intercepted by KVM/ : /breakpoints: int3, through the runtime's #BP handler/);
  assert.match(debugging, m.debugRegisters ? /hardware breakpoints and watchpoints: the 4 debug registers/ : /watchpoints: page protection, any number and length/);
  if (!(m.kvmStep && m.kvmInt3 && m.debugRegisters)) assert.match(debugging, /KVM gave no [a-z0-9 ]+: (debug exit|port 0x[0-9a-f]+ exit|exit \d+|failed)/, "what KVM did instead is shown");
  assert.match(r.stdout, /seccomp on the vCPU thread: active/);
  // A scratch thread under the hello example's filter is refused these.
  assert.match(r.stdout, /checked: socket EPERM, open EPERM, openat AT_FDCWD EPERM, ioctl TIOCSTI EPERM, getpid ok\n/);
});

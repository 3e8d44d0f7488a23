// Which KVM this host has, in words: the flavour (which kvm module serves
// /dev/kvm) and what the host itself runs under. torov behaves differently on
// PVM (no hardware debug help, syscall arrives in user mode) and on VT-x and
// AMD-V; and an AMD-V that QEMU's software CPU emulates is slow and has its
// own defects, so figures and failures there must say so.

import type { DebugMechanisms, KvmInfo } from "./native.js";

const SHORT: Record<KvmInfo["flavour"], string> = { pvm: "PVM", vmx: "VT-x", svm: "AMD-V", unknown: "KVM of an unknown flavour" };

/** Hypervisors by their CPUID signature, and whether they emulate the CPU in software. */
const HYPERVISORS: Record<string, { name: string; emulator: boolean }> = {
  TCGTCGTCGTCG: { name: "QEMU", emulator: true },
  KVMKVMKVM: { name: "KVM", emulator: false },
  "Microsoft Hv": { name: "Hyper-V", emulator: false },
  VMwareVMware: { name: "VMware", emulator: false },
  XenVMMXenVMM: { name: "Xen", emulator: false },
  VBoxVBoxVBox: { name: "VirtualBox", emulator: false },
  "bhyve bhyve": { name: "bhyve", emulator: false },
};

/** What the host runs under: undefined on bare metal. */
export function hostHypervisor(info: Pick<KvmInfo, "hypervisor">): { name: string; emulator: boolean } | undefined {
  if (!info.hypervisor) return undefined;
  return HYPERVISORS[info.hypervisor] ?? { name: `a hypervisor signed "${info.hypervisor}"`, emulator: false };
}

/**
 * The flavour as the test summary and the benchmarks name it: "PVM",
 * "VT-x", "AMD-V", or "AMD-V nested under QEMU" when an emulator's software
 * CPU provides the virtualisation.
 */
export function flavourName(info: Pick<KvmInfo, "flavour" | "hypervisor">): string {
  const short = SHORT[info.flavour] ?? info.flavour;
  const under = hostHypervisor(info);
  return under?.emulator ? `${short} nested under ${under.name}` : short;
}

/** The longer form `torov doctor` shows. */
export function flavourDescription(info: Pick<KvmInfo, "flavour" | "hypervisor">): string {
  const long: Record<KvmInfo["flavour"], string> = {
    pvm: "PVM (kvm_pvm: page-table based, no VT-x/AMD-V; guest kernel mode is emulated)",
    vmx: "Intel VT-x (kvm_intel)",
    svm: "AMD-V (kvm_amd)",
    unknown: "unknown (no kvm_intel, kvm_amd or kvm_pvm module found)",
  };
  const base = long[info.flavour] ?? info.flavour;
  const under = hostHypervisor(info);
  if (!under) return base;
  if (under.emulator) return `${base}, nested under ${under.name}'s software CPU: an emulator (slow; timings mean little)`;
  return `${base}, nested under ${under.name}`;
}

/** The debugger's mechanisms in a few words, for benchmark headings: "KVM step, KVM int3, debug registers"... */
export function debugMechanismsName(m: DebugMechanisms): string {
  return [m.kvmStep ? "KVM step" : "trap-flag step", m.kvmInt3 ? "KVM int3" : "runtime int3", m.debugRegisters ? "debug registers" : "page-protection watchpoints"].join(", ");
}

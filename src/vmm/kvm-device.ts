// Whether a host has KVM, decided without opening anything: the test runner
// and the benchmarks use it to choose between running VMs here and in
// test/harness's guests. Opening the path to find out is wrong twice: as
// root, a shell's `exec 3<>/dev/kvm` creates an empty regular file there
// when there is no device, and from then on every later probe that only
// opens the path believes KVM is here. Only a character device is KVM.
// .ci/run's shell probe makes the same test (`[ -c ]`, `[ -r ]`, `[ -w ]`).

import { accessSync, constants, statSync } from "node:fs";

export type KvmDeviceState =
  | { usable: true }
  | { usable: false; why: "absent" | "not-a-device" | "no-access"; message: string };

/** What is at `path` (normally /dev/kvm), for deciding where VMs can run. */
export function kvmDevice(path = "/dev/kvm"): KvmDeviceState {
  let st;
  try {
    st = statSync(path);
  } catch {
    return { usable: false, why: "absent", message: `${path} does not exist` };
  }
  if (!st.isCharacterDevice()) {
    const what = st.isFile() ? "a regular file" : st.isDirectory() ? "a directory" : "not a character device";
    return { usable: false, why: "not-a-device", message: `${path} is ${what}, not the KVM device` };
  }
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
  } catch {
    return { usable: false, why: "no-access", message: `${path}: permission denied` };
  }
  return { usable: true };
}

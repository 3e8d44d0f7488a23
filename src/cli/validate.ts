// torov validate app.json: checks a manifest as torov run would (its
// schema, its files, its program and interpreter headers), without KVM and
// without running anything, and says what the guest would see: "/", each
// mount, what LendLoader would lend, and how many hypercalls reach the host.
// Exit status 0, or 2 with the one-line problem.

import { describeMount, lentFor } from "../vmm/lending.js";
import { closeProgram, readImage } from "../vmm/image.js";
import { loadManifest } from "../vmm/manifest.js";
import { Policy } from "../vmm/policy.js";

export function run(manifestPath: string): void {
  const manifest = loadManifest(manifestPath);
  const program = readImage(manifest.binary, manifest.startaddr);
  let interp: string | undefined;
  try {
    interp = program.elf?.interp;
  } finally {
    closeProgram(program);
  }
  const lent = lentFor(manifest, interp);
  const forwarded = new Policy(manifest.hypercalls).forwarded().map((h) => h.name);
  const lines = [
    `${manifestPath}: ok`,
    `program  ${manifest.binary}: ${!program.elf ? "a flat binary" : interp === undefined ? "static" : `dynamically linked, interpreter ${interp}`}`,
    `/        ${manifest.mountPoint ?? "nothing (no MountPoint)"}`,
    ...[...manifest.mounts, ...lent].map((m) => `mount    ${describeMount(m)}`),
    `allowed  ${forwarded.length} forwarded hypercalls${forwarded.length ? `: ${forwarded.join(" ")}` : ""}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

// What torov lends a dynamically linked program's loader (LendLoader).
//
// When the interpreter a program asks for is not in its MountPoint and no
// Mounts entry lends its folder, the guest would stop before main: ld.so
// itself is missing. torov then lends, read-only and at the paths the host
// uses, what the host's loader reads to start the program: the folder that
// holds the interpreter, the folders ld.so searches (the multiarch ones are
// below these), and /etc/ld.so.cache. Only what exists on the host is lent,
// and never over a Target the manifest gives (its choice wins).

import { closeSync, existsSync, realpathSync, statSync } from "node:fs";
import { posix } from "node:path";
import type { Manifest, MountSpec } from "./manifest.js";
import { native } from "./native.js";

/** The folders glibc's and musl's loaders search on x86-64 Linux, and the cache. */
export const LOADER_PATHS: readonly string[] = ["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/etc/ld.so.cache"];

/**
 * The mounts torov adds for `interp` (the program's PT_INTERP), or none:
 * when LendLoader is off, the program is static, or what the manifest gives
 * the guest has the interpreter already. `inMountPoint` says whether the
 * interpreter opens in the MountPoint (the caller asks the native side,
 * which resolves it as the guest would).
 */
export function lentMounts(manifest: Manifest, interp: string | undefined, inMountPoint: boolean): MountSpec[] {
  if (!manifest.lendLoader || interp === undefined || !interp.startsWith("/") || manifest.mountPoint === undefined) return [];
  if (inMountPoint) return [];
  const covers = (target: string, path: string) => path === target || path.startsWith(`${target}/`);
  if (manifest.mounts.some((m) => covers(m.target, posix.normalize(interp)))) return [];
  const wanted = new Set([posix.dirname(posix.normalize(interp)), ...LOADER_PATHS]);
  const lent: MountSpec[] = [];
  for (const target of wanted) {
    if (target === "/" || manifest.mounts.some((m) => covers(m.target, target))) continue;
    if (!existsSync(target)) continue;
    let source: string;
    let st;
    try {
      source = realpathSync(target);
      st = statSync(source);
    } catch {
      continue;
    }
    if (!st.isDirectory() && !st.isFile()) continue;
    lent.push({ source, target, readOnly: true, kind: st.isDirectory() ? "dir" : "file", origin: "lent" });
  }
  return lent;
}

/**
 * What torov lends the program whose PT_INTERP is `interp` (undefined: a
 * static one), asking the native side whether the interpreter opens in the
 * MountPoint as the guest would open it. Needs no KVM.
 */
export function lentFor(manifest: Manifest, interp: string | undefined): MountSpec[] {
  const found = interp !== undefined && manifest.mountPoint !== undefined ? native().openInRoot(manifest.mountPoint, interp) : -2;
  if (found >= 0) closeSync(found);
  // ENOENT: lend; any other answer (a folder, a FIFO...) is the loader's to report.
  return lentMounts(manifest, interp, found !== -2);
}

/** How torov names a mount to its user: "/lib64 = /usr/lib64, read-only, lent for the loader". */
export function describeMount(m: MountSpec): string {
  return `${m.target} = ${m.source}${m.kind === "file" ? " (a file)" : ""}, ${m.readOnly ? "read-only" : "writable"}, ${m.origin === "lent" ? "lent for the loader (LendLoader)" : `from ${m.origin}`}`;
}

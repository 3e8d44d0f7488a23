// The policy: which hypercalls a guest may make, from the manifest's
// Hypercalls list. Emulated hypercalls are always allowed; a forwarded one
// is allowed when the most specific entry that names it says so: a name
// beats a group, a group beats "*", and at the same level `false` wins.

import { GROUP_ALIASES, GROUPS, HYPERCALLS, groupMembers, type Hypercall } from "./hypercalls.js";
import { syscallBitmap } from "./syscall-set.js";
import { LINUX_SYSCALLS } from "./syscalls.js";

export interface PolicyEntry {
  /** A Linux syscall name (lower case), a group ("@file") or "*". */
  readonly name: string;
  readonly allowed: boolean;
}

export class Policy {
  readonly allowed: ReadonlySet<number>;

  constructor(entries: readonly PolicyEntry[]) {
    const decision = new Map<number, { level: number; allowed: boolean }>();
    const decide = (nr: number, level: number, allowed: boolean) => {
      const prev = decision.get(nr);
      if (!prev || level > prev.level || (level === prev.level && !allowed)) decision.set(nr, { level, allowed });
    };
    for (const e of entries) {
      if (e.name === "*") {
        for (const nr of LINUX_SYSCALLS.values()) decide(nr, 0, e.allowed);
      } else if (e.name.startsWith("@")) {
        for (const h of groupMembers(e.name) ?? []) decide(h.nr, 1, e.allowed);
      } else {
        const nr = LINUX_SYSCALLS.get(e.name);
        if (nr !== undefined) decide(nr, 2, e.allowed);
      }
    }
    const allowed = new Set<number>();
    for (const h of HYPERCALLS) if (h.kind === "emulated") allowed.add(h.nr);
    for (const [nr, d] of decision) if (d.allowed) allowed.add(nr);
    this.allowed = allowed;
  }

  /** Everything allowed: what `torov profile` runs with. */
  static allowAll(): Policy {
    return new Policy([{ name: "*", allowed: true }]);
  }

  allows(nr: number): boolean {
    return this.allowed.has(nr);
  }

  /** The bitmap the vCPU checks on every hypercall. */
  bitmap(): Uint8Array {
    return syscallBitmap(this.allowed);
  }

  /** The forwarded hypercalls this policy lets reach the host, by name. */
  forwarded(): Hypercall[] {
    return HYPERCALLS.filter((h) => h.kind === "forwarded" && this.allowed.has(h.nr));
  }
}

/** Every name a manifest may use in Hypercalls, for suggestions. */
export function policyNames(): string[] {
  return ["*", ...Object.keys(GROUPS), ...Object.keys(GROUP_ALIASES), ...LINUX_SYSCALLS.keys()];
}

export function isKnownName(name: string): boolean {
  if (name === "*") return true;
  if (name.startsWith("@")) return groupMembers(name) !== undefined;
  return LINUX_SYSCALLS.has(name);
}

// The app manifest: ToroV's format as it is, plus torov's additions.
//
//   { "Binary": "hello", "MountPoint": "./mountpoint", "Newpid": "False",
//     "Debug": { "Allowed": "False", "Port": "1234" },
//     "Hypercalls": [ { "Name": "Write", "Allowed": "True" } ],
//     "Startaddr": "400200",                       (flat binaries)
//     "Args": ["-v"], "Env": { "HOME": "/" },      (torov)
//     "Memory": 256, "Processes": 64,
//     "OnDenied": "errno" }                        (torov)
//
// Every problem is one TorovError naming the file, the key path and what is
// wrong, with a suggestion when a name is close to a real one. Nothing falls
// back to a default silently.

import { readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, isAbsolute, posix, resolve } from "node:path";
import { TorovError } from "./errors.js";
import { isKnownName, policyNames, type PolicyEntry } from "./policy.js";
import { HYPERCALLS } from "./hypercalls.js";
import { didYouMean } from "./suggest.js";

export interface Manifest {
  /** Absolute path of the manifest file. */
  readonly path: string;
  /** Absolute path of the program. */
  readonly binary: string;
  /** Absolute path of the folder the guest sees as "/"; undefined: no file system. */
  readonly mountPoint?: string;
  /** Host paths lent into the guest's view (Mounts), in the manifest's order. */
  readonly mounts: readonly MountSpec[];
  /** Whether torov lends a dynamic program what the host's loader needs (LendLoader). */
  readonly lendLoader: boolean;
  readonly newpid: boolean;
  readonly debug: { readonly allowed: boolean; readonly port: number };
  readonly hypercalls: readonly PolicyEntry[];
  /** Load address of a flat binary. */
  readonly startaddr?: number;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly memoryMiB: number;
  /** How many processes the guest may have at once (Processes): a fork past it is EAGAIN. */
  readonly processes: number;
  readonly onDenied: "errno" | "kill";
  /** The parsed JSON, for tools that rewrite the manifest (torov profile). */
  readonly raw: Record<string, unknown>;
}

/** One Mounts entry, checked: the guest sees `source` at `target`. */
export interface MountSpec {
  /** The host path, absolute, symlinks resolved (what is lent is what it named when torov started). */
  readonly source: string;
  /** The guest path: absolute, normalised, never "/". */
  readonly target: string;
  readonly readOnly: boolean;
  readonly kind: "dir" | "file";
  /** Who asked: the manifest's key path (Mounts[0]), or "lent" for LendLoader's. */
  readonly origin: string;
}

export const DEFAULT_MEMORY_MIB = 256;
/** Processes a guest may have at once, unless the manifest says (Processes). */
export const DEFAULT_PROCESSES = 64;
export const MIN_MEMORY_MIB = 16;
export const MAX_MEMORY_MIB = 65536;
export const DEFAULT_DEBUG_PORT = 1234;

/** The failure ajv reports (verbose: with the value and the schema that refused it). */
interface SchemaError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  parentSchema?: Record<string, unknown>;
  data?: unknown;
}
type Validate = ((data: unknown) => boolean) & { errors?: SchemaError[] | null };

// schema/manifest.schema.json compiled by scripts/gen-manifest-validator.mjs
// at build time: the schema editors check manifests with is the one torov
// checks them with.
let validator: Validate | undefined;
function validateSchema(json: unknown): SchemaError | undefined {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  validator ??= require("./manifest-validate.js") as Validate;
  if (validator(json)) return undefined;
  const errors = validator.errors ?? [];
  // A number out of range says so even when a string form was allowed too;
  // otherwise an anyOf refused as a whole says more than any one branch,
  // and a bad key name more than the pattern it failed.
  return errors.find((e) => e.keyword === "minimum" || e.keyword === "maximum") ?? errors.find((e) => e.keyword === "anyOf" || e.keyword === "propertyNames") ?? errors[0];
}

/** A JSON pointer as the key path a user reads: Hypercalls[0].Name. */
function keyPath(pointer: string, key?: string): string {
  const parts = pointer.split("/").slice(1).map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (key !== undefined) parts.push(key);
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** What a schema accepts, in words. */
function expected(schema: Record<string, unknown>): string {
  if (Array.isArray(schema.anyOf)) {
    const alternatives = (schema.anyOf as Array<Record<string, unknown>>).map(expected);
    // ToroV's booleans: true/false, or the strings "True"/"False".
    if (alternatives[0] === "true or false" && alternatives.length === 2) return `true or false (or "True"/"False")`;
    return alternatives.join(", or ");
  }
  if (Array.isArray(schema.enum)) {
    const values = schema.enum.map((v) => JSON.stringify(v));
    return values.length === 2 ? values.join(" or ") : `one of ${values.join(", ")}`;
  }
  switch (schema.type) {
    case "boolean":
      return "true or false";
    case "integer": {
      const range = schema.minimum !== undefined && schema.maximum !== undefined ? ` from ${schema.minimum} to ${schema.maximum}` : "";
      return `an integer${range}`;
    }
    case "string":
      // A pattern is for machines: its description says it in words.
      if (schema.pattern) return typeof schema.description === "string" ? schema.description : `a string matching /${schema.pattern}/`;
      return "a string";
    case "array":
      return (schema.items as Record<string, unknown> | undefined)?.type === "string" ? "an array of strings" : "an array";
    case "object":
      return "an object";
    default:
      return "a valid value";
  }
}

/** ajv's error as the one line torov prints: where, and what is wrong. */
function schemaProblem(e: SchemaError): [where: string, problem: string] {
  const schema = e.parentSchema ?? {};
  const found = `found ${describe(e.data)}`;
  switch (e.keyword) {
    case "additionalProperties": {
      const key = String(e.params.additionalProperty);
      const allowed = Object.keys((schema.properties as object | undefined) ?? {});
      const ci = allowed.find((a) => a.toLowerCase() === key.toLowerCase());
      return [keyPath(e.instancePath, key), `unknown key${ci ? ` (did you mean "${ci}"?)` : didYouMean(key, allowed)}`];
    }
    case "required": {
      const key = String(e.params.missingProperty);
      return [keyPath(e.instancePath, key), key === "Binary" ? "missing: the program to run" : "missing"];
    }
    case "propertyNames": {
      const names = schema.propertyNames as Record<string, unknown>;
      return [keyPath(e.instancePath, String(e.params.propertyName)), String(names.description ?? "not a valid name here")];
    }
    case "minimum":
    case "maximum":
      return [keyPath(e.instancePath), `${String(e.data)} is out of range (${schema.minimum ?? "-"} to ${schema.maximum ?? "-"})`];
    case "minLength":
      return [keyPath(e.instancePath), "must not be empty"];
    case "enum": {
      const hint = typeof e.data === "string" ? didYouMean(e.data, (schema.enum as unknown[]).map(String)) : "";
      return [keyPath(e.instancePath), `expected ${expected(schema)}, ${found}${hint}`];
    }
    default:
      return [keyPath(e.instancePath), `expected ${expected(schema)}, ${found}`];
  }
}

class Checker {
  constructor(readonly file: string) {}

  fail(where: string, problem: string): never {
    throw new TorovError(`${this.file}: ${where ? `${where}: ` : ""}${problem}`, "EMANIFEST");
  }

  /** A host path or a string the guest gets: C strings end at NUL. */
  string(v: string, where: string): string {
    if (v.includes("\0")) this.fail(where, "contains a NUL character");
    return v;
  }

  /** ToroV wrote booleans as "True"/"False"; the schema admits both forms. */
  boolean(v: unknown): boolean {
    return typeof v === "boolean" ? v : String(v).toLowerCase() === "true";
  }

  /** An integer, or a string of digits (ToroV's "Port": "1234"); the schema checked the form. */
  integer(v: unknown, where: string, min: number, max: number): number {
    const n = Number(v);
    if (n < min || n > max) this.fail(where, `${n} is out of range (${min} to ${max})`);
    return n;
  }
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "object") return "an object";
  return `${typeof v} ${String(v)}`;
}

/** Where in the text a JSON.parse error points, as "line L, column C". */
function jsonPosition(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m && !/end of JSON input/.test(message)) return "";
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  return ` (line ${line}, column ${column})`;
}

/** Reads and validates a manifest file. */
export function loadManifest(path: string): Manifest {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "is a directory, not a manifest" : err.message;
    throw new TorovError(`${path}: ${why}`, "EMANIFEST");
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message.split("\n")[0];
    throw new TorovError(`${path}: invalid JSON: ${msg}${jsonPosition(text, msg)}`, "EMANIFEST");
  }
  return parseManifest(json, path, dirname(file));
}

/**
 * Validates a parsed manifest. `name` is how errors name the file; relative
 * paths resolve against `baseDir`.
 */
export function parseManifest(json: unknown, name: string, baseDir: string): Manifest {
  const c: Checker = new Checker(name);
  const refused = validateSchema(json);
  if (refused) c.fail(...schemaProblem(refused));
  // From here on the shape is the schema's: what is left is what a schema
  // cannot know (files, hypercall names, ranges of string-typed numbers).
  const o = json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const at = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

  const binary = at(c.string(o.Binary, "Binary"));
  let st;
  try {
    st = statSync(binary);
  } catch {
    c.fail("Binary", `${binary} does not exist`);
  }
  if (!st.isFile()) c.fail("Binary", `${binary} is not a regular file`);

  let mountPoint: string | undefined;
  if (o.MountPoint !== undefined) {
    mountPoint = at(c.string(o.MountPoint, "MountPoint"));
    let mst;
    try {
      mst = statSync(mountPoint);
    } catch {
      c.fail("MountPoint", `${mountPoint} does not exist (torov never runs a guest unconfined: create the folder)`);
    }
    if (!mst.isDirectory()) c.fail("MountPoint", `${mountPoint} is not a directory`);
  }

  const mounts: MountSpec[] = [];
  for (const [i, e] of ((o.Mounts ?? []) as Array<Record<string, unknown>>).entries()) {
    const where = `Mounts[${i}]`;
    if (mountPoint === undefined) c.fail(`${where}`, "needs a MountPoint: mounts are lent into the guest's file system, and without MountPoint it has none");
    const source = at(c.string(e.Source as string, `${where}.Source`));
    let real: string;
    let sst;
    try {
      real = realpathSync(source);
      sst = statSync(real);
    } catch {
      c.fail(`${where}.Source`, `${source} does not exist`);
    }
    if (!sst.isDirectory() && !sst.isFile()) c.fail(`${where}.Source`, `${source} is neither a folder nor a regular file`);
    const raw = c.string(e.Target as string, `${where}.Target`);
    if (!raw.startsWith("/")) c.fail(`${where}.Target`, `"${raw}" is relative: a Target is a path in the guest, such as "/usr"`);
    if (raw.split("/").some((p) => p === "." || p === ".."))
      c.fail(`${where}.Target`, `"${raw}" has a . or .. part: name the folder itself`);
    const target = posix.normalize(raw).replace(/\/+$/, "") || "/";
    if (target === "/") c.fail(`${where}.Target`, `"${raw}" is the guest's root: lend it with MountPoint`);
    const twice = mounts.findIndex((m) => m.target === target);
    if (twice >= 0) c.fail(`${where}.Target`, `${target} is Mounts[${twice}]'s Target already: one mount per target`);
    const readOnly = e.ReadOnly === undefined ? true : c.boolean(e.ReadOnly);
    mounts.push({ source: real, target, readOnly, kind: sst.isDirectory() ? "dir" : "file", origin: where });
  }
  for (const m of mounts) {
    const under = mounts.find((p) => p.kind === "file" && m.target.startsWith(p.target + "/"));
    if (under) c.fail(`${m.origin}.Target`, `${m.target} is below ${under.origin}'s Target ${under.target}, which is a file`);
  }
  const lendLoader = o.LendLoader === undefined ? true : c.boolean(o.LendLoader);

  const newpid = o.Newpid === undefined ? false : c.boolean(o.Newpid);

  let debug = { allowed: false, port: DEFAULT_DEBUG_PORT };
  if (o.Debug !== undefined) {
    debug = {
      allowed: o.Debug.Allowed === undefined ? false : c.boolean(o.Debug.Allowed),
      // 0: any free port (torov says which).
      port: o.Debug.Port === undefined ? DEFAULT_DEBUG_PORT : c.integer(o.Debug.Port, "Debug.Port", 0, 65535),
    };
  }

  const hypercalls: PolicyEntry[] = [];
  for (const [i, e] of ((o.Hypercalls ?? []) as Array<Record<string, unknown>>).entries()) {
    const where = `Hypercalls[${i}]`;
    const raw = (e.Name as string).trim();
    const name = raw.toLowerCase();
    if (!isKnownName(name)) {
      const kind = name.startsWith("@") ? "group" : "hypercall";
      c.fail(`${where}.Name`, `unknown ${kind} "${raw}"${didYouMean(name, policyNames())}`);
    }
    const allowed = e.Allowed === undefined ? true : c.boolean(e.Allowed);
    if (!allowed && !name.startsWith("@") && name !== "*") {
      const h = HYPERCALLS.find((x) => x.name === name);
      if (h?.kind === "emulated")
        c.fail(`${where}.Name`, `"${raw}" is emulated by torov (it never reaches the host) and cannot be denied`);
    }
    hypercalls.push({ name, allowed });
  }

  let startaddr: number | undefined;
  if (o.Startaddr !== undefined) {
    const v = o.Startaddr;
    startaddr = typeof v === "number" ? v : parseInt(String(v).trim().replace(/^(0x|\$)/, ""), 16);
    if (!Number.isSafeInteger(startaddr)) c.fail("Startaddr", `${String(v)} is too large for an address`);
  }

  const args = ((o.Args ?? []) as string[]).map((a, i) => c.string(a, `Args[${i}]`));

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries((o.Env ?? {}) as Record<string, string>)) env[k] = c.string(v, `Env.${k}`);

  const memoryMiB = o.Memory === undefined ? DEFAULT_MEMORY_MIB : (o.Memory as number);
  const processes = o.Processes === undefined ? DEFAULT_PROCESSES : (o.Processes as number);
  const onDenied: "errno" | "kill" = o.OnDenied ?? "errno";

  return { path: resolve(name), binary, mountPoint, mounts, lendLoader, newpid, debug, hypercalls, startaddr, args, env, memoryMiB, processes, onDenied, raw: o };
}

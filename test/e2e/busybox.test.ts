// busybox applets print byte for byte what they print natively, exit with
// the same status, and leave the same files behind. Each case runs in two
// identical fresh trees: natively with that tree as cwd, under torov with it
// as MountPoint.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { native, tempDir, torov, writeManifest } from "../helpers.js";

const BUSYBOX = "/bin/busybox";
const MTIME = new Date("2024-02-29T12:34:56Z");

function tree(): string {
  const dir = tempDir();
  const files: Record<string, string> = {
    "words.txt": "pear\napple\nfig\nbanana\napple\ncherry\n",
    "nums.txt": "10\n9\n100\n-3\n42\n",
    "passwd.txt": "root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\n",
    "sub/deep/file.txt": "deep\n",
    "sub/other.txt": "other file with spaces and\ttabs\n",
  };
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(join(dir, "binary.bin"), Buffer.from([...Array(256).keys()]));
  symlinkSync("words.txt", join(dir, "link"));
  // User and group names: natively they come from the host's /etc, and the
  // guest sees only its tree, so every tree has the same files in etc/.
  mkdirSync(join(dir, "etc"));
  for (const f of ["passwd", "group"]) if (existsSync(`/etc/${f}`)) copyFileSync(`/etc/${f}`, join(dir, "etc", f));
  utimesSync(join(dir, "etc"), MTIME, MTIME);
  for (const p of ["words.txt", "nums.txt", "passwd.txt", "sub/deep/file.txt", "sub/other.txt", "binary.bin", "sub/deep", "sub"])
    utimesSync(join(dir, p), MTIME, MTIME);
  utimesSync(dir, MTIME, MTIME);
  return dir;
}

/** Names, types, sizes and contents of everything in a tree (but /etc). */
function snapshot(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(dir, rel)).sort()) {
    if (!rel && name === "etc") continue;
    const p = join(rel, name);
    const st = statSync(join(dir, p), { throwIfNoEntry: false });
    if (!st) out.push(`${p} (dangling)`);
    else if (st.isDirectory()) out.push(`${p}/`, ...snapshot(dir, p));
    else out.push(`${p} ${st.size} ${readFileSync(join(dir, p)).toString("base64")}`);
  }
  return out;
}

const ENV = { LANG: "C", HOME: "/", PATH: "/bin", TZ: "UTC" };

const cases: Array<[args: string[], input?: string]> = [
  [["echo", "-n", "hello", "world"]],
  [["echo", "-e", "a\\tb\\nc"]],
  [["printf", "%s-%05d|%x\\n", "x", "42", "255"]],
  [["seq", "3", "7"]],
  [["seq", "-s,", "1", "10"]],
  [["cat", "words.txt", "nums.txt"]],
  [["cat", "missing.txt"]],
  [["tac", "words.txt"]],
  [["rev", "words.txt"]],
  [["head", "-n", "2", "words.txt"]],
  [["tail", "-n", "2", "words.txt"]],
  [["wc", "words.txt", "nums.txt"]],
  [["wc", "-c"], "twelve bytes"],
  [["sort", "-r", "words.txt"]],
  [["sort", "-n", "nums.txt"]],
  [["sort", "-u", "words.txt"]],
  [["uniq", "-c"], "a\na\nb\nc\nc\nc\n"],
  [["cut", "-d:", "-f1,6", "passwd.txt"]],
  [["tr", "a-z", "A-Z"], "shout this\n"],
  [["sed", "-e", "s/a/4/g", "-e", "/fig/d", "words.txt"]],
  [["grep", "-n", "an", "words.txt"]],
  [["grep", "-c", "zzz", "words.txt"]],
  [["grep", "-r", "deep", "sub"]],
  [["awk", "-F:", "{ n += $3 } END { print NR, n }", "passwd.txt"]],
  [["od", "-A", "x", "-t", "x1z", "binary.bin"]],
  [["hexdump", "-C", "words.txt"]],
  [["md5sum", "words.txt", "binary.bin"]],
  [["sha1sum", "words.txt"]],
  [["sha256sum", "binary.bin"]],
  [["sha512sum", "nums.txt"]],
  [["cksum", "words.txt"]],
  [["base64", "binary.bin"]],
  [["expr", "6", "*", "7"]],
  [["basename", "/a/b/c.txt", ".txt"]],
  [["dirname", "/a/b/c"]],
  [["ls"]],
  [["ls", "-l", "sub"]],
  [["ls", "-lR", "sub"]],
  [["ls", "-la", "link"]],
  [["find", ".", "-name", "*.txt"]],
  [["find", "sub", "-type", "d"]],
  [["du", "-a", "sub"]],
  [["stat", "-c", "%n %s %a %F", "words.txt", "sub", "link"]],
  [["readlink", "link"]],
  [["test", "-f", "words.txt"]],
  [["test", "-d", "nowhere"]],
  [["true"]],
  [["false"]],
  [["date", "-u", "-d", "@1000000000", "+%Y-%m-%d %H:%M:%S"]],
  [["cal", "2", "2024"]],
  [["factor", "360", "1000003"]],
  [["dc", "-e", "2 3 + 4 * p"]],
  [["uname", "-s", "-m", "-r"]],
  [["nproc"]],
  [["env"]],
  [["sh", "-c", "x=5; for i in 1 2 3; do x=$((x * i)); done; echo $x; echo ${#x}"]],
  [["sh", "-c", "read a b; echo \"[$b] [$a]\"; exit 3"], "first second\n"],
  [["gzip", "-c", "-n", "words.txt"]],
  [["sleep", "0.05"]],
  [["mkdir", "-p", "new/a/b"]],
  [["touch", "-d", "2020-01-01 00:00:00", "touched"]],
  [["cp", "words.txt", "copy.txt"]],
  [["mv", "nums.txt", "sub/moved.txt"]],
  [["rm", "-r", "sub/deep"]],
  [["ln", "-s", "sub/other.txt", "newlink"]],
  [["rmdir", "sub"]],
  [["chmod", "600", "words.txt"]],
  [["truncate", "-s", "3", "words.txt"]],
  [["tee", "out.txt"], "tee'd\n"],
  [["split", "-l", "2", "words.txt", "part."]],
  [["dd", "if=binary.bin", "of=dd.out", "bs=16", "count=3", "skip=2"]],
];

test("busybox is a static x86-64 program", { skip: !existsSync(BUSYBOX) && "busybox-static is not installed" }, () => {
  assert.ok(readFileSync(BUSYBOX).subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])));
});

for (const [args, input] of cases) {
  test(`busybox ${args.join(" ")}`, { skip: !existsSync(BUSYBOX) && "busybox-static is not installed" }, () => {
    const hostDir = tree();
    const host = native(BUSYBOX, args, { cwd: hostDir, env: ENV, input });
    const dir = tempDir();
    const root = tree();
    const manifest = writeManifest(dir, { binary: BUSYBOX, mountPoint: root, args, env: ENV });
    const vm = torov(["run", manifest], { input });
    assert.equal(vm.stdout, host.stdout);
    assert.equal(vm.stderr, host.stderr);
    assert.equal(vm.status, host.status);
    assert.deepEqual(snapshot(root), snapshot(hostDir));
  });
}

// Issue 19: busybox's sh forks for $(...), subshells, pipelines and
// background jobs; these run its builtins only (an applet such as tr would
// need execve).
const SCRIPT = `echo start
x=$(echo inner; exit 3); echo "x=$x status=$?"
echo a b c | { read p q r; echo "read $r $q $p"; }
(exit 7); echo "subshell $?"
{ echo one; echo two; } | while read l; do echo "line $l"; done
trap 'echo got USR1' USR1
kill -USR1 $$
( echo bg; exit 4 ) & wait $!; echo "bg status $?"
for i in 1 2 3; do ( exit $i ) & done; wait; echo "waited all"
echo $(( $(echo 6) * 7 ))
false | true; echo "pipe $?"
echo "$(echo "$(echo nested)")" > nested.txt
trap 'echo bye' EXIT
exit 5
`;

test("busybox sh: $(...), pipelines, subshells, background jobs, wait and traps, as natively", { skip: !existsSync(BUSYBOX) && "busybox-static is not installed" }, () => {
  const hostDir = tree();
  writeFileSync(join(hostDir, "script.sh"), SCRIPT);
  const host = native(BUSYBOX, ["sh", "script.sh"], { cwd: hostDir, env: ENV });
  assert.equal(host.status, 5, host.stderr);
  const dir = tempDir();
  const root = tree();
  writeFileSync(join(root, "script.sh"), SCRIPT);
  const vm = torov(["run", writeManifest(dir, { binary: BUSYBOX, mountPoint: root, args: ["sh", "/script.sh"], env: ENV })]);
  assert.equal(vm.stdout, host.stdout);
  assert.equal(vm.stderr, host.stderr);
  assert.equal(vm.status, 5);
  assert.match(vm.stdout, /^read c b a$/m);
  assert.match(vm.stdout, /^bg status 4$/m);
  assert.match(vm.stdout, /^got USR1$/m);
  assert.equal(readFileSync(join(root, "nested.txt"), "utf8"), "nested\n");
});

// The trace formatter, decoder by decoder, against what strace prints; the
// record reader on hand-built records; the -c table; -e expressions; the
// capture plan; profile manifests.

import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { flags, mmapFlags, octalMode, openFlags, PROT, sockType, statMode } from "../../src/trace/constants.js";
import { parseTraceFilter } from "../../src/trace/filter.js";
import { formatLine, formatResult, quote, sockaddr, timeOfDay } from "../../src/trace/format.js";
import { buildPlan, MAX_OPS, type TracePlan } from "../../src/trace/plan.js";
import { forwardedNames, profileManifest } from "../../src/trace/profile.js";
import { parseRecords, type TraceRecord } from "../../src/trace/records.js";
import { summaryTable } from "../../src/trace/summary.js";
import { pidPrefix, ThreadLines } from "../../src/trace/threads.js";
import { jsonRecord } from "../../src/trace/tracer.js";
import { hypercallByName, HYPERCALLS } from "../../src/vmm/hypercalls.js";
import { parseManifest } from "../../src/vmm/manifest.js";

const plan = buildPlan(32);
const nr = (name: string) => hypercallByName(name)!.nr;

// ---- hand-built records, in native/trace.h's layout

interface Blob {
  op: number;
  data: Buffer;
  full?: number;
  flags?: number;
}

function record(name: string, args: Array<number | bigint>, result: number | bigint, blobs: Blob[] = [], opts: { denied?: boolean; noReturn?: boolean; seq?: number; tid?: number; processEnd?: boolean } = {}): Buffer {
  const parts: Buffer[] = [];
  for (const b of blobs) {
    const h = Buffer.alloc(16);
    h[0] = b.op;
    h[1] = b.flags ?? 0;
    h.writeUInt32LE(b.data.length, 4);
    h.writeBigUInt64LE(BigInt(b.full ?? b.data.length), 8);
    const pad = Buffer.alloc((8 - ((16 + b.data.length) % 8)) % 8);
    parts.push(h, b.data, pad);
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(96);
  head.writeUInt32LE(96 + body.length, 0);
  head.writeUInt16LE(nr(name), 4);
  head[6] = (opts.denied ? 1 : 0) | (opts.noReturn ? 2 : 0) | (opts.processEnd ? 8 : 0);
  head[7] = blobs.length;
  head.writeBigUInt64LE(BigInt(opts.seq ?? 1), 8);
  head.writeBigInt64LE(1_700_000_000_123_456_789n, 16);
  head.writeBigUInt64LE(12_345n, 24);
  head.writeBigInt64LE(BigInt(result), 32);
  args.forEach((a, i) => head.writeBigUInt64LE(BigInt.asUintN(64, BigInt(a)), 40 + i * 8));
  head.writeUInt32LE(opts.tid ?? 1000, 88);
  return Buffer.concat([head, body]);
}

function one(buf: Buffer, p: TracePlan = plan): TraceRecord {
  const recs = parseRecords(buf, p);
  assert.equal(recs.length, 1);
  return recs[0];
}

const line = (buf: Buffer, o = {}) => formatLine(one(buf), { strsize: 32, ...o });
/** A short call's line: the result in column 40, as strace aligns it. */
const col = (call: string, result: string) => `${call.padEnd(39)} = ${result}`;
const str = (s: string) => Buffer.from(s, "latin1");

// ---- strings

test("quote: strace's escapes, octal that stays unambiguous, hex, and the ... of a cut", () => {
  assert.equal(quote(str('a"b\\c\n\t\r\v\f')), '"a\\"b\\\\c\\n\\t\\r\\v\\f"');
  assert.equal(quote(Buffer.from([0, 1, 2, 0xff, 0x62])), '"\\0\\1\\2\\377b"');
  // A digit after an octal escape: three digits, or "\01" would read as one byte.
  assert.equal(quote(Buffer.from([0, 0x31, 7, 0x37])), '"\\0001\\0077"');
  assert.equal(quote(Buffer.from([0x7f, 0x38])), '"\\1778"');
  assert.equal(quote(Buffer.from([0xcf, 0x00]), false, true), '"\\xcf\\x00"');
  assert.equal(quote(str("hello"), true), '"hello"...');
  assert.equal(quote(Buffer.alloc(0)), '""');
});

// ---- flags and constants

test("flags as strace names them, in its order, the rest in hex", () => {
  assert.equal(openFlags(0), "O_RDONLY");
  assert.equal(openFlags(0o1101), "O_WRONLY|O_CREAT|O_TRUNC");
  assert.equal(openFlags(0o2000000), "O_RDONLY|O_CLOEXEC");
  assert.equal(openFlags(0o4010002), "O_RDWR|O_SYNC");
  assert.equal(openFlags(0o20200002), "O_RDWR|O_TMPFILE");
  assert.equal(openFlags(0o200000 + 0x80000000), "O_RDONLY|O_DIRECTORY|0x80000000");
  assert.equal(mmapFlags(0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
  assert.equal(mmapFlags(0x812), "MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE");
  assert.equal(flags(0, PROT, "PROT_NONE"), "PROT_NONE");
  assert.equal(flags(5, PROT, "PROT_NONE"), "PROT_READ|PROT_EXEC");
  assert.equal(sockType(0o2000001), "SOCK_STREAM|SOCK_CLOEXEC");
  assert.equal(octalMode(0), "000");
  assert.equal(octalMode(0o644), "0644");
  assert.equal(octalMode(0o4755), "04755");
  assert.equal(statMode(0o100644), "S_IFREG|0644");
  assert.equal(statMode(0o104755), "S_IFREG|S_ISUID|0755");
  assert.equal(statMode(0o20620), "S_IFCHR|0620");
});

test("socket addresses: IPv4, IPv6 (shortest form), Unix paths and abstract names", () => {
  const v4 = Buffer.from([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(sockaddr(v4), '{sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr("127.0.0.1")}');
  const v6 = Buffer.alloc(28);
  v6.writeUInt16LE(10, 0);
  v6.writeUInt16BE(443, 2);
  v6.writeUInt16BE(0x2001, 8);
  v6.writeUInt16BE(0xdb8, 10);
  v6.writeUInt16BE(1, 22);
  assert.equal(sockaddr(v6), '{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}');
  const unix = Buffer.concat([Buffer.from([1, 0]), str("/tmp/s\0junk")]);
  assert.equal(sockaddr(unix), '{sa_family=AF_UNIX, sun_path="/tmp/s"}');
  const abstract = Buffer.concat([Buffer.from([1, 0, 0]), str("name")]);
  assert.equal(sockaddr(abstract), '{sa_family=AF_UNIX, sun_path=@"name"}');
});

// ---- whole lines from records

test("open and openat: the mode only with O_CREAT; paths in full; AT_FDCWD", () => {
  const path = str("a/very/long/path/name/that/is/longer/than/thirty-two");
  assert.equal(line(record("open", [0x4000, 0o1101, 0o644], 3, [{ op: 0, data: str("data.txt") }])), 'open("data.txt", O_WRONLY|O_CREAT|O_TRUNC, 0644) = 3');
  assert.equal(
    line(record("openat", [-100n, 0x4000, 0o2000000, 0o777], -2, [{ op: 0, data: path }])),
    `openat(AT_FDCWD, "${path}", O_RDONLY|O_CLOEXEC) = -1 ENOENT (No such file or directory)`,
  );
  // A path the guest's pointer could not give.
  assert.equal(line(record("unlink", [0xdead0000], -14, [{ op: 0, data: Buffer.alloc(0), flags: 2 }])), col("unlink(0xdead0000)", "-1 EFAULT (Bad address)"));
});

test("read and write: -s bytes and ..., the address when the call failed, results in column 40", () => {
  const long = str("hello, world\nsecond line with \"quotes\" and more");
  assert.equal(line(record("write", [3, 0x4000, 47], 47, [{ op: 0, data: long.subarray(0, 32), full: 47 }])), 'write(3, "hello, world\\nsecond line with \\"q"..., 47) = 47');
  assert.equal(line(record("write", [1, 0x4000, 3], 3, [{ op: 0, data: str("hi\n") }])), col('write(1, "hi\\n", 3)', '3'));
  assert.equal(line(record("read", [3, 0x4000, 200], 0, [{ op: 0, data: Buffer.alloc(0), full: 0 }])), col('read(3, "", 200)', '0'));
  assert.equal(line(record("read", [99, 0x4a6300, 5], -9)), col("read(99, 0x4a6300, 5)", "-1 EBADF (Bad file descriptor)"));
  assert.equal(line(record("read", [3, 0x4000, 100], 40, [{ op: 0, data: Buffer.alloc(32, 0x61), full: 40 }]), { strsize: 4 }), col('read(3, "aaaa"..., 100)', '40'));
});

test("readv and writev: iovecs with their data, a read's bytes spread as the result says", () => {
  const iov = (elems: Array<[number, number, Buffer]>) => {
    const b = Buffer.alloc(8 + elems.length * 24);
    b.writeUInt32LE(elems.length, 0);
    elems.forEach(([base, len, data], i) => {
      b.writeBigUInt64LE(BigInt(base), 8 + i * 24);
      b.writeBigUInt64LE(BigInt(len), 16 + i * 24);
      b.writeUInt32LE(data.length, 24 + i * 24);
    });
    return Buffer.concat([b, ...elems.map((e) => e[2])]);
  };
  assert.equal(
    line(record("writev", [1, 0x5000, 2], 5, [{ op: 0, data: iov([[0x100, 2, str("ab")], [0x200, 3, str("cd\n")]]), full: 2 }])),
    'writev(1, [{iov_base="ab", iov_len=2}, {iov_base="cd\\n", iov_len=3}], 2) = 5',
  );
  // 38 bytes read into 3 + 50: the second element got 35, of which 32 show.
  const second = str(", world\nsecond line with \"quotes").subarray(0, 32);
  assert.equal(
    line(record("readv", [3, 0x5000, 2], 38, [{ op: 0, data: iov([[0x100, 3, str("llo")], [0x200, 50, second]]), full: 2 }])),
    'readv(3, [{iov_base="llo", iov_len=3}, {iov_base=", world\\nsecond line with \\"quotes"..., iov_len=50}], 2) = 38',
  );
  assert.equal(line(record("readv", [-1, 0xff7cc00, 2], -9)), col("readv(-1, 0xff7cc00, 2)", "-1 EBADF (Bad file descriptor)"));
  // An element with no buffer, as strace shows it.
  assert.equal(
    line(record("writev", [1, 0x5000, 2], 2, [{ op: 0, data: iov([[0, 0, Buffer.alloc(0)], [0x200, 2, str("ab")]]), full: 2 }])),
    col('writev(1, [{iov_base=NULL, iov_len=0}, {iov_base="ab", iov_len=2}], 2)', "2"),
  );
});

test("pipe, lseek, mkdir, exit_group, denied calls, -T and -tt", () => {
  const fds = Buffer.alloc(8);
  fds.writeInt32LE(4, 0);
  fds.writeInt32LE(5, 4);
  assert.equal(line(record("pipe2", [0x1000, 0o4000 | 0o2000000], 0, [{ op: 0, data: fds }])), col("pipe2([4, 5], O_NONBLOCK|O_CLOEXEC)", "0"));
  assert.equal(line(record("lseek", [3, -2n, 1], 8)), col("lseek(3, -2, SEEK_CUR)", "8"));
  assert.equal(line(record("mkdir", [0x1000, 0o750], -17, [{ op: 0, data: str("dir") }])), col('mkdir("dir", 0750)', '-1 EEXIST (File exists)'));
  assert.equal(line(record("exit_group", [3], 0, [], { noReturn: true }), { durations: true }), col("exit_group(3)", "?"));
  assert.equal(line(record("socket", [2, 1, 0], -1, [], { denied: true })), "socket(AF_INET, SOCK_STREAM, IPPROTO_IP) = -1 EPERM (Operation not permitted) <denied>");
  assert.equal(line(record("close", [3], 0), { durations: true }), col("close(3)", "0 <0.000012>"));
  assert.match(line(record("close", [3], 0), { timestamps: 2 }), /^\d\d:\d\d:\d\d\.123456 close\(3\) += 0$/);
  assert.equal(timeOfDay(1_700_000_000_123_456_789n, true, true), "1700000000.123456");
});

test("structures: stat, timespec, rlimit, sigaction, poll results, mmap's offset, fcntl", () => {
  const st = Buffer.alloc(144);
  st.writeUInt32LE(0o100644, 24);
  st.writeBigInt64LE(1234n, 48);
  assert.equal(line(record("fstat", [3, 0x1000], 0, [{ op: 0, data: st }])), "fstat(3, {st_mode=S_IFREG|0644, st_size=1234, ...}) = 0");
  const chr = Buffer.alloc(144);
  chr.writeUInt32LE(0o20620, 24);
  chr.writeBigUInt64LE((136n << 8n) | 1n, 40);
  assert.equal(line(record("fstat", [1, 0x1000], 0, [{ op: 0, data: chr }])), "fstat(1, {st_mode=S_IFCHR|0620, st_rdev=makedev(0x88, 0x1), ...}) = 0");
  const ts = Buffer.alloc(16);
  ts.writeBigInt64LE(0n, 0);
  ts.writeBigInt64LE(1_000_000n, 8);
  assert.equal(line(record("nanosleep", [0x1000, 0], 0, [{ op: 0, data: ts }])), "nanosleep({tv_sec=0, tv_nsec=1000000}, NULL) = 0");
  const rl = Buffer.alloc(16);
  rl.writeBigUInt64LE(8192n * 1024n, 0);
  rl.writeBigUInt64LE(0xffffffffffffffffn, 8);
  assert.equal(line(record("prlimit64", [0, 3, 0, 0x1000], 0, [{ op: 1, data: rl }])), "prlimit64(0, RLIMIT_STACK, NULL, {rlim_cur=8192*1024, rlim_max=RLIM64_INFINITY}) = 0");
  const sa = Buffer.alloc(32);
  sa.writeBigUInt64LE(1n, 0);
  sa.writeBigUInt64LE(0x14000000n, 8);
  sa.writeBigUInt64LE(0x401000n, 16);
  sa.writeBigUInt64LE(1n << 12n, 24); // SIGPIPE (13)
  assert.equal(line(record("rt_sigaction", [13, 0x1000, 0, 8], 0, [{ op: 0, data: sa }])), "rt_sigaction(SIGPIPE, {sa_handler=SIG_IGN, sa_mask=[PIPE], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x401000}, NULL, 8) = 0");
  const poll = Buffer.alloc(16);
  poll.writeInt32LE(3, 0);
  poll.writeUInt16LE(1, 4);
  poll.writeInt32LE(4, 8);
  poll.writeUInt16LE(4, 12);
  const after = Buffer.from(poll);
  after.writeUInt16LE(1, 6);
  assert.equal(line(record("poll", [0x1000, 2, -1n], 1, [{ op: 0, data: poll }, { op: 1, data: after }])), "poll([{fd=3, events=POLLIN}, {fd=4, events=POLLOUT}], 2, -1) = 1 ([{fd=3, revents=POLLIN}])");
  assert.equal(line(record("mmap", [0, 8192, 3, 0x22, -1n, 0], 0x7f0000000000n)), "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000");
  assert.equal(line(record("mmap", [0, 4096, 1, 2, 3, 0x6000], 0x7f0000001000n)), "mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 3, 0x6000) = 0x7f0000001000");
  assert.equal(line(record("fcntl", [3, 3], 0x8002)), col("fcntl(3, F_GETFL)", "0x8002 (flags O_RDWR|O_LARGEFILE)"));
  assert.equal(line(record("fcntl", [3, 2, 1], 0)), col("fcntl(3, F_SETFD, FD_CLOEXEC)", "0"));
  assert.equal(line(record("brk", [0], 0x4ac000)), col("brk(NULL)", "0x4ac000"));
});

test("more decoders checked against strace on busybox: getdents64, umask, utimensat, prctl, sleeps", () => {
  const dirents = Buffer.alloc(48);
  dirents.writeUInt16LE(24, 16);
  dirents.writeUInt16LE(24, 24 + 16);
  assert.equal(line(record("getdents64", [3, 0x1000, 32768], 48, [{ op: 0, data: dirents }])), "getdents64(3, 0x1000 /* 2 entries */, 32768) = 48");
  assert.equal(line(record("umask", [0], 0o22)), col("umask(000)", "022"));
  const times = Buffer.alloc(32);
  times.writeBigInt64LE((1n << 30n) - 1n, 8);
  times.writeBigInt64LE((1n << 30n) - 2n, 24);
  assert.equal(line(record("utimensat", [-100n, 0x1000, 0x2000, 0], 0, [{ op: 0, data: str("t") }, { op: 1, data: times }])), col('utimensat(AT_FDCWD, "t", [UTIME_NOW, UTIME_OMIT], 0)', "0"));
  assert.equal(line(record("prctl", [16, 0x1000, 0, 0, 0], 0, [{ op: 1, data: str("busybox") }])), col('prctl(PR_GET_NAME, "busybox")', "0"));
  const ts = Buffer.alloc(16);
  ts.writeBigInt64LE(1n, 0);
  // The time left is shown only when the sleep was cut short.
  assert.equal(line(record("nanosleep", [0x1000, 0x2000], 0, [{ op: 0, data: ts }, { op: 1, data: ts }])), "nanosleep({tv_sec=1, tv_nsec=0}, 0x2000) = 0");
  assert.equal(line(record("nanosleep", [0x1000, 0x2000], -4, [{ op: 0, data: ts }, { op: 1, data: ts }])), "nanosleep({tv_sec=1, tv_nsec=0}, {tv_sec=1, tv_nsec=0}) = -1 EINTR (Interrupted system call)");
});

test("results: errno names and glibc's messages, unknown errnos", () => {
  const rec = (result: bigint) => one(record("close", [3], result));
  assert.equal(formatResult(rec(-2n)), "-1 ENOENT (No such file or directory)");
  assert.equal(formatResult(rec(-11n)), "-1 EAGAIN (Resource temporarily unavailable)");
  assert.equal(formatResult(rec(-4000n)), "-1 E4000 (Unknown error 4000)");
  assert.equal(formatResult(rec(-5000n)), "-5000");
});

test("--json: the same decoding, as one object", () => {
  const j = JSON.parse(jsonRecord(one(record("openat", [-100n, 0x4000, 0], -2, [{ op: 0, data: str("x") }], { seq: 7 })), 32));
  assert.deepEqual(j, { seq: 7, ts: "2023-11-14T22:13:20.123456Z", tid: 1000, name: "openat", nr: 257, args: ["AT_FDCWD", '"x"', "O_RDONLY"], ret: -1, errno: "ENOENT", dur_ns: 12345, denied: false });
});

test("the record reader: several records in one batch, and a corrupt size is an error", () => {
  const batch = Buffer.concat([record("close", [3], 0, [], { seq: 1 }), record("dup", [1], 4, [], { seq: 2 })]);
  const recs = parseRecords(batch, plan);
  assert.deepEqual(recs.map((r) => [r.seq, r.nr, Number(r.result)]), [[1, 3, 0], [2, 32, 4]]);
  const bad = record("close", [3], 0);
  bad.writeUInt32LE(1000, 0);
  assert.throws(() => parseRecords(bad, plan), /bad size 1000/);
});

// ---- the -c table

test("the -c table has strace's columns, widths, order and total", () => {
  const table = summaryTable([
    { nr: 1, calls: 2, errors: 0, nanos: 32_000 },
    { nr: 83, calls: 2, errors: 1, nanos: 59_000 },
    { nr: 158, calls: 1, errors: 0, nanos: 0 },
    { nr: 3, calls: 4, errors: 0, nanos: 0 },
  ]);
  assert.equal(
    table,
    [
      "% time     seconds  usecs/call     calls    errors syscall",
      "------ ----------- ----------- --------- --------- ----------------",
      " 64.84    0.000059          29         2         1 mkdir",
      " 35.16    0.000032          16         2           write",
      "  0.00    0.000000           0         4           close",
      "  0.00    0.000000           0         1           arch_prctl",
      "------ ----------- ----------- --------- --------- ----------------",
      "100.00    0.000091          10         9         1 total",
      "",
    ].join("\n"),
  );
});

// ---- -e

test("-e: names, groups, strace's classes, negation, all and none", () => {
  const names = (exprs: string[]) => [...(parseTraceFilter(exprs) ?? [])].sort((a, b) => a - b);
  assert.equal(parseTraceFilter([]), undefined);
  assert.deepEqual(names(["write,read"]), [0, 1]);
  assert.deepEqual(names(["trace=close", "t=dup"]), [3, 32]);
  assert.ok(names(["trace=@file"]).includes(nr("openat")));
  assert.deepEqual(names(["trace=%network"]), names(["@network"]));
  assert.ok(!names(["!write"]).includes(1) && names(["!write"]).includes(0));
  assert.deepEqual(names(["none"]), []);
  assert.ok(names(["all"]).length > 300);
  assert.throws(() => parseTraceFilter(["wrtie"]), /"wrtie" is not a Linux system call \(did you mean "write"\?\)/);
  assert.throws(() => parseTraceFilter(["trace="]), /no system call named/);
  assert.throws(() => parseTraceFilter(["abbrev=all"]), /only "trace=" expressions/);
});

// ---- the plan

test("the capture plan: every hypercall fits, and write captures -s bytes of its buffer", () => {
  for (const h of HYPERCALLS) assert.ok(plan.ops[h.nr].length <= MAX_OPS, h.name);
  const write = plan.ops[nr("write")];
  assert.deepEqual(write, [{ arg: 1, kind: "bytes", when: "entry", size: { from: "arg", arg: 2 }, max: 32 }]);
  const at = nr("write") * MAX_OPS * 8;
  assert.deepEqual([...plan.ints.subarray(at, at + 8)], [1, 2, 0, 1, 2, 0, 32, 0]);
  assert.equal(buildPlan(100).ops[nr("read")][0].max, 100);
  assert.equal(plan.ops[nr("openat")][0].max, 4096, "paths are not cut at -s");
});

// ---- profiles

test("profile manifests: only Hypercalls changes; paths follow the new folder; ToroV's booleans kept", () => {
  const dir = mkdtempSync(join(tmpdir(), "torov-profile-"));
  mkdirSync(join(dir, "root"));
  try {
    const m = parseManifest({ Binary: "/bin/true", MountPoint: "root", Newpid: "True", Hypercalls: [{ Name: "*", Allowed: "True" }], Env: { A: "1" } }, join(dir, "app.json"), dir);
    const text = profileManifest(m, ["write", "openat", "close", "write"], join(dir, "profiles", "app.json"));
    assert.equal(
      text,
      `{
  "Binary": "/bin/true",
  "MountPoint": "../root",
  "Newpid": "True",
  "Hypercalls": [
    { "Name": "close", "Allowed": "True" },
    { "Name": "openat", "Allowed": "True" },
    { "Name": "write", "Allowed": "True" }
  ],
  "Env": {
    "A": "1"
  }
}
`,
    );
    // In the same folder, nothing to rewrite.
    assert.match(profileManifest(m, [], join(dir, "p.json")), /"MountPoint": "root"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(forwardedNames([nr("write"), nr("brk"), nr("openat")]), ["write", "openat"]);
});

// ---- threads (issue 11): the calls of threads, and strace -f's lines.
// Expected lines are strace 6.1's, from a native run of the same calls.

test("futex: each command's arguments, FUTEX_CLOCK_REALTIME after the name, WAKE_OP's encoded op", () => {
  const F = 0x7ffe9258e2fcn;
  const G = 0x7ffe9258e2f8n;
  const ts = Buffer.alloc(16);
  ts.writeBigInt64LE(1000n, 8);
  const t = [{ op: 0, data: ts }];
  const EAGAIN = "-1 EAGAIN (Resource temporarily unavailable)";
  const cases: Array<[Array<number | bigint>, number, Blob[], string]> = [
    [[F, 0, 4, 0x1000, 0, 0], -11, t, `futex(0x7ffe9258e2fc, FUTEX_WAIT, 4, {tv_sec=0, tv_nsec=1000}) = ${EAGAIN}`],
    [[F, 128, 4, 0, 0, 0], -11, [], `futex(0x7ffe9258e2fc, FUTEX_WAIT_PRIVATE, 4, NULL) = ${EAGAIN}`],
    [[F, 0x189, 4, 0x1000, 0, 0xffffffff], -11, t, `futex(0x7ffe9258e2fc, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 4, {tv_sec=0, tv_nsec=1000}, FUTEX_BITSET_MATCH_ANY) = ${EAGAIN}`],
    [[F, 0x89, 4, 0, 0, 3], -11, [], `futex(0x7ffe9258e2fc, FUTEX_WAIT_BITSET_PRIVATE, 4, NULL, 0x3) = ${EAGAIN}`],
    [[F, 0x100, 4, 0, 0, 0], -38, [], "futex(0x7ffe9258e2fc, FUTEX_WAIT|FUTEX_CLOCK_REALTIME, 4, NULL) = -1 ENOSYS (Function not implemented)"],
    [[F, 0x8a, 1, 0, 0, 3], 0, [], col("futex(0x7ffe9258e2fc, FUTEX_WAKE_BITSET_PRIVATE, 1, 0x3)", "0")],
    [[F, 0x84, 1, 2147483647, G, 5], 0, [], "futex(0x7ffe9258e2fc, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2147483647, 0x7ffe9258e2f8, 5) = 0"],
    [[F, 0x83, 1, 3, G, 0], 0, [], "futex(0x7ffe9258e2fc, FUTEX_REQUEUE_PRIVATE, 1, 3, 0x7ffe9258e2f8) = 0"],
    [[F, 0x85, 1, 1, G, 0x04000001], 0, [], "futex(0x7ffe9258e2fc, FUTEX_WAKE_OP_PRIVATE, 1, 1, 0x7ffe9258e2f8, FUTEX_OP_SET<<28|0<<12|FUTEX_OP_CMP_GT<<24|0x1) = 0"],
    [[F, 5, 1, 0, G, 0x9000307f], 0, [], "futex(0x7ffe9258e2fc, FUTEX_WAKE_OP, 1, 0, 0x7ffe9258e2f8, FUTEX_OP_OPARG_SHIFT<<28|FUTEX_OP_ADD<<28|0x3<<12|FUTEX_OP_CMP_EQ<<24|0x7f) = 0"],
    [[F, 0x87, 0, 0, 0, 0], -1, [], "futex(0x7ffe9258e2fc, FUTEX_UNLOCK_PI_PRIVATE) = -1 EPERM (Operation not permitted)"],
    [[F, 0x86, 0, 0x1000, 0, 0], -1, t, "futex(0x7ffe9258e2fc, FUTEX_LOCK_PI_PRIVATE, {tv_sec=0, tv_nsec=1000}) = -1 EPERM (Operation not permitted)"],
    [[F, 8, 0, 0, 0, 0], -1, [], "futex(0x7ffe9258e2fc, FUTEX_TRYLOCK_PI) = -1 EPERM (Operation not permitted)"],
    [[F, 99, 1, 0, 0, 0], -38, [], "futex(0x7ffe9258e2fc, 0x63 /* FUTEX_??? */, 1, NULL, NULL, 0) = -1 ENOSYS (Function not implemented)"],
    [[0x4c0d00, 0x81, 2147483647, 0, 0, 0], 0, [], col("futex(0x4c0d00, FUTEX_WAKE_PRIVATE, 2147483647)", "0")],
  ];
  for (const [args, result, blobs, expected] of cases) assert.equal(line(record("futex", args, result, blobs)), expected);
});

test("clone: named arguments, the pointers its flags use, the new thread's id", () => {
  const musl = 0x7d0f00n; // CLONE_VM|...|CLONE_CHILD_CLEARTID|CLONE_DETACHED, no signal
  assert.equal(
    line(record("clone", [musl, 0x7f5b88a67ef8n, 0x7f5b88a67f68n, 0x406290, 0x7f5b88a67f38n], 1779)),
    "clone(child_stack=0x7f5b88a67ef8, flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID|0x400000, parent_tid=[1779], tls=0x7f5b88a67f38, child_tidptr=0x406290) = 1779",
  );
  assert.equal(line(record("clone", [17, 0, 0, 0, 0], 3118)), col("clone(child_stack=NULL, flags=SIGCHLD)", "3118"));
  assert.equal(line(record("clone", [0x1200000 | 17, 0, 0, 0x7ffe9258e2f8n, 0], 3119)), "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7ffe9258e2f8) = 3119");
  assert.equal(line(record("clone", [0x10000, 0, 0, 0, 0], -22)), "clone(child_stack=NULL, flags=CLONE_THREAD) = -1 EINVAL (Invalid argument)");
});

test("clone3: struct clone_args by its flags, => {parent_tid=[tid]}, its size; a short one as an address", () => {
  const args = (fields: bigint[]) => {
    const b = Buffer.alloc(fields.length * 8);
    fields.forEach((f, i) => b.writeBigUInt64LE(f, i * 8));
    return b;
  };
  const glibc = args([0x3d0f00n, 0n, 0x7face2504990n, 0x7face2504990n, 0n, 0x7face1d04000n, 0x800300n, 0x7face25046c0n, 0n, 0n, 0n]);
  assert.equal(
    line(record("clone3", [0x7ffd0000, 88], 1771, [{ op: 0, data: glibc }])),
    "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID, child_tid=0x7face2504990, parent_tid=0x7face2504990, exit_signal=0, stack=0x7face1d04000, stack_size=0x800300, tls=0x7face25046c0} => {parent_tid=[1771]}, 88) = 1771",
  );
  const fork = args([0n, 0n, 0n, 0n, 17n, 0n, 0n, 0n]);
  assert.equal(line(record("clone3", [0x7ffd0000, 64], 3120, [{ op: 0, data: fork }])), "clone3({flags=0, exit_signal=SIGCHLD, stack=NULL, stack_size=0}, 64) = 3120");
  const thread = args([0x10000n, 0n, 0n, 0n, 17n, 0n, 0n, 0n]);
  assert.equal(line(record("clone3", [0x7ffd0000, 64], -22, [{ op: 0, data: thread }])), "clone3({flags=CLONE_THREAD, exit_signal=SIGCHLD, stack=NULL, stack_size=0}, 64) = -1 EINVAL (Invalid argument)");
  assert.equal(line(record("clone3", [0x7ffe9258dff0n, 8], -22, [{ op: 0, data: Buffer.alloc(8) }])), col("clone3(0x7ffe9258dff0, 8)", "-1 EINVAL (Invalid argument)"));
});

test("the other thread calls: robust lists, rseq, affinity, signals to threads, waiting for signals", () => {
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return b;
  };
  assert.equal(line(record("set_robust_list", [0x14bd26a0, 24], 0)), col("set_robust_list(0x14bd26a0, 24)", "0"));
  assert.equal(line(record("get_robust_list", [0, 0x1000, 0x2000], 0, [{ op: 0, data: u64(0x260bc660n) }, { op: 1, data: u64(24n) }])), col("get_robust_list(0, [0x260bc660], [24])", "0"));
  assert.equal(line(record("get_robust_list", [99999, 0x7ffe9258e258n, 0x7ffe9258e250n], -3)), "get_robust_list(99999, 0x7ffe9258e258, 0x7ffe9258e250) = -1 ESRCH (No such process)");
  // strace does not decode rseq: every argument as %#lx.
  assert.equal(line(record("rseq", [0x14bd2ce0, 0x20, 0, 0x53053053], 0)), col("rseq(0x14bd2ce0, 0x20, 0, 0x53053053)", "0"));
  assert.equal(line(record("rseq", [0, 0, 1, 0], -22)), col("rseq(0, 0, 0x1, 0)", "-1 EINVAL (Invalid argument)"));
  const cpus = Buffer.alloc(32);
  cpus[0] = 3;
  assert.equal(line(record("sched_getaffinity", [0, 128, 0x1000], 32, [{ op: 0, data: cpus }])), col("sched_getaffinity(0, 128, [0 1])", "32"));
  assert.equal(line(record("sched_getaffinity", [0, 2, 0x7ffe9258e260n], -22)), "sched_getaffinity(0, 2, 0x7ffe9258e260) = -1 EINVAL (Invalid argument)");
  assert.equal(line(record("sched_setaffinity", [0, 8, 0x1000], 0, [{ op: 0, data: Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]) }])), col("sched_setaffinity(0, 8, [0 2])", "0"));
  assert.equal(line(record("tgkill", [3117, 3117, 12], 0)), col("tgkill(3117, 3117, SIGUSR2)", "0"));
  assert.equal(line(record("tgkill", [1770, 1771, 0], 0)), col("tgkill(1770, 1771, 0)", "0"));
  assert.equal(line(record("tkill", [3117, 10], 0)), col("tkill(3117, SIGUSR1)", "0"));
  const set = u64((1n << 9n) | (1n << 11n)); // USR1 USR2
  const si = Buffer.alloc(32);
  si.writeInt32LE(12, 0);
  si.writeInt32LE(-6, 8);
  si.writeInt32LE(3117, 12);
  assert.equal(
    line(record("rt_sigtimedwait", [0x1000, 0x2000, 0, 8], 12, [{ op: 0, data: set }, { op: 1, data: si }])),
    "rt_sigtimedwait([USR1 USR2], {si_signo=SIGUSR2, si_code=SI_TKILL, si_pid=3117, si_uid=0}, NULL, 8) = 12 (SIGUSR2)",
  );
  const ts = Buffer.alloc(16);
  ts.writeBigInt64LE(1000n, 8);
  assert.equal(
    line(record("rt_sigtimedwait", [0x1000, 0, 0x3000, 8], -11, [{ op: 0, data: set }, { op: 2, data: ts }])),
    "rt_sigtimedwait([USR1 USR2], NULL, {tv_sec=0, tv_nsec=1000}, 8) = -1 EAGAIN (Resource temporarily unavailable)",
  );
  // They return only once a handler has run: the kernel's ERESTARTNOHAND, as strace shows it.
  assert.equal(line(record("rt_sigsuspend", [0x1000, 8], -4, [{ op: 0, data: u64(0n) }])), col("rt_sigsuspend([], 8)", "? ERESTARTNOHAND (To be restarted if no handler)"));
  assert.equal(line(record("pause", [], -4)), col("pause()", "? ERESTARTNOHAND (To be restarted if no handler)"));
  // glibc's handler for its thread signal, flags in strace's order.
  const sa = Buffer.alloc(32);
  sa.writeBigUInt64LE(0x459e70n, 0);
  sa.writeBigUInt64LE(0x1c000004n, 8);
  sa.writeBigUInt64LE(0x44b4f0n, 16);
  assert.equal(
    line(record("rt_sigaction", [33, 0x1000, 0, 8], 0, [{ op: 0, data: sa }])),
    "rt_sigaction(SIGRT_1, {sa_handler=0x459e70, sa_mask=[], sa_flags=SA_RESTORER|SA_ONSTACK|SA_RESTART|SA_SIGINFO, sa_restorer=0x44b4f0}, NULL, 8) = 0",
  );
});

test("threads as strace -f shows them: [pid N] while there are several, counted in the columns; +++ lines", () => {
  const view = new ThreadLines(1000);
  const show = (buf: Buffer) => {
    const rec = one(buf);
    return view.lines(rec, (prefix) => formatLine(rec, { strsize: 32, prefix }));
  };
  const w = (tid: number) => record("write", [1, 0x1000, 2], 2, [{ op: 0, data: str("a\n") }], { tid });
  assert.equal(pidPrefix(1771), "[pid  1771] ");
  assert.equal(pidPrefix(123456), "[pid 123456] ");
  assert.deepEqual(show(w(1000)), [col('write(1, "a\\n", 2)', "2")]);
  // The clone's line is as strace starts it: before the thread exists.
  assert.deepEqual(show(record("clone", [0x10000 | 0x100, 0x5000, 0, 0, 0], 1001)), [col("clone(child_stack=0x5000, flags=CLONE_VM|CLONE_THREAD)", "1001")]);
  assert.equal(view.count, 2);
  assert.deepEqual(show(w(1001)), [col('[pid  1001] write(1, "a\\n", 2)', "2")]);
  assert.deepEqual(show(w(1000)), [col('[pid  1000] write(1, "a\\n", 2)', "2")]);
  // A thread's exit(2): its line, then its "+++", then one thread again.
  assert.deepEqual(show(record("exit", [256 + 7], 0, [], { tid: 1001, noReturn: true })), [col("[pid  1001] exit(263)", "?"), "[pid  1001] +++ exited with 7 +++"]);
  assert.equal(view.count, 1);
  assert.deepEqual(show(w(1000)), [col('write(1, "a\\n", 2)', "2")]);
  // A new thread's call that ended before its clone: after the clone's line, as strace shows it.
  assert.deepEqual(show(w(1002)), []);
  assert.equal(view.count, 1);
  assert.deepEqual(show(record("clone", [0x10000 | 0x100, 0x5000, 0, 0, 0], 1002)), [
    col("clone(child_stack=0x5000, flags=CLONE_VM|CLONE_THREAD)", "1002"),
    col('[pid  1002] write(1, "a\\n", 2)', "2"),
  ]);
  // Unless the batch ends first: then as it came.
  assert.deepEqual(show(w(1003)), []);
  assert.deepEqual(view.flush(), [col('[pid  1003] write(1, "a\\n", 2)', "2")]);
  assert.equal(view.count, 3);
  assert.deepEqual(show(record("exit", [0], 0, [], { tid: 1003, noReturn: true })), [col("[pid  1003] exit(0)", "?"), "[pid  1003] +++ exited with 0 +++"]);
  assert.deepEqual(show(record("exit_group", [3], 0, [], { tid: 1002, noReturn: true })), [col("[pid  1002] exit_group(3)", "?")]);
  // exit_group: each thread left gets its line, the first thread's last and alone.
  assert.deepEqual(view.end("+++ exited with 3 +++"), ["[pid  1002] +++ exited with 3 +++", "+++ exited with 3 +++"]);
});

test("processes as strace -f shows them: fork's child gets [pid N], its end a +++ line of its own, a clone child's threads end with it", () => {
  const view = new ThreadLines(1000);
  const show = (buf: Buffer) => {
    const rec = one(buf);
    return view.lines(rec, (prefix) => formatLine(rec, { strsize: 32, prefix }));
  };
  const w = (tid: number) => record("write", [1, 0x1000, 2], 2, [{ op: 0, data: str("a\n") }], { tid });
  // The child's first call ended before the fork returned: after fork's line.
  assert.deepEqual(show(w(1001)), []);
  assert.deepEqual(show(record("fork", [], 1001)), [col("fork()", "1001"), col('[pid  1001] write(1, "a\\n", 2)', "2")]);
  // A thread of the child, then a process made by clone (no CLONE_THREAD).
  show(record("clone3", [0x1000, 88], 1002, [], { tid: 1001 }));
  show(record("clone", [17, 0, 0, 0, 0], 1003));
  assert.equal(view.count, 4);
  // The child's end: its other thread first, its own line last.
  const end = (pid: number, killed: boolean, value: number) => show(record("read", [killed ? 1 : 0, value], 0, [], { tid: pid, processEnd: true }));
  assert.deepEqual(end(1001, false, 7), ["[pid  1002] +++ exited with 7 +++", "[pid  1001] +++ exited with 7 +++"]);
  assert.equal(view.count, 2);
  assert.deepEqual(end(1003, true, 9), ["[pid  1003] +++ killed by SIGKILL +++"]);
  assert.equal(view.count, 1);
  assert.deepEqual(show(w(1000)), [col('write(1, "a\\n", 2)', "2")]);
  // --json names the process and how it ended.
  const rec = one(record("read", [1, 15], 0, [], { tid: 1004, processEnd: true }));
  assert.deepEqual(JSON.parse(jsonRecord(rec, 32)).killed, "SIGTERM");
  assert.equal(JSON.parse(jsonRecord(rec, 32)).pid, 1004);
});

test("threads: the first thread's exit(2) waits for the end; a fatal signal names its thread first", () => {
  const view = new ThreadLines(1000);
  view.lines(one(record("clone3", [0x1000, 88], 1001)), undefined);
  view.lines(one(record("clone3", [0x1000, 88], 1002)), undefined);
  const exit = one(record("exit", [0], 0, [], { tid: 1000, noReturn: true }));
  assert.deepEqual(view.lines(exit, (prefix) => formatLine(exit, { strsize: 32, prefix })), [col("[pid  1000] exit(0)", "?")]);
  assert.equal(view.count, 3);
  assert.deepEqual(view.end("+++ killed by SIGSEGV +++", "--- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---", 1002), [
    "[pid  1002] --- SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=NULL} ---",
    "[pid  1002] +++ killed by SIGSEGV +++",
    "[pid  1001] +++ killed by SIGSEGV +++",
    "+++ killed by SIGSEGV +++",
  ]);
  // Without a known leader (tracing started late), the first tid seen is it.
  const late = new ThreadLines();
  late.lines(one(record("close", [3], 0, [], { tid: 2000 })), undefined);
  assert.deepEqual(late.end("+++ exited with 0 +++"), ["+++ exited with 0 +++"]);
});

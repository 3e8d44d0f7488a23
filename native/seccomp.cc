#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <thread>

namespace torov {

namespace {

using Code = std::vector<sock_filter>;

constexpr uint32_t kAllow = SECCOMP_RET_ALLOW;
constexpr uint32_t kDeny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
constexpr size_t kLeaf = 4;  // numbers compared one by one at the bottom of the search

sock_filter Stmt(uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; }
sock_filter Jump(uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) { return sock_filter{code, jt, jf, k}; }

// The low 32 bits of argument i (x86-64 is little-endian). Every argument
// the rules check is read by the kernel as a 32-bit value or has the bits
// checked there (src/vmm/seccomp.ts), so the high half never decides.
uint32_t ArgLow(int i) { return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * i); }

struct Slots {
  const FilterContext& ctx;
  int pid, tid;
  // The values of a check into *out: none when it names nothing here (an
  // fd the thread does not have), every mount's root for "mounts".
  void Add(const FilterValue& v, std::vector<uint32_t>* out) const {
    if (v.slot == FilterSlot::kMounts) {
      for (int fd : ctx.mounts)
        if (fd >= 0) out->push_back(static_cast<uint32_t>(fd));
      return;
    }
    uint32_t x;
    if (Get(v, &x)) out->push_back(x);
  }
  bool Get(const FilterValue& v, uint32_t* out) const {
    int x = -1;
    switch (v.slot) {
      case FilterSlot::kMounts: return false;
      case FilterSlot::kNone: *out = v.value; return true;
      case FilterSlot::kVm: x = ctx.vm; break;
      case FilterSlot::kVcpu: x = ctx.vcpu; break;
      case FilterSlot::kRoot: x = ctx.root; break;
      case FilterSlot::kDev: x = ctx.dev; break;
      case FilterSlot::kExe: x = ctx.exe; break;
      case FilterSlot::kProcFds: x = ctx.proc_fds; break;
      case FilterSlot::kPid: x = pid; break;
      case FilterSlot::kTid: x = tid; break;
    }
    if (x < 0) return false;
    *out = static_cast<uint32_t>(x);
    return true;
  }
};

// What a rule does when its checks hold.
uint32_t Action(const FilterRule& rule) {
  return rule.error ? SECCOMP_RET_ERRNO | (static_cast<uint32_t>(rule.error) & SECCOMP_RET_DATA) : kAllow;
}

// One rule: its checks, then its action. A check that fails jumps past the
// rule's end, where the next rule (or "deny") begins.
std::string EmitRule(const FilterRule& rule, const Slots& slots, Code* out) {
  Code c;
  struct Fail {
    size_t at;
    char field;  // 't', 'f' (jt, jf) or 'k' (a BPF_JA)
  };
  std::vector<Fail> fails;
  for (const ArgCheck& check : rule.when) {
    c.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, ArgLow(check.arg)));
    std::vector<uint32_t> values;
    for (const FilterValue& v : check.values) slots.Add(v, &values);
    if (values.size() > 200) return "a check lists too many values";
    switch (check.kind) {
      case ArgCheck::kIn:
        // Equal to one: on past the "fail" jump to the next check.
        for (size_t j = 0; j < values.size(); j++)
          c.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, values[j], static_cast<uint8_t>(values.size() - j), 0));
        fails.push_back({c.size(), 'k'});
        c.push_back(Stmt(BPF_JMP | BPF_JA, 0));
        break;
      case ArgCheck::kNotIn:
        for (uint32_t x : values) {
          fails.push_back({c.size(), 't'});
          c.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, x, 0, 0));
        }
        break;
      case ArgCheck::kClear:
        fails.push_back({c.size(), 't'});
        c.push_back(Jump(BPF_JMP | BPF_JSET | BPF_K, check.mask, 0, 0));
        break;
      case ArgCheck::kSet:
        c.push_back(Stmt(BPF_ALU | BPF_AND | BPF_K, check.mask));
        fails.push_back({c.size(), 'f'});
        c.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, check.mask, 0, 0));
        break;
    }
  }
  c.push_back(Stmt(BPF_RET | BPF_K, Action(rule)));
  for (const Fail& f : fails) {
    const size_t off = c.size() - (f.at + 1);
    if (f.field == 'k') {
      c[f.at].k = static_cast<uint32_t>(off);
    } else {
      if (off > 255) return "a rule is too long";
      (f.field == 't' ? c[f.at].jt : c[f.at].jf) = static_cast<uint8_t>(off);
    }
  }
  out->insert(out->end(), c.begin(), c.end());
  return "";
}

struct Entry {
  uint32_t nr;
  Code body;  // ends in a return; A holds the number on entry
};

// A binary search over the numbers (A holds the number): "nr >= middle?"
// splits, and at most kLeaf numbers are compared one by one at the bottom.
// Long jumps are BPF_JA, whose offset has 32 bits.
Code Search(const std::vector<Entry>& e, size_t lo, size_t hi) {
  Code c;
  if (hi - lo <= kLeaf) {
    for (size_t i = lo; i < hi; i++) {
      if (e[i].body.size() == 1) {
        c.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, e[i].nr, 0, 1));
      } else {
        c.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, e[i].nr, 1, 0));
        c.push_back(Stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(e[i].body.size())));
      }
      c.insert(c.end(), e[i].body.begin(), e[i].body.end());
    }
    c.push_back(Stmt(BPF_RET | BPF_K, kDeny));
    return c;
  }
  const size_t mid = lo + (hi - lo) / 2;
  Code left = Search(e, lo, mid), right = Search(e, mid, hi);
  c.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, e[mid].nr, 0, 1));
  c.push_back(Stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(left.size())));
  c.insert(c.end(), left.begin(), left.end());
  c.insert(c.end(), right.begin(), right.end());
  return c;
}

uint32_t Low32(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string("Expected ") + what + " to be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 4294967295.0) || d != std::floor(d))
    throw Napi::TypeError::New(v.Env(), std::string("Expected ") + what + " to be a 32-bit integer");
  return static_cast<uint32_t>(static_cast<int64_t>(d));
}

#ifdef TOROV_SANITIZER
// Only in the sanitizer builds of scripts/sanitize.mjs (native/sanitizer.cc).
// Calls the runtimes make, admitted with any arguments where the filter has
// no rule of its own for them.
constexpr int kSanitizerCalls[] = {SYS_sched_yield, SYS_sigaltstack, SYS_exit_group};
#endif

}  // namespace

bool FilterSlotFromName(const std::string& s, FilterSlot* out) {
  static const std::pair<const char*, FilterSlot> names[] = {
      {"vm", FilterSlot::kVm},   {"vcpu", FilterSlot::kVcpu},        {"root", FilterSlot::kRoot},
      {"dev", FilterSlot::kDev}, {"exe", FilterSlot::kExe},          {"procfds", FilterSlot::kProcFds},
      {"pid", FilterSlot::kPid}, {"tid", FilterSlot::kTid},          {"mounts", FilterSlot::kMounts}};
  for (const auto& [name, slot] : names) {
    if (s == name) {
      *out = slot;
      return true;
    }
  }
  return false;
}

std::vector<FilterRule> FilterRulesFromJs(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsArray()) throw Napi::TypeError::New(env, "Expected the filter to be an array of rules");
  std::vector<FilterRule> rules;
  Napi::Array list = v.As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "Expected a filter rule to be an object");
    Napi::Object o = item.As<Napi::Object>();
    FilterRule rule;
    rule.nr = static_cast<int>(Low32(o.Get("nr"), "a rule's nr"));
    if (rule.nr < 0 || rule.nr >= 1024) throw Napi::TypeError::New(env, "Expected a rule's nr to be a syscall number");
    if (!o.Get("errno").IsUndefined()) {
      rule.error = static_cast<int>(Low32(o.Get("errno"), "a rule's errno"));
      if (rule.error < 1 || rule.error > 4095) throw Napi::TypeError::New(env, "Expected a rule's errno to be 1..4095");
    }
    Napi::Value when = o.Get("when");
    if (!when.IsUndefined()) {
      if (!when.IsArray()) throw Napi::TypeError::New(env, "Expected a rule's when to be an array");
      Napi::Array checks = when.As<Napi::Array>();
      for (uint32_t j = 0; j < checks.Length(); j++) {
        if (!checks.Get(j).IsObject()) throw Napi::TypeError::New(env, "Expected an argument check to be an object");
        Napi::Object c = checks.Get(j).As<Napi::Object>();
        ArgCheck check;
        const uint32_t arg = Low32(c.Get("arg"), "a check's arg");
        if (arg > 5) throw Napi::TypeError::New(env, "Expected a check's arg to be 0..5");
        check.arg = static_cast<uint8_t>(arg);
        int kinds = 0;
        for (const char* key : {"in", "notIn"}) {
          Napi::Value values = c.Get(key);
          if (values.IsUndefined()) continue;
          kinds++;
          check.kind = key[0] == 'i' ? ArgCheck::kIn : ArgCheck::kNotIn;
          if (!values.IsArray()) throw Napi::TypeError::New(env, std::string("Expected a check's ") + key + " to be an array");
          Napi::Array a = values.As<Napi::Array>();
          for (uint32_t k = 0; k < a.Length(); k++) {
            FilterValue fv;
            Napi::Value x = a.Get(k);
            if (x.IsString()) {
              if (!FilterSlotFromName(x.As<Napi::String>().Utf8Value(), &fv.slot))
                throw Napi::TypeError::New(env, "Unknown filter slot " + x.As<Napi::String>().Utf8Value());
            } else {
              fv.value = Low32(x, "a check's value");
            }
            check.values.push_back(fv);
          }
        }
        for (const char* key : {"clear", "set"}) {
          Napi::Value mask = c.Get(key);
          if (mask.IsUndefined()) continue;
          kinds++;
          check.kind = key[0] == 'c' ? ArgCheck::kClear : ArgCheck::kSet;
          check.mask = Low32(mask, "a check's mask");
        }
        if (kinds != 1) throw Napi::TypeError::New(env, "Expected an argument check to have one of in, notIn, clear, set");
        rule.when.push_back(std::move(check));
      }
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

std::string InstallSeccomp(const std::vector<FilterRule>& rules, const FilterContext& ctx) {
  const Slots slots{ctx, static_cast<int>(getpid()), static_cast<int>(syscall(SYS_gettid))};
  // Each number's body: its rules in turn, then "deny"; or just "allow"
  // when one of its rules has no check.
  std::map<uint32_t, std::vector<const FilterRule*>> by_nr;
  for (const FilterRule& rule : rules) by_nr[static_cast<uint32_t>(rule.nr)].push_back(&rule);
#ifdef TOROV_SANITIZER
  std::vector<FilterRule> extra;
  for (int nr : kSanitizerCalls) {
    if (by_nr.count(static_cast<uint32_t>(nr))) continue;
    FilterRule r;
    r.nr = nr;
    extra.push_back(r);
  }
  for (const FilterRule& rule : extra) by_nr[static_cast<uint32_t>(rule.nr)].push_back(&rule);
#endif
  std::vector<Entry> entries;
  for (const auto& [nr, list] : by_nr) {
    Entry e{nr, {}};
    const auto unconditional = std::find_if(list.begin(), list.end(), [](const FilterRule* r) { return r->when.empty(); });
    if (unconditional != list.end()) {
      e.body.push_back(Stmt(BPF_RET | BPF_K, Action(**unconditional)));
    } else {
      for (const FilterRule* rule : list)
        if (std::string err = EmitRule(*rule, slots, &e.body); !err.empty()) return "seccomp: " + err;
      e.body.push_back(Stmt(BPF_RET | BPF_K, kDeny));
    }
    entries.push_back(std::move(e));
  }
  Code f;
  // Only x86-64 system calls, and not the x32 ones.
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  f.push_back(Stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  f.push_back(Stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  f.push_back(Jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
  f.push_back(Stmt(BPF_RET | BPF_K, kDeny));
  // ioctl first: KVM_RUN is the call made for every hypercall, and its
  // check is short (the vCPU's fd comes first in its rule).
  for (size_t i = 0; i < entries.size(); i++) {
    if (entries[i].nr != SYS_ioctl) continue;
    const Code& body = entries[i].body;
    f.push_back(Jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 1, 0));
    f.push_back(Stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(body.size())));
    f.insert(f.end(), body.begin(), body.end());
    entries.erase(entries.begin() + static_cast<long>(i));
    break;
  }
  if (entries.empty()) {
    f.push_back(Stmt(BPF_RET | BPF_K, kDeny));
  } else {
    Code search = Search(entries, 0, entries.size());
    f.insert(f.end(), search.begin(), search.end());
  }
  if (f.size() > BPF_MAXINSNS) return "seccomp: the filter is too long (" + std::to_string(f.size()) + " instructions)";

  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return std::string("no_new_privs: ") + std::strerror(errno);
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) return std::string("seccomp: ") + std::strerror(errno);
  return "";
}

SeccompProbe ProbeSeccomp(const std::vector<FilterRule>& rules, const std::vector<ProbeCall>& calls) {
  SeccompProbe p;
  // A thread refused exit(2) cannot end (glibc retries it for ever), and
  // the join below would wait for ever.
  if (std::none_of(rules.begin(), rules.end(), [](const FilterRule& r) { return r.nr == SYS_exit && r.when.empty(); })) {
    p.installed = "the filter does not admit exit: a scratch thread under it could not end";
    return p;
  }
  // The filter stays with the thread: a thread of its own, gone after.
  std::thread t([&] {
    FilterContext ctx;
    ctx.vm = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ctx.vcpu = open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int other = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ctx.root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ctx.dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    ctx.proc_fds = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      std::string dir(exe, static_cast<size_t>(n));
      dir = dir.substr(0, dir.rfind('/') + 1);
      ctx.exe = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    const long pid = getpid(), tid = syscall(SYS_gettid);
    // The bytes calls point to, copied before the filter goes in.
    std::vector<std::vector<std::vector<uint8_t>>> bytes(calls.size());
    for (size_t i = 0; i < calls.size(); i++)
      for (const ProbeArg& a : calls[i].args) bytes[i].push_back(a.bytes);
    p.installed = InstallSeccomp(rules, ctx);
    if (p.installed.empty()) {
      for (size_t i = 0; i < calls.size(); i++) {
        long a[6] = {0, 0, 0, 0, 0, 0};
        for (size_t j = 0; j < calls[i].args.size() && j < 6; j++) {
          const ProbeArg& arg = calls[i].args[j];
          switch (arg.kind) {
            case ProbeArg::kNumber: a[j] = static_cast<long>(arg.number); break;
            case ProbeArg::kBytes: a[j] = reinterpret_cast<long>(bytes[i][j].data()); break;
            case ProbeArg::kOther: a[j] = other; break;
            case ProbeArg::kSlot: {
              uint32_t v = 0;
              const Slots slots{ctx, static_cast<int>(pid), static_cast<int>(tid)};
              a[j] = slots.Get(FilterValue{arg.slot, 0}, &v) ? static_cast<long>(v) : -1;
              break;
            }
          }
        }
        const long r = syscall(calls[i].nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        p.results.push_back(r < 0 ? -errno : r);
      }
    }
    for (int fd : {ctx.vm, ctx.vcpu, other, ctx.root, ctx.dev, ctx.proc_fds, ctx.exe})
      if (fd >= 0) close(fd);
  });
  t.join();
  return p;
}

}  // namespace torov

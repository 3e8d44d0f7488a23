#include "sanitizer.h"

#ifdef TOROV_SANITIZER
#include <dlfcn.h>

#include <cstdlib>
#include <cstring>

// The runtime of ThreadSanitizer, AddressSanitizer or UndefinedBehavior-
// Sanitizer, preloaded into Node, works on vCPU threads too. It opens its
// report file and reads the ELF files of the process's modules (for
// symbols) the first time it reports, which a vCPU thread could not do
// (chrooted, filtered): so both are done when the addon is loaded, on
// Node's thread, for each runtime loaded (UBSan's is a library of its own
// beside ASan's). native/seccomp.cc admits the few calls the runtimes make
// by themselves.
extern "C" {
__attribute__((weak)) const char* __sanitizer_get_report_path();
__attribute__((weak)) void __sanitizer_symbolize_pc(void* pc, const char* fmt, char* out, size_t size);
}

namespace torov {

namespace {

bool canary_on = false;  // written once, before any vCPU thread exists
int canary_counter = 0;  // the canary's race: no lock, on purpose

__attribute__((constructor)) void PrepareSanitizers() {
  using ReportPath = const char* (*)();
  using Symbolize = void (*)(void*, const char*, char*, size_t);
  char buf[256];
  void* pc = reinterpret_cast<void*>(&PrepareSanitizers);
  if (__sanitizer_get_report_path) __sanitizer_get_report_path();
  if (__sanitizer_symbolize_pc) __sanitizer_symbolize_pc(pc, "%p %F %L", buf, sizeof buf);
  if (void* ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD)) {
    if (auto f = reinterpret_cast<ReportPath>(dlsym(ubsan, "__sanitizer_get_report_path"))) f();
    if (auto f = reinterpret_cast<Symbolize>(dlsym(ubsan, "__sanitizer_symbolize_pc"))) f(pc, "%p %F %L", buf, sizeof buf);
  }
  const char* canary = getenv("TOROV_SANITIZER_CANARY");
  canary_on = canary && !strcmp(canary, "1");
}

}  // namespace

bool SanitizerCanaryOn() { return canary_on; }

__attribute__((noinline)) void SanitizerCanary() {
  char* volatile block = new char[8];
  volatile char past = block[8];
  (void)past;
  delete[] block;
  canary_counter = canary_counter + 1;
}

}  // namespace torov
#endif

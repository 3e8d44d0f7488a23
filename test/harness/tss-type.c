/*
 * Loaded with LD_PRELOAD inside the harness's guest only. QEMU's software
 * CPU (TCG) checks a CPL-3 `in`/`out` against the TSS I/O bitmap only when
 * the cached task register has type 9 ("available"); with any other type it
 * raises #GP. KVM guests, torov's included, load TR with type 11 ("busy"),
 * as a loaded TR is on real CPUs and as VMX requires. So under TCG's
 * emulated SVM every `out` that the bitmap allows would fault: this shim
 * presents type 9 to KVM_SET_SREGS instead. Real AMD-V, VT-x and PVM never
 * see it. It changes nothing else.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>

int ioctl(int fd, unsigned long request, ...) {
  static int (*next)(int, unsigned long, void *);
  va_list ap;
  va_start(ap, request);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  if (!next) next = (int (*)(int, unsigned long, void *))dlsym(RTLD_NEXT, "ioctl");
  if (request == KVM_SET_SREGS && arg) {
    struct kvm_sregs *sregs = arg;
    if (sregs->tr.type == 11) sregs->tr.type = 9;
  }
  return next(fd, request, arg);
}

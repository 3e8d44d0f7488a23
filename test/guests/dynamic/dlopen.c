// dlopen at run time, as plug-ins and Python's extension modules load:
// libm by its soname, a symbol from it, dlclose; a library that is not
// there; then libm again. Prints the same natively and under torov.
#include <dlfcn.h>
#include <stdio.h>

int main(void) {
  void *m = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
  if (!m) return printf("dlopen libm: %s\n", dlerror()), 1;
  double (*cosine)(double) = (double (*)(double))dlsym(m, "cos");
  printf("cos(0) = %.1f\n", cosine ? cosine(0.0) : -1.0);
  printf("dlsym of a missing symbol: %s\n", dlsym(m, "no_such_symbol") ? "found" : "NULL");
  printf("dlclose: %d\n", dlclose(m));
  void *none = dlopen("libtorov-not-here.so.1", RTLD_NOW);
  printf("missing library: %s\n", none ? "loaded" : "NULL");
  m = dlopen("libm.so.6", RTLD_LAZY);
  double (*root)(double) = m ? (double (*)(double))dlsym(m, "sqrt") : NULL;
  printf("again: sqrt(16) = %.1f\n", root ? root(16.0) : -1.0);
  return 0;
}

// dlopen at run time, as plug-ins and Python's extension modules load:
// libm by its soname, a symbol from it, dlclose; a library that is not
// there; then libm again; then the plug-in named by argv[1], if any
// (plugin.c). Prints the same natively and under torov.
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
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
  if (argc > 1) {
    void *p = dlopen(argv[1], RTLD_NOW);
    int (*twice)(int) = p ? (int (*)(int))dlsym(p, "plugin_twice") : NULL;
    printf("plugin: %s, twice(21) = %d\n", p ? "loaded" : dlerror(), twice ? twice(21) : -1);
  }
  return 0;
}

// A library the dlopen guest loads at run time by its path (a plug-in):
// with debug information, so that a debugger's pending breakpoint on
// plugin_twice resolves when it is loaded.
int plugin_calls;

int plugin_twice(int x) {
  plugin_calls++;
  return 2 * x;
}

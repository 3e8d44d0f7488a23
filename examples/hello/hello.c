// ToroV's HelloWorld example, in C: an ordinary program built with plain
// `gcc -static`, no special libc.
#include <stdio.h>

int main(void) {
  printf("Hello World, I am ToroV!\n");
  return 0;
}

// The helper threads of the racing guests (hostile-threads.c, races.c): one
// flag they all watch, a start that ends the guest if it cannot make the
// thread, and a finish that raises the flag and joins.
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int stop;

// Small stacks: races memfd-threads runs eight of them in Memory 64.
static pthread_t start(void *(*fn)(void *), void *arg) {
  pthread_t t;
  pthread_attr_t at;
  pthread_attr_init(&at);
  pthread_attr_setstacksize(&at, 256 << 10);
  if (pthread_create(&t, &at, fn, arg)) {
    printf("pthread_create failed\n");
    exit(2);
  }
  pthread_attr_destroy(&at);
  return t;
}

static void finish(pthread_t t) {
  atomic_store(&stop, 1);
  pthread_join(t, NULL);
}

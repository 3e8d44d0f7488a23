// A Go program built with cgo (issue 18), as `go build` makes one by
// default where a C compiler is: dynamically linked against glibc, its
// threads started by pthread_create, Go calling C and C calling back into
// Go from another thread. Prints the same natively and under torov.
package main

/*
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern int goSquare(int);

static int c_twice(int x) { return 2 * x; }

static void *call_go(void *arg) {
	int *x = arg;
	*x = goSquare(*x);
	return NULL;
}

// A thread Go did not make calls into Go.
static int from_c_thread(int x) {
	pthread_t t;
	pthread_create(&t, NULL, call_go, &x);
	pthread_join(t, NULL);
	return x;
}

static char *c_upper(const char *s) {
	char *out = strdup(s);
	for (char *p = out; *p; p++) if (*p >= 'a' && *p <= 'z') *p -= 32;
	return out;
}
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"
)

//export goSquare
func goSquare(x C.int) C.int { return x * x }

func main() {
	fmt.Println("c_twice(21) =", C.c_twice(21))
	fmt.Println("goSquare from a C thread:", C.from_c_thread(12))
	cs := C.CString("torov")
	up := C.c_upper(cs)
	fmt.Println("c_upper:", C.GoString(up))
	C.free(unsafe.Pointer(cs))
	C.free(unsafe.Pointer(up))
	var wg sync.WaitGroup
	sums := make([]int, 4)
	for i := range sums {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for k := 0; k < 1000; k++ {
				sums[i] += int(C.c_twice(C.int(k)))
			}
		}(i)
	}
	wg.Wait()
	fmt.Println("goroutines calling C:", sums)
}

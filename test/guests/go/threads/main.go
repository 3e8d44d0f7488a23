// Goroutines over several OS threads, as a Go program runs (issue 11):
// GOMAXPROCS(4), CPU-bound goroutines in a WaitGroup, channels, a Mutex,
// a select that times out, and goroutines locked to their own OS threads
// so that the runtime must start several. Its output is the same every
// run, on any number of CPUs. No dependencies: it builds offline.
package main

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// collatz is CPU-bound work: the total stopping time of 1..n.
func collatz(n uint64) uint64 {
	var steps uint64
	for i := uint64(1); i <= n; i++ {
		for x := i; x != 1; steps++ {
			if x%2 == 0 {
				x /= 2
			} else {
				x = 3*x + 1
			}
		}
	}
	return steps
}

func waitGroup() {
	var wg sync.WaitGroup
	results := make([]uint64, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = collatz(uint64(20000 + 1000*i))
		}(i)
	}
	wg.Wait()
	fmt.Printf("1 WaitGroup: 8 CPU-bound goroutines: %v\n", results)
}

func channels() {
	// A pipeline: numbers -> squares -> sum, through unbuffered channels.
	nums := make(chan int)
	squares := make(chan int)
	go func() {
		for i := 1; i <= 1000; i++ {
			nums <- i
		}
		close(nums)
	}()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range nums {
				squares <- n * n
			}
		}()
	}
	go func() { wg.Wait(); close(squares) }()
	sum, count := 0, 0
	for s := range squares {
		sum += s
		count++
	}
	fmt.Printf("2 channels: 4 workers squared %d numbers, sum %d\n", count, sum)
	// A buffered channel as a semaphore: never more than 3 at once.
	sem := make(chan struct{}, 3)
	var inside, most int32
	var wg2 sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			sem <- struct{}{}
			n := atomic.AddInt32(&inside, 1)
			for {
				m := atomic.LoadInt32(&most)
				if n <= m || atomic.CompareAndSwapInt32(&most, m, n) {
					break
				}
			}
			runtime.Gosched()
			atomic.AddInt32(&inside, -1)
			<-sem
		}()
	}
	wg2.Wait()
	fmt.Printf("2 channels: a buffered channel of 3 as a semaphore kept at most 3 inside: %v\n", most <= 3)
}

func mutex() {
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	fmt.Printf("3 Mutex: 8 goroutines x 10000 increments: %d\n", counter)
	var rw sync.RWMutex
	a, b, torn := 0, 0, int32(0)
	var wg2 sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg2.Add(1)
		go func(writer bool) {
			defer wg2.Done()
			for i := 0; i < 2000; i++ {
				if writer {
					rw.Lock()
					a++
					b++
					rw.Unlock()
				} else {
					rw.RLock()
					if a != b {
						atomic.AddInt32(&torn, 1)
					}
					rw.RUnlock()
				}
			}
		}(g < 2)
	}
	wg2.Wait()
	fmt.Printf("3 RWMutex: 2 writers x 2000, 4 readers: %d/%d, torn reads %d\n", a, b, torn)
	var once sync.Once
	var runs int32
	var wg3 sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg3.Add(1)
		go func() { defer wg3.Done(); once.Do(func() { atomic.AddInt32(&runs, 1) }) }()
	}
	wg3.Wait()
	fmt.Printf("3 Once: 8 goroutines, ran %d time(s)\n", runs)
	// A Cond: 5 waiters, one Broadcast.
	var m sync.Mutex
	c := sync.NewCond(&m)
	ready, woke := 0, 0
	var wg4 sync.WaitGroup
	for g := 0; g < 5; g++ {
		wg4.Add(1)
		go func() {
			defer wg4.Done()
			m.Lock()
			ready++
			for ready >= 0 {
				c.Wait()
			}
			woke++
			m.Unlock()
		}()
	}
	for {
		m.Lock()
		if ready == 5 {
			ready = -1
			c.Broadcast()
			m.Unlock()
			break
		}
		m.Unlock()
		runtime.Gosched()
	}
	wg4.Wait()
	fmt.Printf("3 Cond: Broadcast woke %d waiters\n", woke)
}

func selects() {
	never := make(chan int)
	select {
	case <-never:
		fmt.Println("4 select: received from a channel nobody sends on: wrong")
	case <-time.After(20 * time.Millisecond):
		fmt.Println("4 select: time.After won over a silent channel")
	}
	done := make(chan string)
	go func() { time.Sleep(5 * time.Millisecond); done <- "work" }()
	select {
	case s := <-done:
		fmt.Printf("4 select: %s arrived before a 10 s time.After\n", s)
	case <-time.After(10 * time.Second):
		fmt.Println("4 select: timed out: wrong")
	}
	t := time.NewTicker(2 * time.Millisecond)
	ticks := 0
	for range t.C {
		if ticks++; ticks == 5 {
			break
		}
	}
	t.Stop()
	fmt.Printf("4 select: a ticker ticked %d times\n", ticks)
}

// lockedThreads keeps n goroutines each locked to its own OS thread at the
// same time, and says whether their thread ids all differ.
func lockedThreads(n int) bool {
	var wg, hold sync.WaitGroup
	tids := make([]int, n)
	hold.Add(1)
	var arrived sync.WaitGroup
	arrived.Add(n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids[i] = syscall.Gettid()
			arrived.Done()
			hold.Wait() // all still locked: none can share a thread
			if syscall.Gettid() != tids[i] {
				tids[i] = -1
			}
		}(i)
	}
	arrived.Wait()
	hold.Done()
	wg.Wait()
	seen := map[int]bool{}
	for _, t := range tids {
		if t <= 0 || seen[t] {
			return false
		}
		seen[t] = true
	}
	return len(seen) == n
}

func threads() {
	fmt.Printf("5 LockOSThread: 4 goroutines each on its own OS thread, all distinct: %v\n", lockedThreads(4))
	// A goroutine that exits locked takes its thread with it; the runtime
	// carries on with others.
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		done <- syscall.Getpid()
	}()
	pid := <-done
	fmt.Printf("5 LockOSThread: a goroutine that ends locked ends its thread; getpid the same there: %v\n", pid == syscall.Getpid())
	fmt.Printf("5 LockOSThread: 6 more at once, all distinct: %v\n", lockedThreads(6))
	// Preemption: with one P, a goroutine in a loop without calls holds it
	// until the runtime preempts it (sysmon sends its thread SIGURG);
	// only then does main's sleep end.
	runtime.GOMAXPROCS(1)
	var stop int32
	var spins uint64
	started := make(chan bool)
	go func() {
		started <- true
		for atomic.LoadInt32(&stop) == 0 {
			spins++
		}
	}()
	<-started
	time.Sleep(20 * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	runtime.GOMAXPROCS(4)
	fmt.Println("5 preemption: with GOMAXPROCS(1), main woke beside a goroutine in a tight loop")
}

func main() {
	prev := runtime.GOMAXPROCS(4)
	fmt.Printf("0 GOMAXPROCS(4): was at least 1: %v, now %d\n", prev >= 1, runtime.GOMAXPROCS(0))
	waitGroup()
	channels()
	mutex()
	selects()
	threads()
	runtime.GC()
	// Goroutines that have done their part may take a moment to end.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	fmt.Printf("6 GC: ran; NumGoroutine came back to 1: %v\n", runtime.NumGoroutine() == 1)
	fmt.Println("done")
}

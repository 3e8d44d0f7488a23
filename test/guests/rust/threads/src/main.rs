// Threads as a Rust program uses them (issue 11), std only: spawn and join,
// channels, Arc<Mutex<..>>, a Condvar, RwLock, Barrier, scoped threads,
// park/unpark, a panic caught by join, thread-local values and their
// destructors. Its output is the same every run, on any number of CPUs:
// what threads compute, main prints after joining them.
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, RwLock};
use std::thread;
use std::time::Duration;

fn spawn_join() {
    let handles: Vec<_> = (0..4u64)
        .map(|i| thread::spawn(move || (1..=100_000u64).map(|n| n % (i + 2)).sum::<u64>()))
        .collect();
    let sums: Vec<u64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    println!("1 spawn/join: 4 threads returned {:?}", sums);
    let named = thread::Builder::new()
        .name("worker-7".into())
        .stack_size(256 * 1024)
        .spawn(|| thread::current().name().map(String::from))
        .unwrap();
    println!("1 spawn/join: a named thread with a 256 KiB stack saw its name: {:?}", named.join().unwrap());
}

fn channels() {
    let (tx, rx) = mpsc::channel::<u64>();
    let producers: Vec<_> = (0..3u64)
        .map(|p| {
            let tx = tx.clone();
            thread::spawn(move || {
                for i in 1..=1000 {
                    tx.send(p * 1_000_000 + i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let (mut n, mut sum) = (0u64, 0u64);
    for v in rx {
        n += 1;
        sum += v;
    }
    for p in producers {
        p.join().unwrap();
    }
    println!("2 mpsc: 3 senders x 1000: received {} values, sum {}, the channel closed when all senders were gone", n, sum);
    // A rendezvous channel (capacity 0): each send waits for its receive.
    let (tx, rx) = mpsc::sync_channel::<u32>(0);
    let echo = thread::spawn(move || rx.iter().map(|v| v * 2).sum::<u32>());
    for v in 1..=100 {
        tx.send(v).unwrap();
    }
    drop(tx);
    println!("2 mpsc: sync_channel(0), 100 values doubled: {}", echo.join().unwrap());
    let (tx, rx) = mpsc::channel::<u32>();
    let r = rx.recv_timeout(Duration::from_millis(20));
    println!("2 mpsc: recv_timeout with nothing sent: {:?}", r);
    drop(tx);
    println!("2 mpsc: recv after the sender is gone: {:?}", rx.recv());
}

fn mutex() {
    let counter = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = Arc::clone(&counter);
            thread::spawn(move || {
                for _ in 0..20_000 {
                    *c.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("3 Arc<Mutex>: 4 threads x 20000 increments: {}, strong count back to {}", *counter.lock().unwrap(), Arc::strong_count(&counter));
    let held = Arc::new(Mutex::new(()));
    let guard = held.lock().unwrap();
    let h2 = Arc::clone(&held);
    let busy = thread::spawn(move || h2.try_lock().is_err()).join().unwrap();
    drop(guard);
    println!("3 Arc<Mutex>: try_lock of a mutex another thread holds fails: {}", busy);
    // A thread that panics holding the lock poisons it.
    let p = Arc::new(Mutex::new(5));
    let p2 = Arc::clone(&p);
    let _ = thread::spawn(move || {
        let _g = p2.lock().unwrap();
        panic!("poisoning");
    })
    .join();
    let poisoned = p.lock();
    println!("3 Arc<Mutex>: poisoned after a panic while held: {}, value still {}", poisoned.is_err(), *poisoned.unwrap_or_else(|e| e.into_inner()));
}

fn condvar() {
    // A bounded queue: 2 producers, 2 consumers, a Condvar for each side.
    struct Queue {
        items: Mutex<(Vec<i64>, usize)>, // items, producers still running
        not_empty: Condvar,
        not_full: Condvar,
    }
    let q = Arc::new(Queue { items: Mutex::new((Vec::new(), 2)), not_empty: Condvar::new(), not_full: Condvar::new() });
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                for i in 1..=3000 {
                    let mut g = q.items.lock().unwrap();
                    while g.0.len() >= 4 {
                        g = q.not_full.wait(g).unwrap();
                    }
                    g.0.push(i);
                    q.not_empty.notify_one();
                }
                let mut g = q.items.lock().unwrap();
                g.1 -= 1;
                q.not_empty.notify_all();
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let (mut n, mut sum) = (0i64, 0i64);
                loop {
                    let mut g = q.items.lock().unwrap();
                    while g.0.is_empty() && g.1 > 0 {
                        g = q.not_empty.wait(g).unwrap();
                    }
                    match g.0.pop() {
                        Some(v) => {
                            n += 1;
                            sum += v;
                            q.not_full.notify_one();
                        }
                        None => return (n, sum),
                    }
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let (n, sum) = consumers.into_iter().map(|c| c.join().unwrap()).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    println!("4 Condvar: 2 producers x 3000 through a queue of 4: {} items, sum {}", n, sum);
    let m = Mutex::new(());
    let cv = Condvar::new();
    let (_g, t) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(20)).unwrap();
    println!("4 Condvar: wait_timeout nobody notifies timed out: {}", t.timed_out());
}

fn rwlock_barrier() {
    let data = Arc::new(RwLock::new((0u64, 0u64)));
    let torn = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for w in 0..6 {
        let (data, torn) = (Arc::clone(&data), Arc::clone(&torn));
        handles.push(thread::spawn(move || {
            for i in 0..2000 {
                if w < 2 {
                    let mut g = data.write().unwrap();
                    g.0 += 1;
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                    g.1 += 1;
                } else if let Ok(g) = data.read() {
                    if g.0 != g.1 {
                        torn.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    println!("5 RwLock: 2 writers x 2000, 4 readers: final {:?}, torn reads {}", *data.read().unwrap(), torn.load(Ordering::Relaxed));
    let barrier = Arc::new(Barrier::new(4));
    let leaders = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (b, l) = (Arc::clone(&barrier), Arc::clone(&leaders));
            thread::spawn(move || {
                for _ in 0..20 {
                    if b.wait().is_leader() {
                        l.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!("5 Barrier: 4 threads, 20 rounds: {} leaders", leaders.load(Ordering::Relaxed));
}

fn scoped() {
    let numbers: Vec<u64> = (1..=40_000).collect();
    let mut partial = [0u64; 4];
    thread::scope(|s| {
        for (chunk, out) in numbers.chunks(10_000).zip(partial.iter_mut()) {
            s.spawn(move || *out = chunk.iter().sum());
        }
    });
    println!("6 thread::scope: 4 threads summed borrowed chunks: {:?}, total {}", partial, partial.iter().sum::<u64>());
}

fn panics() {
    let r = thread::spawn(|| {
        if true {
            panic!("on purpose");
        }
        1
    })
    .join();
    let msg = match &r {
        Err(e) => e.downcast_ref::<&str>().map(|s| s.to_string()).unwrap_or_default(),
        Ok(_) => String::new(),
    };
    println!("7 panic: join returned Err: {}, its message: {:?}", r.is_err(), msg);
}

struct Noisy(&'static AtomicUsize);
impl Drop for Noisy {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
static DROPPED: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static COUNT: Cell<u32> = Cell::new(100);
    static NAME: RefCell<String> = RefCell::new(String::from("unset"));
    static GUARD: RefCell<Option<Noisy>> = RefCell::new(None);
}

fn thread_locals() {
    COUNT.with(|c| c.set(1));
    let barrier = Arc::new(Barrier::new(4));
    let handles: Vec<_> = (0..4u32)
        .map(|i| {
            let b = Arc::clone(&barrier);
            thread::spawn(move || {
                let start = COUNT.with(|c| c.get());
                COUNT.with(|c| c.set(1000 + i));
                NAME.with(|n| *n.borrow_mut() = format!("thread {}", i));
                GUARD.with(|g| *g.borrow_mut() = Some(Noisy(&DROPPED)));
                b.wait(); // every thread has written its own
                (start, COUNT.with(|c| c.get()), NAME.with(|n| n.borrow().clone()))
            })
        })
        .collect();
    let seen: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    for (i, (start, now, name)) in seen.iter().enumerate() {
        println!("8 thread_local: thread {} started with {}, kept {}, name {:?}", i, start, now, name);
    }
    println!("8 thread_local: main's value still {}, destructors run at thread exit: {}", COUNT.with(|c| c.get()), DROPPED.load(Ordering::SeqCst));
}

fn park_and_ids() {
    // The thread parks at least once, whenever it starts: an unpark that
    // comes first leaves the token its park takes (so no timing matters).
    let flag = Arc::new(AtomicBool::new(false));
    let f2 = Arc::clone(&flag);
    let parked = thread::spawn(move || {
        let mut wakeups = 0;
        loop {
            thread::park();
            wakeups += 1;
            if f2.load(Ordering::Acquire) {
                break;
            }
        }
        wakeups > 0
    });
    flag.store(true, Ordering::Release);
    parked.thread().unpark();
    println!("9 park: unparked thread saw the flag: {}", parked.join().unwrap());
    let barrier = Arc::new(Barrier::new(5));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let b = Arc::clone(&barrier);
            thread::spawn(move || {
                let id = thread::current().id();
                b.wait();
                id
            })
        })
        .collect();
    barrier.wait();
    let mut ids: HashSet<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    ids.insert(thread::current().id());
    println!("9 ids: 5 distinct ThreadIds: {}", ids.len() == 5);
    let n = thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    println!("9 available_parallelism: {}", if n >= 1 { "ok" } else { "failed" });
}

fn main() {
    // Two panics below are on purpose: their messages would go to stderr,
    // with line numbers; join's Err says what they were. Any other (a
    // thread that cannot be spawned) is reported as usual.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
        if msg != "on purpose" && msg != "poisoning" {
            report(info);
        }
    }));
    spawn_join();
    channels();
    mutex();
    condvar();
    rwlock_barrier();
    scoped();
    panics();
    thread_locals();
    park_and_ids();
    println!("done");
}

//! Steady state allocates nothing: 100 000 alerts through parse, rules, CEF encoding and the TCP
//! sender, counted by a global allocator that tallies every allocation in the process.
#![allow(clippy::unwrap_used, reason = "a test fails loudly on any setup error")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use otrelay::{Config, Engine};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to the system allocator unchanged; the counter is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `realloc`'s contract, which we pass on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SAMPLES: &str = include_str!("../examples/alerts.jsonl");

#[test]
fn steady_state_allocates_nothing_per_alert() {
    // A receiver that drains into one fixed buffer and counts lines.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = std::sync::Arc::new(AtomicU64::new(0));
    let counter = std::sync::Arc::clone(&received);
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let lines = buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                    counter.fetch_add(lines, Ordering::Relaxed);
                }
            }
        }
    });

    let config = Config::parse(
        &format!(
            r#"
            dead_letter = "{}"
            [[rule]]
            name = "all"
            [[rule.action]]
            kind = "netwitness"
            host = "127.0.0.1"
            port = {}
            transport = "tcp"
            timezone = "Europe/Berlin"
            [[rule.action]]
            kind = "cef"
            host = "127.0.0.1"
            port = {}
            transport = "tcp"
            "#,
            std::env::temp_dir().join("otrelay-alloc-dl.log").display(),
            addr.port(),
            addr.port()
        ),
        "alloc-test",
    )
    .unwrap();
    let mut engine = Engine::new(&config).unwrap();

    // Input prepared up front: ~10 000 lines per push.
    let mut input = String::new();
    while input.len() < 4 << 20 {
        input.push_str(SAMPLES);
    }
    let lines_per_push = input.lines().count() as u64;

    // Warm-up: connect, fill every pool, render the cached headers.
    for _ in 0..3 {
        engine.push(input.as_bytes());
    }
    engine.flush();
    let warm_messages = 2 * 3 * lines_per_push;
    wait_for(&received, warm_messages);

    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut pushed = 0;
    while pushed < 100_000 {
        engine.push(input.as_bytes());
        pushed += lines_per_push;
    }
    engine.flush();
    wait_for(&received, warm_messages + 2 * pushed);
    let during = ALLOCATIONS.load(Ordering::Relaxed) - before;

    let (stats, _report) = engine.finish(Duration::from_secs(5));
    receiver.join().unwrap();
    assert_eq!(stats.forwarded, 3 * lines_per_push + pushed);
    assert_eq!(
        during, 0,
        "{during} allocations for {pushed} alerts in steady state"
    );
}

fn wait_for(counter: &AtomicU64, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while counter.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "receiver got {} of {n}",
            counter.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

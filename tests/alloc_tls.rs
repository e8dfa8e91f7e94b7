//! Allocations of the TLS send path in steady state: 100 000 messages of 300 bytes through a
//! `Sender` to a rustls receiver, counted by a global allocator on every thread except the
//! receiver's. rustls allocates one buffer per TLS record (up to 16 KiB of plaintext); the test
//! checks that nothing is allocated per message and prints the figure.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test at once"
)]

mod util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use otrelay::send::{Framing, Sender, TlsOptions, Transport, Verify};
use util::{PATIENCE, dest, self_signed, server_config, write_message};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the receiver's threads, whose allocations are not otrelay's.
    static UNCOUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    if !UNCOUNTED.try_with(Cell::get).unwrap_or(true) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged; the counter is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `realloc`'s contract, which we pass on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MESSAGE: usize = 300;

#[test]
fn tls_send_allocates_per_record_not_per_message() {
    // Receiver: decrypts and counts plaintext bytes, outside the count.
    let config = server_config(&self_signed(&["localhost"]), None);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&received);
    std::thread::spawn(move || {
        UNCOUNTED.with(|u| u.set(true));
        let (s, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let mut buf = vec![0u8; 1 << 20];
        while let Ok(n) = tls.read(&mut buf) {
            if n == 0 {
                break;
            }
            counter.fetch_add(n as u64, Ordering::Relaxed);
        }
    });

    let mut d = dest(Transport::Tls, addr, Framing::OctetCounting);
    d.tls = Some(TlsOptions {
        verify: Verify::None,
        ..TlsOptions::default()
    });
    let sender = Sender::start(vec![d], None).unwrap();
    let msg = vec![b'x'; MESSAGE];
    let framed = (MESSAGE + 4) as u64; // "300 " + message

    let run = |n: u64| {
        let before = received.load(Ordering::Relaxed);
        let mut batch = sender.acquire(0);
        for _ in 0..n {
            write_message(&mut batch, &msg);
            if batch.is_full() {
                sender.submit(batch);
                batch = sender.acquire(0);
            }
        }
        sender.submit(batch);
        let end = Instant::now() + PATIENCE;
        while received.load(Ordering::Relaxed) < before + n * framed && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(received.load(Ordering::Relaxed), before + n * framed);
    };

    // Warm up: connection, handshake, buffers.
    run(20_000);

    const N: u64 = 100_000;
    let start = ALLOCATIONS.load(Ordering::Relaxed);
    run(N);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - start;
    drop(sender);

    let records = N * framed / 16_384;
    eprintln!(
        "TLS steady state: {allocations} allocations for {N} messages \
         ({:.4} per message, about {records} TLS records)",
        allocations as f64 / N as f64
    );
    // One or two per record is rustls; anything near one per message would be ours.
    assert!(
        allocations <= 3 * records + 100,
        "{allocations} allocations for {N} messages"
    );
}

//! The LEEF, text and object encoders allocate nothing per alert: after the encoders and the
//! output buffer are built, encoding the spec alerts (and a cut run) in every format and style
//! makes no allocation on the encoding thread, counted by a global allocator that tallies per
//! thread.

mod spec_alerts;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use otrelay::alert::{Alert, RawStr};
use otrelay::encode::leef::{LeefEncoder, LeefOptions, LeefVersion};
use otrelay::encode::object::{ObjectEncoder, ObjectOptions, ObjectStyle};
use otrelay::encode::text::{TextEncoder, TextOptions};
use otrelay::encode::time::{AlertClock, parse_timezone};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with` fails only while the thread is being torn down; those allocations are not ours.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every method forwards to the system allocator unchanged; the counter is a side effect
// that does not allocate (a const-initialised thread-local `Cell`).
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

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn encoding_allocates_nothing() {
    let mut alerts = spec_alerts::spec_alerts();
    // One alert that needs escaping everywhere and lacks its sensor name.
    alerts.push(Alert {
        title: RawStr::new(br#"a, b; c\\d\t\"q\"\u0007\u0085^x"#, true),
        message: Some(RawStr::new(br"l1\r\nl2", true)),
        sensor_name: None,
        ..alerts[0]
    });
    let mut sensor = spec_alerts::sensor();
    sensor.name = "plant \"A\", line\u{1}".to_owned();
    let clock = || AlertClock::new(parse_timezone("Europe/Moscow").expect("known zone"));

    let leef1 = LeefOptions::default();
    let leef2 = LeefOptions {
        version: LeefVersion::V2 { delimiter: b'^' },
        ..LeefOptions::default()
    };
    let json = ObjectOptions {
        style: ObjectStyle::Json,
        ..ObjectOptions::default()
    };
    let mut leef1 = LeefEncoder::new(&leef1, &sensor, clock());
    let mut leef2 = LeefEncoder::new(&leef2, &sensor, clock());
    let mut text = TextEncoder::new(&TextOptions::default(), &sensor, clock());
    let mut kv = ObjectEncoder::new(&ObjectOptions::default(), &sensor, clock());
    let mut json = ObjectEncoder::new(&json, &sensor, clock());
    let mut out = Vec::with_capacity(1 << 20);

    let before = allocations();
    for round in 0..100 {
        // Every other round cuts the messages short.
        let limit = if round % 2 == 0 { 2048 } else { 97 };
        out.clear();
        for alert in &alerts {
            let _ = leef1.encode(alert, &mut out, limit);
            let _ = leef2.encode(alert, &mut out, limit);
            let _ = text.encode(alert, &mut out, limit);
            let _ = kv.encode(alert, &mut out, limit);
            let _ = json.encode(alert, &mut out, limit);
        }
    }
    let after = allocations();

    assert!(!out.is_empty());
    assert_eq!(after - before, 0, "allocations while encoding");
}

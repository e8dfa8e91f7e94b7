//! End-to-end TCP tests of the send stage on 127.0.0.1: ordered exactly-once delivery with
//! both framings, at-least-once across dropped connections, back-pressure while no receiver
//! listens, exact octet framing, and `send_once`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test at once"
)]

mod util;

use std::time::Duration;

use otrelay::send::{Framing, Sender, Transport, send_once};
use util::{
    FlakyTcpReceiver, PATIENCE, TcpReceiver, assert_survived_drops, dest, numbered, send_numbered,
    seq_of, write_message,
};

/// Sends `n` numbered messages and checks they arrive once each, in order.
fn in_order_exactly_once(framing: Framing) {
    const N: usize = 100_000;
    let rx = TcpReceiver::start(framing);
    let sender = Sender::start(vec![dest(Transport::Tcp, rx.addr, framing)], None).unwrap();

    send_numbered(&sender, 0, 0..N, 150);
    let got = rx.wait_for(N, PATIENCE);
    let report = sender.shutdown(Duration::from_secs(10));

    assert_eq!(rx.errors(), Vec::<String>::new());
    assert_eq!(got.len(), N);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, m)| seq_of(m) == i && m == &numbered(i, 150))
    );
    let d = &report.destinations[0];
    assert_eq!(d.stats.messages_sent, N as u64);
    assert_eq!(d.stats.replayed_messages, 0);
    assert!(d.undelivered.is_empty());
}

#[test]
fn lf_in_order_exactly_once() {
    in_order_exactly_once(Framing::Lf);
}

#[test]
fn octet_counting_in_order_exactly_once() {
    in_order_exactly_once(Framing::OctetCounting);
}

/// Every message arrives at least once although the receiver drops the connection.
fn survives_drops(framing: Framing) {
    const N: usize = 60_000;
    const DROPS: usize = 3;
    let rx = FlakyTcpReceiver::start(framing, 4_000, DROPS);
    let sender = Sender::start(vec![dest(Transport::Tcp, rx.addr, framing)], None).unwrap();

    send_numbered(&sender, 0, 0..N, 200);
    let got = rx.wait_for_all(N, PATIENCE);

    // The last drop may come after the last message; give the sender time to reconnect.
    let end = std::time::Instant::now() + PATIENCE;
    while sender.stats()[0].snapshot().reconnects < DROPS as u64 && std::time::Instant::now() < end
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        rx.drops(),
        DROPS,
        "the receiver dropped every connection it meant to"
    );
    let report = sender.shutdown(Duration::from_secs(10));

    assert_survived_drops(&report, rx.errors(), &got, N, DROPS);
}

#[test]
fn lf_survives_dropped_connections() {
    survives_drops(Framing::Lf);
}

#[test]
fn octet_counting_survives_dropped_connections() {
    survives_drops(Framing::OctetCounting);
}

#[test]
fn back_pressure_until_the_receiver_appears() {
    let addr = util::free_port();
    let mut d = dest(Transport::Tcp, addr, Framing::Lf);
    d.batches = 4;
    d.batch_bytes = 4096;
    let sender = Sender::start(vec![d], None).unwrap();

    // Nobody listens: the pool empties and stays empty.
    let mut seq = 0;
    let mut filled = 0;
    while let Some(mut batch) = sender.try_acquire(0) {
        while !batch.is_full() {
            write_message(&mut batch, &numbered(seq, 100));
            seq += 1;
        }
        sender.submit(batch);
        filled += 1;
        assert!(filled <= 4, "more batches than the pool holds");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sender.try_acquire(0).is_none(),
        "a batch came back although nothing listens"
    );
    assert!(sender.stats()[0].snapshot().connect_failures > 0);

    // The receiver starts; everything queued arrives, then more through blocking acquire.
    let rx = TcpReceiver::start_on(addr, Framing::Lf);
    let total = seq + 2_000;
    send_numbered(&sender, 0, seq..total, 100);
    let got = rx.wait_for(total, PATIENCE);
    let report = sender.shutdown(Duration::from_secs(10));

    assert_eq!(got.len(), total);
    assert!(got.iter().enumerate().all(|(i, m)| seq_of(m) == i));
    assert!(report.destinations[0].undelivered.is_empty());
}

#[test]
fn octet_framing_of_awkward_lengths_is_exact() {
    let rx = TcpReceiver::start(Framing::OctetCounting);
    let mut d = dest(Transport::Tcp, rx.addr, Framing::OctetCounting);
    d.max_message = 20_000;
    let sender = Sender::start(vec![d], None).unwrap();

    // Bodies with embedded spaces (and a leading one) across digit boundaries.
    let lens = [
        1, 9, 10, 11, 99, 100, 101, 999, 1000, 9999, 10000, 10001, 20000,
    ];
    let bodies: Vec<Vec<u8>> = lens
        .iter()
        .map(|&n| {
            (0..n)
                .map(|i| {
                    if i % 4 == 0 {
                        b' '
                    } else {
                        b'0' + (i % 10) as u8
                    }
                })
                .collect()
        })
        .collect();
    let mut batch = sender.acquire(0);
    for b in &bodies {
        if batch.is_full() {
            sender.submit(batch);
            batch = sender.acquire(0);
        }
        write_message(&mut batch, b);
    }
    sender.submit(batch);

    let got = rx.wait_for(bodies.len(), PATIENCE);
    drop(sender);
    assert_eq!(rx.errors(), Vec::<String>::new());
    assert_eq!(got, bodies);
}

#[test]
fn shutdown_reports_what_could_not_be_delivered() {
    let addr = util::free_port();
    let sender = Sender::start(vec![dest(Transport::Tcp, addr, Framing::Lf)], None).unwrap();
    send_numbered(&sender, 0, 0..500, 100);

    let report = sender.shutdown(Duration::from_millis(200));
    let d = &report.destinations[0];
    assert_eq!(d.undelivered.len(), 500);
    assert!(
        d.undelivered
            .iter()
            .enumerate()
            .all(|(i, m)| m == &numbered(i, 100))
    );
    assert!(!d.stats.connected);
}

#[test]
fn send_once_tcp() {
    for framing in [Framing::Lf, Framing::OctetCounting] {
        let rx = TcpReceiver::start(framing);
        let d = dest(Transport::Tcp, rx.addr, framing);
        send_once(&d, b"<9>hello tcp", Duration::from_secs(2)).unwrap();
        assert_eq!(rx.wait_for(1, PATIENCE), vec![b"<9>hello tcp".to_vec()]);
        assert_eq!(rx.errors(), Vec::<String>::new());
    }

    let closed = dest(Transport::Tcp, util::free_port(), Framing::Lf);
    let err = send_once(&closed, b"<9>nobody", Duration::from_secs(2)).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}

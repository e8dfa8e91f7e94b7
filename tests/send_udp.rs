//! End-to-end UDP tests of the send stage on 127.0.0.1: numbered messages through `Sender`
//! to a loopback receiver, refused datagrams counted, and `send_once`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failure should fail the test at once"
)]

mod util;

use std::time::Duration;

use otrelay::send::{Framing, Sender, Transport, send_once};
use util::{PATIENCE, UdpReceiver, assert_all_arrived, dest, send_numbered};

#[test]
fn fifty_thousand_datagrams_all_arrive() {
    const N: usize = 50_000;
    let rx = UdpReceiver::start();
    let sender = Sender::start(vec![dest(Transport::Udp, rx.addr, Framing::Lf)], None).unwrap();

    // Paced in steps of 5 000 so that the receiver's buffer never has to hold more than that,
    // even where SO_RCVBUF is capped at 4 MiB and the receiver thread is descheduled.
    for step in (0..N).step_by(5_000) {
        rx.wait_for(step.saturating_sub(5_000), PATIENCE);
        send_numbered(&sender, 0, step..(step + 5_000).min(N), 120);
    }
    let got = rx.wait_for(N, PATIENCE);
    let report = sender.shutdown(Duration::from_secs(10));

    assert_all_arrived(&got, N);
    assert_eq!(got.len(), N, "no datagram twice");
    let stats = &report.destinations[0].stats;
    assert_eq!(stats.messages_sent, N as u64);
    assert_eq!(stats.send_errors, 0);
    assert_eq!(stats.short_sends, 0);
    assert!(report.destinations[0].undelivered.is_empty());

    // One datagram per message, with no framing added.
    assert!(got.iter().all(|m| m.len() == 120 && !m.ends_with(b"\n")));
}

#[test]
fn refused_datagrams_are_counted_and_skipped() {
    // Nothing listens there: the kernel answers with "port unreachable", and the next send on
    // the connected socket reports ECONNREFUSED.
    let addr = util::free_port();
    let sender = Sender::start(vec![dest(Transport::Udp, addr, Framing::Lf)], None).unwrap();

    let mut rounds = 0;
    while sender.stats()[0].snapshot().send_errors == 0 && rounds < 200 {
        send_numbered(&sender, 0, 0..10, 100);
        std::thread::sleep(Duration::from_millis(20));
        rounds += 1;
    }
    let report = sender.shutdown(Duration::from_secs(5));

    let stats = &report.destinations[0].stats;
    assert!(
        stats.send_errors > 0,
        "no refused datagram counted: {stats:?}"
    );
    assert_eq!(
        stats.batches_sent, rounds as u64,
        "every batch was handled to the end"
    );
    assert_eq!(stats.messages_sent + stats.send_errors, 10 * rounds as u64);
}

#[test]
fn send_once_udp() {
    let rx = UdpReceiver::start();
    let d = dest(Transport::Udp, rx.addr, Framing::Lf);
    send_once(&d, b"<9>hello udp", Duration::from_secs(2)).unwrap();
    assert_eq!(rx.wait_for(1, PATIENCE), vec![b"<9>hello udp".to_vec()]);

    let closed = dest(Transport::Udp, util::free_port(), Framing::Lf);
    let err = send_once(&closed, b"<9>nobody", Duration::from_secs(2)).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
}

#[test]
fn oversized_udp_config_is_rejected() {
    let mut d = dest(Transport::Udp, util::free_port(), Framing::Lf);
    d.max_message = 70_000;
    let err = Sender::start(vec![d], None).err().unwrap();
    assert!(err.to_string().contains("65507"), "{err}");
}

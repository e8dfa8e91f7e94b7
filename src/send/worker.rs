//! The sender thread's loop: takes submitted batches, hands them to each destination's link
//! (UDP, TCP or TLS, stdout), sleeps in one mio `Poll`, and drains everything at shutdown.
//!
//! Runs on the thread "otrelay-send" only. What must hold: no allocation per batch (queues are
//! `VecDeque`s sized to the pool at start), no logging per message, and the thread never blocks
//! on one destination for long: a UDP socket that stays unwritable is left for the next round,
//! and TCP never blocks at all.
//
// TODO: a sender thread serves every destination of its workers, so with one worker (or with
// workers sharing a sender) every UDP datagram goes through this one thread, which spends most
// of its time in the kernel's send path and caps UDP forwarding below what the CPUs allow.
// `pipeline.sender_per_worker` spreads that work, but for TCP and TLS destinations too, where
// one connection per destination would be kept if only UDP were split off.
//
// One round of the loop:
// 1. move every submitted batch from the channel to its destination's pending queue;
// 2. let each link make progress (send, connect, check acknowledgements, reconnect);
// 3. compute how long nothing needs doing (the earliest link timer, capped), announce sleep,
//    re-check the channel, and poll; a submit while asleep fires the waker;
// 4. dispatch socket readiness to the TCP links.
// After `shutdown`, the loop goes on until every queue is delivered or the deadline passes,
// then collects what is left for the report.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{Ordering, fence};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};

use super::stdout::StdoutLink;
use super::tcp::TcpLink;
use super::udp::UdpLink;
use super::{Batch, DestinationConfig, DestinationStats, SendError, Shared, Transport};

/// Token of the waker; destinations use their index as token.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// Longest sleep even when nothing is pending; bounds the cost of any missed wake-up.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The pending queue and free pool of one destination, as the links see them.
pub(crate) struct Queue {
    /// Submitted batches not yet written (front = oldest); capacity = pool size.
    pub(crate) pending: VecDeque<Batch>,
    /// Where delivered batches go back to, emptied.
    pub(crate) free: crossbeam_channel::Sender<Batch>,
    /// Counters of this destination.
    pub(crate) stats: Arc<DestinationStats>,
    /// Destination name for logs.
    pub(crate) name: String,
}

impl Queue {
    /// Empties a delivered batch and returns it to the pool.
    pub(crate) fn recycle(&self, mut batch: Batch) {
        batch.clear();
        // Never blocks: the pool channel has room for every batch of the destination. It
        // fails only when `Sender` is gone, and then nobody needs the batch.
        let _ = self.free.send(batch);
    }

    /// True when the pipeline may be waiting for a batch of this destination.
    pub(crate) fn pool_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// Counts one delivered (or written) batch.
    pub(crate) fn count_batch(&self, messages: usize, bytes: usize) {
        let st = &self.stats;
        DestinationStats::add(&st.messages_sent, messages as u64);
        DestinationStats::add(&st.bytes_sent, bytes as u64);
        DestinationStats::add(&st.batches_sent, 1);
    }
}

/// The transport half of a destination.
enum Link {
    /// Connected UDP socket.
    Udp(UdpLink),
    /// TCP state machine, with or without TLS (boxed: it is several times larger than the
    /// other links).
    Tcp(Box<TcpLink>),
    /// Process stdout.
    Stdout(StdoutLink),
}

/// One destination on the sender thread.
pub(crate) struct Dest {
    /// Pending batches, pool and counters.
    queue: Queue,
    /// Transport state.
    link: Link,
}

impl Dest {
    /// Opens the destination's link (UDP socket, stdout; TCP only prepares; TLS loads its
    /// certificates) on the starting thread, so that errors reach `Sender::start`.
    pub(crate) fn open(
        index: usize,
        cfg: &DestinationConfig,
        free: crossbeam_channel::Sender<Batch>,
        stats: Arc<DestinationStats>,
    ) -> Result<Dest, SendError> {
        let link = match cfg.transport {
            Transport::Udp => Link::Udp(UdpLink::open(cfg.resolve()?, cfg.send_buffer)?),
            Transport::Tcp => Link::Tcp(Box::new(TcpLink::new(index, cfg, cfg.resolve()?, None))),
            Transport::Tls => {
                let setup = cfg.tls_setup()?;
                let weak = cfg
                    .tls
                    .as_ref()
                    .and_then(|t| t.weak_verification_warning(&cfg.name));
                if let Some(warning) = weak {
                    eprintln!("{warning}");
                }
                let link = TcpLink::new(index, cfg, cfg.resolve()?, Some(setup));
                Link::Tcp(Box::new(link))
            }
            Transport::Stdout => Link::Stdout(StdoutLink::new()),
        };
        if !matches!(link, Link::Tcp(_)) {
            stats.connected.store(1, Ordering::Relaxed);
        }
        let queue = Queue {
            pending: VecDeque::with_capacity(cfg.batches),
            free,
            stats,
            name: cfg.name.clone(),
        };
        Ok(Dest { queue, link })
    }

    /// Makes whatever progress is possible now; returns when the link wants to be looked at
    /// again (`None`: only on a socket event or a new batch).
    fn service(&mut self, poll: &Poll, now: Instant) -> Option<Instant> {
        match &mut self.link {
            Link::Udp(l) => l.service(&mut self.queue),
            Link::Stdout(l) => l.service(&mut self.queue),
            Link::Tcp(l) => l.service(&mut self.queue, poll.registry(), now),
        }
    }

    /// True when nothing is left to deliver.
    fn drained(&self) -> bool {
        let link_done = match &self.link {
            Link::Tcp(l) => l.all_acknowledged(),
            Link::Udp(_) | Link::Stdout(_) => true,
        };
        self.queue.pending.is_empty() && link_done
    }

    /// Collects the messages not delivered, for the shutdown report.
    fn undelivered(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();

        // Held TCP batches come first (they are older); a UDP front batch may be partly sent.
        let first = match &mut self.link {
            Link::Tcp(l) => {
                l.collect_unacknowledged(&mut out);
                0
            }
            Link::Udp(l) => l.sent_of_front(),
            Link::Stdout(_) => 0,
        };
        for (i, b) in self.queue.pending.iter().enumerate() {
            b.messages_from(if i == 0 { first } else { 0 }, &mut out);
        }
        out
    }
}

/// The sender thread's body; returns, per destination, the messages left undelivered.
pub(crate) fn run(
    mut poll: Poll,
    queue: crossbeam_channel::Receiver<Batch>,
    mut dests: Vec<Dest>,
    shared: Arc<Shared>,
    cpu: Option<usize>,
) -> Vec<Vec<Vec<u8>>> {
    if let Some(cpu) = cpu {
        if !crate::affinity::pin_current(cpu) {
            eprintln!("otrelay: cannot pin the sender thread to cpu {cpu}; running unpinned");
        }
    }
    let mut events = Events::with_capacity(dests.len() + 16);
    let mut deadline: Option<Instant> = None;

    loop {
        take_submitted(&queue, &mut dests);

        // Progress on every destination; the earliest timer bounds the sleep.
        let now = Instant::now();
        let mut wake_at: Option<Instant> = None;
        for d in &mut dests {
            if let Some(t) = d.service(&poll, now) {
                wake_at = Some(wake_at.map_or(t, |w| w.min(t)));
            }
        }

        // Shutdown: stop once delivered or past the deadline.
        if deadline.is_none() && shared.stop.load(Ordering::SeqCst) {
            let asked = shared.deadline.lock().ok().and_then(|d| *d);
            deadline = Some(asked.unwrap_or(now));
            continue;
        }
        if let Some(end) = deadline {
            if (queue.is_empty() && dests.iter().all(Dest::drained)) || now >= end {
                break;
            }
            wake_at = Some(wake_at.map_or(end, |w| w.min(end)));
        }

        sleep(&mut poll, &mut events, &queue, &shared, wake_at);
        for ev in events.iter() {
            if ev.token() == WAKER {
                continue;
            }
            if let Some(Dest {
                queue,
                link: Link::Tcp(l),
            }) = dests.get_mut(ev.token().0)
            {
                l.on_event(ev, queue, poll.registry());
            }
        }
    }

    // Late submissions (between the stop flag and now) are reported, not lost.
    take_submitted(&queue, &mut dests);
    dests.iter_mut().map(Dest::undelivered).collect()
}

/// Moves submitted batches to their destinations' pending queues.
fn take_submitted(queue: &crossbeam_channel::Receiver<Batch>, dests: &mut [Dest]) {
    while let Ok(batch) = queue.try_recv() {
        let Some(d) = dests.get_mut(batch.dest()) else {
            continue;
        };
        d.queue.pending.push_back(batch);

        let depth = d.queue.pending.len() as u64;
        d.queue
            .stats
            .queue_depth_max
            .fetch_max(depth, Ordering::Relaxed);
    }
}

/// Polls until `wake_at` (or `IDLE_POLL`), announcing the sleep so `submit` wakes us.
fn sleep(
    poll: &mut Poll,
    events: &mut Events,
    queue: &crossbeam_channel::Receiver<Batch>,
    shared: &Shared,
    wake_at: Option<Instant>,
) {
    let now = Instant::now();
    let mut timeout = wake_at.map_or(IDLE_POLL, |t| t.saturating_duration_since(now));
    timeout = timeout.min(IDLE_POLL);

    // Announce, then re-check: pairs with the fence in `Sender::submit`.
    shared.sleeping.store(true, Ordering::SeqCst);
    fence(Ordering::SeqCst);
    if !queue.is_empty() || shared.stop.load(Ordering::SeqCst) {
        timeout = Duration::ZERO;
    }

    if let Err(e) = poll.poll(events, Some(timeout)) {
        if e.kind() != std::io::ErrorKind::Interrupted {
            eprintln!("otrelay: sender poll failed: {e}");
            std::thread::sleep(Duration::from_millis(10));
        }
        events.clear();
    }
    shared.sleeping.store(false, Ordering::SeqCst);
}

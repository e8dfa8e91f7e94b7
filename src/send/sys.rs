//! Raw Linux calls of the send stage: `sendmmsg`, `send(MSG_NOSIGNAL)`, the `SIOCOUTQ` ioctl,
//! `poll` for writability.
//!
//! Runs on the sender thread. This is the only file of the stage
//! with `unsafe` or `libc`; every return value goes through `check`, which turns -1 into the
//! thread's `errno`. What must hold: pointers handed to the kernel point into buffers that live
//! for the whole call, and the `mmsghdr`/`iovec` arrays are allocated once and reused.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

/// Datagrams handed to the kernel per `sendmmsg` call; the kernel caps one call at 1024
/// (`UIO_MAXIOV`), and 256 already amortises the syscall well below a microsecond per message.
pub(crate) const MMSG_BATCH: usize = 256;

/// Turns a libc return value into `io::Result`: -1 means "see errno".
fn check<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Preallocated `mmsghdr` and `iovec` arrays for one UDP socket.
pub(crate) struct MmsgBuf {
    /// One header per datagram of a call; `msg_iov` points at the matching `iovs` entry.
    hdrs: Vec<libc::mmsghdr>,
    /// One iovec per datagram; filled right before each call.
    iovs: Vec<libc::iovec>,
}

// SAFETY: the raw pointers inside the arrays are only meaningful during `sendmmsg`, which the
// owning (sender) thread fills and uses within one call; between calls they are stale values
// that nothing dereferences, so moving the struct to another thread is harmless.
unsafe impl Send for MmsgBuf {}

impl MmsgBuf {
    /// Allocates the arrays for `MMSG_BATCH` datagrams.
    pub(crate) fn new() -> MmsgBuf {
        // SAFETY: mmsghdr and iovec are plain C structs for which all-zero bytes are valid
        // (null pointers, zero lengths).
        let hdr: libc::mmsghdr = unsafe { std::mem::zeroed() };
        let iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        MmsgBuf {
            hdrs: vec![hdr; MMSG_BATCH],
            iovs: vec![iov; MMSG_BATCH],
        }
    }

    /// Sends up to `MMSG_BATCH` datagrams, `frame(first)`, `frame(first + 1)`, … up to `count`
    /// of them, on the connected socket `fd`.
    ///
    /// Returns how many were sent (from the front) and how many of those were short (the
    /// kernel took fewer bytes than given). An error means the first datagram was not sent.
    pub(crate) fn send<'b>(
        &mut self,
        fd: RawFd,
        count: usize,
        mut frame: impl FnMut(usize) -> &'b [u8],
    ) -> io::Result<(usize, usize)> {
        let n = count.min(MMSG_BATCH);

        // Point each header at its iovec and each iovec at its datagram.
        for i in 0..n {
            let data = frame(i);
            self.iovs[i] = libc::iovec {
                iov_base: data.as_ptr() as *mut _,
                iov_len: data.len(),
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            self.hdrs[i].msg_len = 0;
        }

        // SAFETY: `hdrs[..n]` are initialised headers (no name, no control data) whose iovecs
        // point into slices borrowed for 'b, which outlives this call; n ≤ MMSG_BATCH, the array
        // length, and the kernel writes only `msg_len` of those headers.
        let ret = unsafe {
            libc::sendmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        let sent = check(ret)? as usize;

        let short = (0..sent).filter(|&i| (self.hdrs[i].msg_len as usize) < self.iovs[i].iov_len);
        Ok((sent, short.count()))
    }
}

/// Writes as much of `data` as the socket takes without blocking; never raises SIGPIPE.
pub(crate) fn send_nosignal(fd: &impl AsRawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is a valid slice for the whole call; the kernel only reads it.
    let ret = unsafe {
        libc::send(
            fd.as_raw_fd(),
            data.as_ptr().cast(),
            data.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    check(ret).map(|n| n as usize)
}

/// Writes as much of the slices, in order, as the socket takes without blocking, in one
/// `sendmsg`; never raises SIGPIPE.
pub(crate) fn send_vectored_nosignal(fd: &impl AsRawFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: all-zero is a valid msghdr (no name, no control data, no iovecs).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is documented to be ABI-compatible with `iovec` on Unix; the kernel only reads
    // through the pointer.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;

    // SAFETY: `msg` points at `bufs.len()` valid iovecs borrowed for the whole call.
    let ret = unsafe {
        libc::sendmsg(
            fd.as_raw_fd(),
            &msg,
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    check(ret).map(|n| n as usize)
}

/// Bytes in the socket's send queue that the peer has not acknowledged yet (sent or not).
///
/// Linux computes this as `write_seq - snd_una`, from sequence numbers rather than the queue
/// contents, so the value stays meaningful after a reset purged the queue.
pub(crate) fn unacked_bytes(fd: &impl AsRawFd) -> io::Result<u64> {
    let mut outq: libc::c_int = 0;

    // SAFETY: SIOCOUTQ (= TIOCOUTQ) writes one c_int through the pointer, which is valid.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut outq) };
    check(ret)?;
    Ok(outq.max(0) as u64)
}

/// Waits until `fd` is writable or `timeout` passes; returns whether it is writable.
pub(crate) fn wait_writable(fd: &impl AsRawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;

    // SAFETY: one valid pollfd, count 1.
    let ret = unsafe { libc::poll(&mut pfd, 1, ms) };
    match check(ret) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// True for the error a nonblocking `connect` returns while the handshake goes on.
pub(crate) fn is_in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS)
}

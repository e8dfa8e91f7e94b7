//! CPU pinning for the pipeline and sender threads.
//!
//! Pipeline position: start-up only, on the thread being pinned. Pinning keeps the pipeline and
//! the sender on their own cores, so their caches stay warm and the scheduler does not bounce
//! them. It is an optimisation only: when the machine has fewer than two usable CPUs, or the
//! call fails (a container without the capability), otrelay runs unpinned.

/// CPUs this process may run on, lowest first.
pub fn available_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain data for which all-zero bytes are a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t and we pass its exact size; pid 0 means the
    // calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `set` was filled by the kernel and the index is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread to `cpu`. Returns whether the kernel accepted it.
pub fn pin_current(cpu: usize) -> bool {
    if cpu >= libc::CPU_SETSIZE as usize {
        return false;
    }
    // SAFETY: all-zero bytes are a valid empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` was checked to be below CPU_SETSIZE, so CPU_SET stays inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size we pass; pid 0 is the calling thread.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0 }
}

/// The CPUs for the pipeline and sender threads, when pinning is wanted and there are at least
/// two CPUs to give them.
pub fn plan(pin: bool) -> (Option<usize>, Option<usize>) {
    if !pin {
        return (None, None);
    }
    match available_cpus().as_slice() {
        [first, second, ..] => (Some(*first), Some(*second)),
        _ => (None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_thread_can_be_pinned_to_an_available_cpu() {
        let cpus = available_cpus();
        assert!(!cpus.is_empty());
        let handle = std::thread::spawn(move || pin_current(cpus[0]));
        assert!(handle.join().unwrap());
        assert!(!pin_current(libc::CPU_SETSIZE as usize));
    }
}

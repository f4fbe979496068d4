// SPDX-License-Identifier: GPL-2.0

//! Test-only knobs that widen race windows until the tests can see them.
//!
//! Built only with `IMP2_TEST_KNOBS=1` (the module the test VM runs, see
//! `Kbuild`), as module parameters in `src/helpers.c`. In any other build
//! every function here is an empty inline function, so release modules
//! carry neither the parameters nor the calls.

#[cfg(imp2_test_knobs)]
mod imp {
    use crate::{abstractions::net::Net, bindings};

    /// Busy-waits `test_hook_delay_us` in the v1 path of the PRE_ROUTING
    /// hook (softirq): a packet stays inside the hook while teardown runs.
    pub(crate) fn hook_delay() {
        // SAFETY: reads a module parameter and busy-waits; callable in any context.
        unsafe { bindings::imp2_test_hook_delay() }
    }

    /// Busy-waits `test_v2_event_delay_us` in the hook after a v2 listener
    /// has been taken for a packet, before its event is built and sent: a
    /// packet stays at the listener's old hook while it moves.
    pub(crate) fn v2_event_delay() {
        // SAFETY: reads a module parameter and busy-waits; callable in any context.
        unsafe { bindings::imp2_test_v2_event_delay() }
    }

    /// Busy-waits `test_timer_delay_us` at the start of a netns timer run
    /// (softirq): the callback is still running while teardown starts.
    pub(crate) fn timer_delay() {
        // SAFETY: reads a module parameter and busy-waits; callable in any context.
        unsafe { bindings::imp2_test_timer_delay() }
    }

    /// Busy-waits `test_send_delay_us` between the subscriber lookup and
    /// the send, as a slow allocation or `netlink_unicast` would.
    pub(crate) fn send_delay() {
        // SAFETY: as above.
        unsafe { bindings::imp2_test_send_delay() }
    }

    /// Sleeps `test_drain_delay_ms` before each request drained under the
    /// semaphore, so that other senders' requests queue up meanwhile.
    pub(crate) fn drain_delay() {
        // SAFETY: called only from the input path, in process context, where
        // `msleep` may sleep (the semaphore is not a spinlock).
        unsafe { bindings::imp2_test_drain_delay() }
    }

    /// Sleeps `test_release_delay_ms` at the start of NETLINK_URELEASE
    /// handling: the released socket's listener is still in place, its
    /// port free for anyone to bind.
    pub(crate) fn release_delay() {
        // SAFETY: called only from the port-release notifier, a blocking
        // notifier chain, in process context, where `msleep` may sleep.
        unsafe { bindings::imp2_test_release_delay() }
    }

    /// Whether the pernet init of `net` is to fail: `net` is the netns
    /// whose inode number is in `test_fail_init_netns`.
    pub(crate) fn fail_pernet_init(net: &Net) -> bool {
        // SAFETY: `net` is alive (`Net` invariant); reads a module parameter.
        unsafe { bindings::imp2_test_fail_pernet_init(net.as_raw()) }
    }

    /// Runs `lock`, which takes the subscriber's write lock, and records
    /// how long it waited in `test_max_write_wait_us`.
    pub(crate) fn timed_write_lock<G>(lock: impl FnOnce() -> G) -> G {
        // SAFETY: reads the monotonic clock; any context.
        let start = unsafe { bindings::imp2_test_now_ns() };
        let guard = lock();
        // SAFETY: updates a module parameter; any context.
        unsafe { bindings::imp2_test_note_write_wait(start) };
        guard
    }
}

#[cfg(not(imp2_test_knobs))]
mod imp {
    #[inline(always)]
    pub(crate) fn hook_delay() {}

    #[inline(always)]
    pub(crate) fn v2_event_delay() {}

    #[inline(always)]
    pub(crate) fn timer_delay() {}

    #[inline(always)]
    pub(crate) fn send_delay() {}

    #[inline(always)]
    pub(crate) fn drain_delay() {}

    #[inline(always)]
    pub(crate) fn release_delay() {}

    #[inline(always)]
    pub(crate) fn fail_pernet_init(_net: &crate::abstractions::net::Net) -> bool {
        false
    }

    #[inline(always)]
    pub(crate) fn timed_write_lock<G>(lock: impl FnOnce() -> G) -> G {
        lock()
    }
}

pub(crate) use imp::*;

// SPDX-License-Identifier: GPL-2.0

//! Clocks.

use crate::bindings;

/// `CLOCK_REALTIME` now, in nanoseconds since the epoch
/// (`ktime_get_real_ns()`). Callable from any context.
pub(crate) fn realtime_ns() -> u64 {
    // SAFETY: `ktime_get_real_ns()` has no preconditions.
    unsafe { bindings::imp2_ktime_get_real_ns() }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds since boot (`ktime_get_ns()`).
/// Callable from any context but NMI.
pub(crate) fn monotonic_ns() -> u64 {
    // SAFETY: `ktime_get_ns()` has no preconditions outside NMI context,
    // which no caller of ours runs in.
    unsafe { bindings::imp2_ktime_get_ns() }
}

/// A point in time in jiffies, the timer wheel's clock. Wraps around:
/// compare with [`Jiffies::is_before`], as `time_before()` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Jiffies(kernel::ffi::c_ulong);

impl Jiffies {
    /// A placeholder value, for state that has no time yet.
    pub(crate) const ZERO: Jiffies = Jiffies(0);

    /// Now.
    pub(crate) fn now() -> Self {
        // SAFETY: reading `jiffies` has no preconditions.
        Self(unsafe { bindings::imp2_jiffies() })
    }

    /// `ms` milliseconds from now, rounded up to whole jiffies.
    pub(crate) fn after_ms(ms: u32) -> Self {
        // SAFETY: `msecs_to_jiffies()` has no preconditions.
        Self(unsafe { bindings::imp2_jiffies_after_ms(ms) })
    }

    /// Whether `self` comes before `other` (`time_before()`).
    pub(crate) fn is_before(self, other: Jiffies) -> bool {
        // The signed difference, as time_before() computes it.
        (self.0.wrapping_sub(other.0) as kernel::ffi::c_long) < 0
    }

    /// The raw value, for the timer functions.
    pub(crate) fn raw(self) -> kernel::ffi::c_ulong {
        self.0
    }
}

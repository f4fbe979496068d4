// SPDX-License-Identifier: GPL-2.0

//! Clocks.

use crate::bindings;

/// `CLOCK_REALTIME` now, in nanoseconds since the epoch
/// (`ktime_get_real_ns()`). Callable from any context.
pub(crate) fn realtime_ns() -> u64 {
    // SAFETY: `ktime_get_real_ns()` has no preconditions.
    unsafe { bindings::imp2_ktime_get_real_ns() }
}

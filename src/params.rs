// SPDX-License-Identifier: GPL-2.0

//! Module parameters and log rate limiting, backed by `src/helpers.c`.
//!
//! 6.12's `module!` macro cannot declare parameters, so `unit` is declared
//! with `module_param()` in the C helper object.

use crate::bindings;

/// The `unit` module parameter: the netlink protocol unit to serve.
pub(crate) fn unit() -> i32 {
    // SAFETY: reads an `int` parameter that is read-only (0444) after load.
    unsafe { bindings::imp2_param_unit() }
}

/// Returns true if a rate-limited log line may be printed now
/// (at most 10 lines per 5 seconds, shared by the whole module).
pub(crate) fn log_allowed() -> bool {
    // SAFETY: `__ratelimit` on a static state is safe from any context.
    unsafe { bindings::imp2_net_ratelimit() }
}

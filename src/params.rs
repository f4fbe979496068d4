// SPDX-License-Identifier: GPL-2.0

//! Module parameters and log rate limiting.
//!
//! The `unit` parameter: on 7.3, mainline's `kernel::module_param`, declared
//! in `module!` (`imp2_main.rs`); 6.12's `module!` cannot declare
//! parameters, so there it is `module_param()` in `src/helpers.c`.
//! Rate limiting is `__ratelimit` in `src/helpers.c` on both.

use crate::bindings;

/// The `unit` module parameter: the netlink protocol unit to serve.
#[cfg(imp2_v7)]
pub(crate) fn unit() -> i32 {
    crate::module_parameters::unit.value()
}

/// The `unit` module parameter: the netlink protocol unit to serve.
#[cfg(not(imp2_v7))]
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

/// The `max_listeners` module parameter: the most v2 listeners per netns.
#[cfg(imp2_v7)]
pub(crate) fn max_listeners() -> usize {
    crate::module_parameters::max_listeners.value() as usize
}

/// The `max_listeners` module parameter: the most v2 listeners per netns.
#[cfg(not(imp2_v7))]
pub(crate) fn max_listeners() -> usize {
    // SAFETY: reads an `unsigned int` parameter (`READ_ONCE`).
    unsafe { bindings::imp2_param_max_listeners() as usize }
}

/// The `hooks_on_demand` module parameter: unregister a netns's hooks when
/// its last listener leaves, instead of keeping them until the netns
/// exits. A C `module_param()` (`src/helpers.c`) on both kernels: mainline
/// Rust's module parameters take integers only.
pub(crate) fn hooks_on_demand() -> bool {
    // SAFETY: reads a `bool` parameter that is read-only (0444) after load.
    unsafe { bindings::imp2_param_hooks_on_demand() }
}

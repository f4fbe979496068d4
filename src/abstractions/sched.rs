// SPDX-License-Identifier: GPL-2.0

//! Yielding the CPU in long-running process-context loops.

use crate::bindings;

/// Lets the scheduler run something else if it wants to (`cond_resched()`),
/// which may also report a quiescent state to RCU (`__cond_resched()` calls
/// `rcu_all_qs()` without `CONFIG_PREEMPT_RCU`; with it, the tick does).
/// May sleep: process context only, with no spinlock held.
pub(crate) fn cond_resched() {
    // SAFETY: `cond_resched()` has no memory-safety precondition; its
    // callers are the request paths, in process context, holding only
    // sleeping locks.
    unsafe { bindings::imp2_cond_resched() };
}

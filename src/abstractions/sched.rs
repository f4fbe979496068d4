// SPDX-License-Identifier: GPL-2.0

//! Yielding the CPU in long-running process-context loops, and keeping
//! softirqs off it for a short section.

use crate::bindings;
use core::marker::PhantomData;

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

/// Bottom halves disabled on this CPU (`local_bh_disable()`) until dropped:
/// the section runs as softirq code does, neither preempted (except on
/// `PREEMPT_RT`, where it only stays on the CPU) nor interrupted by a
/// softirq.
///
/// Where bottom halves are off already (in a softirq, the hooks' usual
/// context, or a BH-disabled section) it does nothing: `make bench`
/// measured the `local_bh_disable()`/`local_bh_enable()` pair at 34
/// instructions per v1 event there.
///
/// # Invariants
///
/// If `enabled_on_drop`, created by `local_bh_disable()` on the current
/// CPU, in a context that may call `local_bh_enable()` (not hard IRQ
/// context, IRQs enabled); else created with bottom halves already off,
/// which stay off for its lifetime (whoever turned them off turns them on
/// after). Not `Send`: dropped on the same CPU and task.
pub(crate) struct BhDisabled {
    enabled_on_drop: bool,
    _not_send: PhantomData<*mut ()>,
}

impl BhDisabled {
    /// Disables bottom halves. Not in hard IRQ context nor with IRQs off
    /// (`__local_bh_enable_ip()` warns on both, kernel/softirq.c): for
    /// process and softirq context, where the netfilter hooks, the timer and
    /// the request paths run.
    pub(crate) fn new() -> Self {
        // SAFETY: no memory-safety precondition; the callers' contexts are
        // the ones listed above.
        let enabled_on_drop = unsafe { bindings::imp2_local_bh_disable_unless_off() };
        // INVARIANT: disabled just now if `enabled_on_drop`, else off already.
        Self { enabled_on_drop, _not_send: PhantomData }
    }
}

impl Drop for BhDisabled {
    fn drop(&mut self) {
        if self.enabled_on_drop {
            // SAFETY: pairs with the `local_bh_disable()` of `new`, in the
            // same task and context (type invariant); any softirq raised
            // meanwhile runs here.
            unsafe { bindings::imp2_local_bh_enable() };
        }
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A `work_struct` on the system workqueue, embedded in its owner (like
//! [`super::timer::Timer`]): mainline Rust's `kernel::workqueue` needs its
//! owner in an `Arc` or a `KBox`, and per-netns state lives in
//! `net_generic` memory.

use crate::bindings;
use core::marker::PhantomPinned;
use kernel::{prelude::*, types::Opaque};

/// The C callback of a [`Work`]: gets the `work_struct` it was set up with.
pub(crate) type WorkCallback = unsafe extern "C" fn(*mut bindings::work_struct);

/// Deferred work that runs in a kworker's process context.
///
/// # Invariants
///
/// `work` is set up (`INIT_WORK()`) with the callback given to [`Work::new`]
/// and pinned. After [`Work::cancel_sync`] (or the drop) the callback is not
/// running or queued. `repr(transparent)`: a `*mut work_struct` handed to the
/// callback is also the address of the `Work`.
#[pin_data(PinnedDrop)]
#[repr(transparent)]
pub(crate) struct Work {
    #[pin]
    work: Opaque<bindings::work_struct>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: `schedule_work()` and `cancel_work_sync()` may be called from
// several CPUs at once; the workqueue core serialises them on the work's
// pending bit and the pool lock.
unsafe impl Send for Work {}
// SAFETY: see above.
unsafe impl Sync for Work {}

impl Work {
    /// A work item, not queued, that will call `callback` with its
    /// `work_struct`.
    ///
    /// # Safety
    ///
    /// `callback` must be sound to call in process context with this
    /// work's `work_struct` for as long as the work can run: until
    /// [`Work::cancel_sync`] returns with nobody queueing it any more, or
    /// the drop does.
    pub(crate) unsafe fn new(callback: WorkCallback) -> impl PinInit<Self> {
        let setup = move |slot: *mut Opaque<bindings::work_struct>| -> Result<(), core::convert::Infallible> {
            // SAFETY: `slot` is valid for writes and pinned.
            unsafe { bindings::imp2_init_work(crate::compat::opaque_cast_into(slot), Some(callback)) };
            Ok(())
        };
        pin_init!(Self {
            _pin: PhantomPinned,
            // SAFETY: `setup` fully initialises `slot` and cannot fail.
            work <- unsafe { crate::compat::pin_init_from_closure(setup) },
        })
    }

    /// Queues the work on the system's unbound workqueue (any idle CPU)
    /// unless it is queued already (a running callback that queues it runs
    /// once more). Any context.
    pub(crate) fn schedule(&self) {
        // SAFETY: the work is set up (type invariant).
        unsafe { bindings::imp2_schedule_work(self.work.get()) };
    }

    /// Dequeues the work and waits for a running callback to return
    /// (`cancel_work_sync()`, which also stops a callback that queues its
    /// own work again). Sleeps: process context, never from the callback.
    pub(in crate::abstractions) fn cancel_sync(&self) {
        // SAFETY: the work is set up (type invariant).
        unsafe { bindings::cancel_work_sync(self.work.get()) };
    }
}

#[pinned_drop]
impl PinnedDrop for Work {
    fn drop(self: Pin<&mut Self>) {
        self.cancel_sync();
    }
}

// SPDX-License-Identifier: GPL-2.0

//! A `timer_list` (jiffies resolution, like NFLOG's flush timer), armed
//! with `timer_reduce()` and shut down with `timer_shutdown_sync()`.
//! Mainline Rust has `hrtimer` (7.3 only) but no `timer_list`.

use super::time::Jiffies;
use crate::bindings;
use core::marker::PhantomPinned;
use kernel::{prelude::*, types::Opaque};

/// The C callback of a [`Timer`]: gets the `timer_list` it was set up with.
pub(crate) type TimerCallback = unsafe extern "C" fn(*mut bindings::timer_list);

/// A timer whose callback runs in softirq context.
///
/// # Invariants
///
/// `timer` is set up (`timer_setup()`) with the callback given to
/// [`Timer::new`] and pinned. After [`Timer::shutdown_sync`] (or the drop)
/// the callback is not running and never runs again: arming is a no-op.
/// `repr(transparent)`: a `*mut timer_list` handed to the callback is also
/// the address of the `Timer`.
#[pin_data(PinnedDrop)]
#[repr(transparent)]
pub(crate) struct Timer {
    #[pin]
    timer: Opaque<bindings::timer_list>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the timer functions may be called concurrently from several CPUs;
// the timer core serialises them with the timer base lock. `fire_by` may be
// called from any context, `shutdown_sync` from process context (see there).
unsafe impl Send for Timer {}
// SAFETY: see above.
unsafe impl Sync for Timer {}

impl Timer {
    /// A timer, not armed, that will call `callback` with its `timer_list`.
    ///
    /// # Safety
    ///
    /// `callback` must be sound to call in softirq context with this
    /// timer's `timer_list` for as long as the timer can fire: until
    /// [`Timer::shutdown_sync`] returns, or the drop does.
    pub(crate) unsafe fn new(callback: TimerCallback) -> impl PinInit<Self> {
        let setup = move |slot: *mut Opaque<bindings::timer_list>| -> Result<(), core::convert::Infallible> {
            // SAFETY: `slot` is valid for writes and pinned.
            unsafe { bindings::imp2_timer_setup(crate::compat::opaque_cast_into(slot), Some(callback)) };
            Ok(())
        };
        pin_init!(Self {
            _pin: PhantomPinned,
            // SAFETY: `setup` fully initialises `slot` and cannot fail.
            timer <- unsafe { crate::compat::pin_init_from_closure(setup) },
        })
    }

    /// The `timer_list`, as the callback receives it.
    pub(crate) fn as_raw(&self) -> *mut bindings::timer_list {
        self.timer.get()
    }

    /// Makes the timer fire at `expires` at the latest: arms it if it is
    /// idle, moves it earlier if it is armed later, else leaves it. Any
    /// context. A no-op once shut down.
    pub(crate) fn fire_by(&self, expires: Jiffies) {
        // SAFETY: the timer is set up (type invariant); `timer_reduce()`
        // ignores a shut-down timer (`__mod_timer()`, kernel/time/timer.c:
        // "Has @timer been shutdown?").
        unsafe { bindings::timer_reduce(self.as_raw(), expires.raw()) };
    }

    /// Waits for a running callback to return and keeps the timer from
    /// ever firing again. Process context only: called from the callback
    /// itself it would wait for itself forever (`__timer_delete_sync()`),
    /// and it warns in hard interrupt context. So only the abstractions'
    /// owners call it (teardown); services get the timer to arm it.
    pub(in crate::abstractions) fn shutdown_sync(&self) {
        // SAFETY: the timer is set up (type invariant).
        unsafe { bindings::timer_shutdown_sync(self.as_raw()) };
    }
}

#[pinned_drop]
impl PinnedDrop for Timer {
    fn drop(self: Pin<&mut Self>) {
        self.shutdown_sync();
    }
}

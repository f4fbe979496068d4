// SPDX-License-Identifier: GPL-2.0

//! Read-copy-update: read-side critical sections and an RCU-protected,
//! replaceable boxed value.
//!
//! Readers get a shared reference to the current value for as long as
//! they hold a [`Guard`]; an updater publishes a new value and frees the
//! old one only after a grace period (`synchronize_rcu()`), so no reader
//! can still see it.

#[cfg(not(imp2_v7))]
use crate::bindings;
use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        lock::{mutex::MutexBackend, Guard as LockGuard},
        Mutex,
    },
};

// 7.3 has `kernel::sync::rcu`: its read-side guard and synchronize_rcu.
#[cfg(imp2_v7)]
pub(crate) use kernel::sync::rcu::{read_lock, Guard};

/// Waits for every RCU read-side critical section that began before the
/// call to end (`synchronize_rcu()`). Sleeps: process context only.
pub(crate) fn synchronize() {
    #[cfg(imp2_v7)]
    kernel::sync::rcu::synchronize_rcu();
    // SAFETY: `synchronize_rcu()` has no memory-safety precondition (it
    // sleeps: its callers, `Updater::replace`, `RcuSockRef::release` and the
    // listener removal of the request and port-release paths, are in
    // process context).
    #[cfg(not(imp2_v7))]
    unsafe {
        bindings::synchronize_rcu()
    };
}

/// An RCU read-side critical section (`rcu_read_lock()`); 6.12's
/// `kernel::sync` has none.
///
/// # Invariants
///
/// `rcu_read_lock()` was called on this CPU when the guard was made, and
/// `rcu_read_unlock()` has not been called for it yet.
#[cfg(not(imp2_v7))]
#[must_use = "the read-side critical section ends when the guard is dropped"]
pub(crate) struct Guard {
    /// A read-side section must end on the CPU and task that began it.
    _not_send: PhantomData<*mut ()>,
}

/// Enters an RCU read-side critical section.
#[cfg(not(imp2_v7))]
pub(crate) fn read_lock() -> Guard {
    // SAFETY: `rcu_read_lock()` may be called from any context.
    unsafe { bindings::imp2_rcu_read_lock() };
    // INVARIANT: the lock was just taken.
    Guard { _not_send: PhantomData }
}

#[cfg(not(imp2_v7))]
impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: the guard owns one `rcu_read_lock()` (type invariant).
        unsafe { bindings::imp2_rcu_read_unlock() };
    }
}

/// A `KBox<T>` that readers reach under RCU while updaters replace it.
///
/// Updaters are serialised by the box's own mutex ([`RcuBox::lock`]), so
/// that a read-copy-update cycle sees the value it replaces.
///
/// # Invariants
///
/// `ptr` is null or comes from `KBox::into_raw`; that box is owned by this
/// object. Only a holder of `update` replaces `ptr`, and a replaced box is
/// freed only after a grace period that began once it was unreachable.
#[pin_data(PinnedDrop)]
pub(crate) struct RcuBox<T> {
    #[pin]
    update: Mutex<()>,
    ptr: AtomicPtr<T>,
    _owns: PhantomData<KBox<T>>,
}

// SAFETY: readers on any CPU get `&T` (hence `T: Sync`); the value is
// dropped by whichever task replaces or drops it (hence `T: Send`).
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}

impl<T> RcuBox<T> {
    /// An empty box.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            update <- new_mutex!((), "imp2_rcu_box_update"),
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        })
    }

    /// The current value (`rcu_dereference()`), valid while `guard` is held.
    pub(crate) fn get<'a>(&'a self, _guard: &'a Guard) -> Option<&'a T> {
        // Acquire pairs with the Release in `Updater::replace`: the
        // pointee's initialisation is visible (what `rcu_dereference()`
        // provides).
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null `ptr` points to a live box (type invariant); it
        // is freed only after a grace period that starts after it stopped
        // being reachable here, and `_guard` keeps this reader inside a
        // section that grace period waits for.
        unsafe { p.as_ref() }
    }

    /// Whether the box is empty at this instant. Needs no read-side
    /// section: only the pointer's value is looked at, never its target.
    /// For a fast path that may skip the read-side section altogether.
    pub(crate) fn is_empty(&self) -> bool {
        self.ptr.load(Ordering::Relaxed).is_null()
    }

    /// Becomes the updater (sleeps on the update mutex). Must not be called
    /// inside a read-side section: `replace` waits for a grace period.
    pub(crate) fn lock(&self) -> Updater<'_, T> {
        Updater { rcu: self, _update: self.update.lock() }
    }
}

/// The one task that may replace the value of an [`RcuBox`].
pub(crate) struct Updater<'a, T> {
    rcu: &'a RcuBox<T>,
    _update: LockGuard<'a, (), MutexBackend>,
}

impl<T> Updater<'_, T> {
    /// The current value, for building its replacement.
    pub(crate) fn current(&self) -> Option<&T> {
        let p = self.rcu.ptr.load(Ordering::Relaxed);
        // SAFETY: only the holder of the update mutex, which we are, frees
        // the box `ptr` points to (type invariant), and `replace` needs
        // `&mut self`, so the reference cannot outlive the box.
        unsafe { p.as_ref() }
    }

    /// Publishes `new` (`rcu_assign_pointer()`), waits for a grace period
    /// and then drops the previous value. Sleeps: process context only.
    pub(crate) fn replace(&mut self, new: Option<KBox<T>>) {
        let new = new.map_or(ptr::null_mut(), KBox::into_raw);
        let old = self.rcu.ptr.swap(new, Ordering::AcqRel);
        if old.is_null() {
            return;
        }
        synchronize();
        // SAFETY: `old` came from `KBox::into_raw` (type invariant), is no
        // longer reachable through `ptr`, and every reader that could have
        // found it has left its read-side section.
        drop(unsafe { KBox::from_raw(old) });
    }
}

#[pinned_drop]
impl<T> PinnedDrop for RcuBox<T> {
    fn drop(self: Pin<&mut Self>) {
        let p = self.ptr.load(Ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: the box is ours (type invariant). Its owner drops it
            // only once no RCU reader can reach it any more (for imp2: in the
            // pernet `.exit`, a grace period after the hooks were
            // unregistered, see `pernet_exit`).
            drop(unsafe { KBox::from_raw(p) });
        }
    }
}
